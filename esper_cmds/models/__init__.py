"""The data types of the API: frozen attrs classes and string enums."""

from ._commands import CommandArgs, CommandRequest, CommandStatus, ScheduleArgs, StateTotal
from ._devices import Device, DeviceGroup
from ._enums import Command, CommandState, CommandType, DeviceType, Schedule, TimeType, is_terminal
from ._page import Page
from ._spec import CommandFields, CommandSpec

__all__ = [
    "Command",
    "CommandArgs",
    "CommandFields",
    "CommandRequest",
    "CommandSpec",
    "CommandState",
    "CommandStatus",
    "CommandType",
    "Device",
    "DeviceGroup",
    "DeviceType",
    "Page",
    "Schedule",
    "ScheduleArgs",
    "StateTotal",
    "TimeType",
    "is_terminal",
]
