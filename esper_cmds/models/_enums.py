"""The API's enumerations, as `enum.StrEnum` so members compare equal to Esper's strings.

A value the server sends that is not listed here (a new state or command) is kept as a plain
``str`` by the converter rather than failing the whole page, so every field typed with one of these
enums is declared ``Enum | str``.
"""

from __future__ import annotations

import enum

__all__ = [
    "Command",
    "CommandState",
    "CommandType",
    "DeviceType",
    "Schedule",
    "TimeType",
    "is_terminal",
]


class CommandType(enum.StrEnum):
    """Who a command request targets."""

    DEVICE = "DEVICE"
    """Explicit devices (at most 1000 per request)."""
    GROUP = "GROUP"
    """Whole groups (at most 500 per request); the server expands them to their devices."""
    DYNAMIC = "DYNAMIC"
    """An ad-hoc set of devices, e.g. a subset drawn from several groups."""


class DeviceType(enum.StrEnum):
    """Which of the targeted devices a request runs on."""

    ACTIVE = "active"
    """Only devices online now (the API's default)."""
    INACTIVE = "inactive"
    """Only devices offline now."""
    ALL = "all"
    """Every device; offline ones hold the command in "Command Queued" until they come back."""


class Schedule(enum.StrEnum):
    """When a request runs."""

    IMMEDIATE = "IMMEDIATE"
    WINDOW = "WINDOW"
    """Within a time window; needs ``schedule_args``."""
    RECURRING = "RECURRING"
    """At the scheduled time until it succeeds or expires; needs ``schedule_args``."""


class TimeType(enum.StrEnum):
    """Whose clock a schedule's times are read in."""

    CONSOLE = "console"
    DEVICE = "device"


class Command(enum.StrEnum):
    """The 37 Commands V2 commands, in the order Esper's docs list them."""

    ADD_TO_WHITELIST = "ADD_TO_WHITELIST"
    ADD_WIFI_AP = "ADD_WIFI_AP"
    CLEAR_APP_DATA = "CLEAR_APP_DATA"
    INSTALL = "INSTALL"
    LOCK = "LOCK"
    REBOOT = "REBOOT"
    REMOVE_FROM_WHITELIST = "REMOVE_FROM_WHITELIST"
    REMOVE_WIFI_AP = "REMOVE_WIFI_AP"
    SET_APP_PERMISSION = "SET_APP_PERMISSION"
    SET_APP_STATE = "SET_APP_STATE"
    SET_BLUETOOTH_STATE = "SET_BLUETOOTH_STATE"
    SET_BRIGHTNESS_SCALE = "SET_BRIGHTNESS_SCALE"
    SET_DEVICE_LOCKDOWN_STATE = "SET_DEVICE_LOCKDOWN_STATE"
    SET_GPS_STATE = "SET_GPS_STATE"
    SET_KIOSK_APP = "SET_KIOSK_APP"
    SET_NEW_POLICY = "SET_NEW_POLICY"
    SET_ROTATION_STATE = "SET_ROTATION_STATE"
    SET_SCREEN_OFF_TIMEOUT = "SET_SCREEN_OFF_TIMEOUT"
    SET_STREAM_VOLUME = "SET_STREAM_VOLUME"
    SET_TIMEZONE = "SET_TIMEZONE"
    SET_WIFI_STATE = "SET_WIFI_STATE"
    UNINSTALL = "UNINSTALL"
    UPDATE_DEVICE_CONFIG = "UPDATE_DEVICE_CONFIG"
    UPDATE_HEARTBEAT = "UPDATE_HEARTBEAT"
    UPDATE_LATEST_DPC = "UPDATE_LATEST_DPC"
    WIPE = "WIPE"
    RESET_LOCKSCREEN_PASSWORD = "RESET_LOCKSCREEN_PASSWORD"
    UPDATE_BLUEPRINT = "UPDATE_BLUEPRINT"
    CAPTURE_SCREENSHOT = "CAPTURE_SCREENSHOT"
    NOTIFY_DEVICE = "NOTIFY_DEVICE"
    SET_DEVICE_LANGUAGE = "SET_DEVICE_LANGUAGE"
    SET_ETHERNET_SETTINGS = "SET_ETHERNET_SETTINGS"
    SET_STATIC_IP = "SET_STATIC_IP"
    BEEP_DEVICE = "BEEP_DEVICE"
    SET_APP_NOTIFICATIONS = "SET_APP_NOTIFICATIONS"
    USE_ONLY_SAVED_WIFI_AP = "USE_ONLY_SAVED_WIFI_AP"
    CONVERGE = "CONVERGE"


class CommandState(enum.StrEnum):
    """The nine states of a per-device command, with Esper's exact strings."""

    QUEUED = "Command Queued"
    """Waiting for an offline device to come back (``device_type="all"``)."""
    SCHEDULED = "Command Scheduled"
    """Waiting for a WINDOW or RECURRING schedule."""
    INITIATED = "Command Initiated"
    ACKNOWLEDGED = "Command Acknowledged"
    IN_PROGRESS = "Command In Progress"
    SUCCESS = "Command Success"
    FAILURE = "Command Failure"
    TIMEOUT = "Command TimeOut"
    CANCELLED = "Command Cancelled"

    @property
    def is_terminal(self) -> bool:
        """Whether a command in this state will not change again."""
        return self in _TERMINAL


_TERMINAL = frozenset(
    {CommandState.SUCCESS, CommandState.FAILURE, CommandState.TIMEOUT, CommandState.CANCELLED}
)


def is_terminal(state: CommandState | str) -> bool:
    """Whether `state` is one of the four terminal states.

    A state this library does not know (the server added one) counts as in flight: waiting for it
    to change is safer than declaring a device done that is not.
    """
    return state in _TERMINAL
