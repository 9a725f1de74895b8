"""``client.devices``: the device listing and each device's command history."""

from __future__ import annotations

import uuid

from .._pagination import AsyncPager
from .._validation import parse_uuid
from ..models import CommandState, CommandStatus, Device, Page
from .base import Resource, query, state_filter

__all__ = ["Devices"]


class Devices(Resource):
    """Devices: ``/enterprise/{eid}/device/`` and ``/v0/.../device/{id}/command-history/``."""

    def list(
        self,
        *,
        name: str | None = None,
        group: uuid.UUID | str | None = None,
        imei: str | None = None,
        serial: str | None = None,
        state: int | None = None,
        brand: str | None = None,
        is_gms: bool | None = None,
        search: str | None = None,
        tags: str | None = None,
        page_size: int | None = None,
    ) -> AsyncPager[Device]:
        """List the enterprise's devices, filtered as the device listing allows.

        Args:
            name: Device name.
            group: Only devices in this group (one group per listing).
            imei: IMEI.
            serial: Serial number.
            state: Device state code.
            brand: Brand.
            is_gms: Only GMS (or only non-GMS) devices.
            search: Search term over name, IMEI and MAC address.
            tags: Partial text over tags.
            page_size: Items per page (the API's default is 20).
        """
        params = query(
            {
                "name": name,
                "group": None if group is None else parse_uuid(group, "group"),
                "imei": imei,
                "serial": serial,
                "state": state,
                "brand": brand,
                "is_gms": is_gms,
                "search": search,
                "tags": tags,
            }
        )
        return AsyncPager(
            self._transport, self._v1("/device/"), Page[Device], params=params, page_size=page_size
        )

    def command_history(
        self,
        device_id: uuid.UUID | str,
        *,
        state: CommandState | str | None = None,
        page_size: int | None = None,
    ) -> AsyncPager[CommandStatus]:
        """List one device's commands across all requests.

        Args:
            device_id: The device.
            state: Only commands in this state (as for ``client.commands.statuses``).
            page_size: Items per page (the API's default is 20).
        """
        did = parse_uuid(device_id, "device_id")
        params = query({"state": None if state is None else state_filter(state)})
        return AsyncPager(
            self._transport,
            self._v0(f"/device/{did}/command-history/"),
            Page[CommandStatus],
            params=params,
            page_size=page_size,
        )
