"""Command requests, their arguments and schedules, and per-device statuses."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

import attrs
from attrs import field, frozen

from ._enums import Command, CommandState, CommandType, DeviceType, Schedule, TimeType

__all__ = ["CommandArgs", "CommandRequest", "CommandStatus", "ScheduleArgs", "StateTotal"]


@frozen(kw_only=True, repr=False)
class CommandArgs:
    """The ``command_args`` object. Which keys a command needs is checked before sending.

    Every argument named in Esper's docs has a field; anything else goes in `extra` and is sent and
    received unchanged, so a new server-side argument never needs a library release.
    """

    package_name: str | None = None
    app_version: str | None = None
    app_state: str | None = None
    app_notifications_state: str | None = None
    grant_state: str | None = None
    permission: str | None = None
    policy_url: str | None = None
    wifi_access_points: Any = None
    use_only_saved_ap: bool | None = None
    state: str | None = None
    message: str | None = None
    title: str | None = None
    url: str | None = None
    tag: str | None = None
    bluetooth_state: bool | None = None
    wifi_state: bool | None = None
    wifi_revert_timeout: int | None = None
    """Seconds before a Wi-Fi change is reverted if the device loses connectivity (at least 1)."""
    brightness_value: int | None = None
    gps_state: int | None = None
    rotate_state: int | None = None
    screen_off_timeout: int | None = None
    stream: int | None = None
    volume_level: int | None = None
    timezone_string: str | None = None
    new_lockscreen_password: str | None = field(default=None, repr=False)
    locale: str | None = None
    interface: str | None = None
    dhcp_enabled: bool | None = None
    static_ip: str | None = None
    primary_dns: str | None = None
    secondary_dns: str | None = None
    subnet_mask: str | None = None
    gateway: str | None = None
    device_alias_name: str | None = None
    custom_settings_config: Any = None
    extra: Mapping[str, Any] = field(factory=dict)
    """Arguments this library has no field for, sent and kept as they are."""

    def __repr__(self) -> str:
        # Thirty-odd fields are almost all None for any one command: show only the ones set.
        shown = [
            f"{a.name}={getattr(self, a.name)!r}"
            for a in attrs.fields(CommandArgs)
            if a.repr and a.name != "extra" and getattr(self, a.name) is not None
        ]
        if self.extra:
            shown.append(f"extra={dict(self.extra)!r}")
        return f"CommandArgs({', '.join(shown)})"


@frozen(kw_only=True)
class ScheduleArgs:
    """The ``schedule_args`` object; WINDOW and RECURRING schedules need a start and an end."""

    name: str | None = None
    start_datetime: dt.datetime | None = None
    end_datetime: dt.datetime | None = None
    time_type: TimeType | str | None = None
    window_start_time: str | None = None
    """Time of day, e.g. ``"22:00:00"``."""
    window_end_time: str | None = None
    days: tuple[str, ...] | None = None


@frozen(kw_only=True)
class StateTotal:
    """How many of a request's per-device commands are in one state."""

    state: CommandState | str
    total: int


@frozen(kw_only=True)
class CommandRequest:
    """A command request, as created and as listed."""

    id: uuid.UUID
    command: Command | str
    command_type: CommandType | str | None = None
    enterprise: str | None = None
    devices: tuple[uuid.UUID, ...] = ()
    groups: tuple[uuid.UUID, ...] = ()
    device_type: DeviceType | str | None = None
    command_args: CommandArgs = field(factory=CommandArgs)
    schedule: Schedule | str | None = None
    schedule_args: ScheduleArgs | None = None
    issued_by: str | None = None
    created_on: dt.datetime | None = None
    status: tuple[StateTotal, ...] = ()
    """Per-state totals at the time of the response."""
    unparsed: Mapping[str, Any] = field(factory=dict, repr=False, hash=False)
    """The JSON of fields whose value did not fit their type, by JSON key; those fields read as
    None (or empty) instead of failing the page. Empty for what the API normally sends."""

    def totals(self) -> dict[CommandState | str, int]:
        """The per-state totals as a mapping from state to count."""
        return {entry.state: entry.total for entry in self.status}


@frozen(kw_only=True)
class CommandStatus:
    """One device's command within a request: an item of the status and history listings."""

    id: uuid.UUID
    request: uuid.UUID
    device: uuid.UUID
    state: CommandState | str
    reason: str | None = None
    created_on: dt.datetime | None = None
    updated_on: dt.datetime | None = None
    unparsed: Mapping[str, Any] = field(factory=dict, repr=False, hash=False)
    """The JSON of fields whose value did not fit their type, by JSON key; those fields read as
    None (or empty) instead of failing the page. Empty for what the API normally sends."""
