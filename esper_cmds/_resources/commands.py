"""``client.commands``: create and list command requests, and read per-device statuses."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Unpack

from .._converter import encode_create
from .._pagination import AsyncPager
from .._validation import parse_enum, parse_uuid, parse_uuids, request_targets
from ..models import (
    Command,
    CommandFields,
    CommandRequest,
    CommandSpec,
    CommandState,
    CommandStatus,
    CommandType,
    DeviceType,
    Page,
)
from .base import Resource, query, state_filter

__all__ = ["Commands"]


class Commands(Resource):
    """Commands V2 requests: ``/v0/enterprise/{eid}/command/``."""

    async def create(
        self,
        *,
        spec: CommandSpec | None = None,
        devices: Iterable[uuid.UUID | str] | None = None,
        groups: Iterable[uuid.UUID | str] | None = None,
        **fields: Unpack[CommandFields],
    ) -> CommandRequest:
        """Create one command request (at most 1000 devices or 500 groups; see ``fan_out``).

        Give the command as a `CommandSpec` (``spec=``) or as its fields: ``command``,
        ``command_args``, ``command_type``, ``device_type``, ``schedule``, ``schedule_args``
        (see `CommandSpec`). Everything is validated before sending: the command and its
        required ``command_args`` and their ranges, the ids, the target counts, and the
        schedule's arguments.

        Args:
            spec: The command, validated already.
            devices: Device ids (DEVICE, or DYNAMIC when the command type says so).
            groups: Group ids (GROUP).
            **fields: `CommandSpec`'s arguments, instead of `spec`.

        Returns:
            The created request as the server stored it.

        Raises:
            ValidationError: Bad input; nothing was sent.
            AmbiguousCreateError: The outcome is unknown (it may exist); it was not resent.
            APIStatusError: Esper refused it (subclass by status).
        """
        command = CommandSpec.of(spec, fields)
        kind, device_ids, group_ids = request_targets(command.command_type, devices, groups)
        _, body = encode_create(command, kind, device_ids, group_ids)
        return await self._transport.request(
            "POST", self._v0("/command/"), body=body, cast_to=CommandRequest
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
