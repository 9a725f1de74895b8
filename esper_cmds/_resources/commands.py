"""``client.commands``: create and list command requests, and read per-device statuses."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from .._converter import encode
from .._pagination import AsyncPager
from .._validation import build_create_payload, parse_enum, parse_uuid, parse_uuids
from ..models import (
    Command,
    CommandArgs,
    CommandRequest,
    CommandState,
    CommandStatus,
    CommandType,
    DeviceType,
    Page,
    Schedule,
    ScheduleArgs,
)
from .base import Resource, query, state_filter

__all__ = ["Commands"]

T = TypeVar("T")


class Commands(Resource):
    """Commands V2 requests: ``/v0/enterprise/{eid}/command/``."""

    async def create(
        self,
        *,
        command: Command | str,
        devices: Iterable[uuid.UUID | str] | None = None,
        groups: Iterable[uuid.UUID | str] | None = None,
        command_type: CommandType | str | None = None,
        device_type: DeviceType | str = DeviceType.ACTIVE,
        command_args: CommandArgs | Mapping[str, Any] | None = None,
        schedule: Schedule | str = Schedule.IMMEDIATE,
        schedule_args: ScheduleArgs | Mapping[str, Any] | None = None,
    ) -> CommandRequest:
        """Create one command request (at most 1000 devices or 500 groups; see ``fan_out``).

        Everything is validated before sending: the command and its required ``command_args``
        and their ranges, the ids, the target counts, and the schedule's arguments.

        Args:
            command: A `Command` or its name, e.g. ``"REBOOT"``.
            devices: Device ids (DEVICE, or DYNAMIC when `command_type` says so).
            groups: Group ids (GROUP).
            command_type: Inferred from the targets when omitted; pass ``DYNAMIC`` explicitly.
            device_type: ``active`` (default, online devices only), ``inactive`` or ``all``
                (offline devices queue the command until they come back).
            command_args: The command's arguments, as `CommandArgs` or a mapping.
            schedule: ``IMMEDIATE`` (default), ``WINDOW`` or ``RECURRING``.
            schedule_args: Required by WINDOW and RECURRING (timezone-aware start and end).

        Returns:
            The created request as the server stored it.

        Raises:
            ValidationError: Bad input; nothing was sent.
            AmbiguousCreateError: The outcome is unknown (it may exist); it was not resent.
            APIStatusError: Esper refused it (subclass by status).
        """
        payload = build_create_payload(
            command=command,
            devices=devices,
            groups=groups,
            command_type=command_type,
            device_type=device_type,
            command_args=command_args,
            schedule=schedule,
            schedule_args=schedule_args,
        )
        return await self.create_from_payload(payload)

    async def create_from_payload(
        self, payload: Mapping[str, Any], *, encoded: bytes | None = None
    ) -> CommandRequest:
        """Send an already validated create body (as built by ``create``). Strictly internal.

        `encoded` is `payload` as JSON bytes when the caller has them cheaper than encoding.
        """
        return await self._post(payload, encoded, CommandRequest)

    async def _post(self, payload: Mapping[str, Any], encoded: bytes | None, cast_to: type[T]) -> T:
        body = encoded if encoded is not None else encode(payload)
        return await self._transport.request(
            "POST", self._v0("/command/"), body=body, cast_to=cast_to
        )

    def list(
        self,
        *,
        command_type: CommandType | str | None = None,
        devices: Iterable[uuid.UUID | str] | None = None,
        device_type: DeviceType | str | None = None,
        command: Command | str | None = None,
        issued_by: str | int | None = None,
        page_size: int | None = None,
    ) -> AsyncPager[CommandRequest]:
        """List command requests, newest first as the server orders them.

        Args:
            command_type: Only requests of this type.
            devices: Only requests that target any of these devices.
            device_type: Only requests with this device type.
            command: Only requests for this command.
            issued_by: Only requests issued by this user id.
            page_size: Items per page (the API's default is 20).
        """
        device_ids = parse_uuids(devices, "devices")
        params = query(
            {
                "command_type": None
                if command_type is None
                else parse_enum(command_type, CommandType, "command_type").value,
                "devices": ",".join(str(d) for d in device_ids) if device_ids else None,
                "device_type": None
                if device_type is None
                else parse_enum(device_type, DeviceType, "device_type").value,
                "command": None
                if command is None
                else parse_enum(command, Command, "command").value,
                "issued_by": issued_by,
            }
        )
        return AsyncPager(
            self._transport,
            self._v0("/command/"),
            Page[CommandRequest],
            params=params,
            page_size=page_size,
        )

    def statuses(
        self,
        request_id: uuid.UUID | str,
        *,
        device: uuid.UUID | str | None = None,
        state: CommandState | str | None = None,
        page_size: int | None = None,
    ) -> AsyncPager[CommandStatus]:
        """List the per-device statuses of one request.

        Args:
            request_id: The command request's id.
            device: Only this device's status.
            state: Only statuses in this state: a `CommandState`, its exact string or its
                name (``"SUCCESS"``); any other string is sent as it is (a state added later).
            page_size: Items per page (the API's default is 20).
        """
        rid = parse_uuid(request_id, "request_id")
        params = query(
            {
                "device": None if device is None else parse_uuid(device, "device"),
                "state": None if state is None else state_filter(state),
            }
        )
        return AsyncPager(
            self._transport,
            self._v0(f"/command/{rid}/status/"),
            Page[CommandStatus],
            params=params,
            page_size=page_size,
        )
