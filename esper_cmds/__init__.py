"""Async client for Esper's Commands V2 API.

Start with `EsperClient`; the data types are in `esper_cmds.models` (the most used are re-exported
here) and a faithful fake server for tests is in `esper_cmds.simulator`.
"""

from ._client import EsperClient
from ._errors import (
    AmbiguousCreateError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ConnectionError,
    EsperError,
    MalformedResponseError,
    NotFoundError,
    PaginationError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TimeoutError,
    TransportError,
    ValidationError,
)
from ._pagination import AsyncPager
from .models import (
    Command,
    CommandArgs,
    CommandRequest,
    CommandState,
    CommandStatus,
    CommandType,
    Device,
    DeviceGroup,
    DeviceType,
    Page,
    Schedule,
    ScheduleArgs,
    StateTotal,
    TimeType,
    is_terminal,
)

__all__ = [
    "APIStatusError",
    "AmbiguousCreateError",
    "AsyncPager",
    "AuthenticationError",
    "BadRequestError",
    "Command",
    "CommandArgs",
    "CommandRequest",
    "CommandState",
    "CommandStatus",
    "CommandType",
    "ConflictError",
    "ConnectionError",
    "Device",
    "DeviceGroup",
    "DeviceType",
    "EsperClient",
    "EsperError",
    "MalformedResponseError",
    "NotFoundError",
    "Page",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimitError",
    "Schedule",
    "ScheduleArgs",
    "ServerError",
    "StateTotal",
    "TimeType",
    "TimeoutError",
    "TransportError",
    "ValidationError",
    "is_terminal",
]
