"""Async client for Esper's Commands V2 API.

Start with `EsperClient`; the data types are in `esper_cmds.models` (the most used are re-exported
here) and a faithful fake server for tests is in `esper_cmds.simulator`.
"""

from __future__ import annotations

import warnings as _warnings
from typing import Any as _Any

from ._budget import RateLimitBackend, SharedBudget, Turn
from ._client import EsperClient
from ._errors import (
    AmbiguousCreateError,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    ConflictError,
    EsperError,
    FanOutError,
    JournalError,
    JournalMismatchError,
    MalformedResponseError,
    NotFoundError,
    PaginationError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    SharedBudgetError,
    TransportError,
    ValidationError,
    WatchTimeoutError,
)
from ._fanout import (
    Chunk,
    ChunkOutcome,
    ChunkRetry,
    Created,
    Failed,
    FanOutProgress,
    FanOutResult,
    FanOutStream,
    FanOutTotals,
    Reconciled,
    Resumed,
)
from ._pagination import AsyncPager
from ._ratelimit import (
    ClientStatistics,
    PauseEvent,
    RateChangeEvent,
    RateLimit,
    RateWaitEvent,
    TransportEvent,
)
from ._redis import RedisBackend
from ._redis_journal import RedisJournal
from ._retry import GiveUpEvent, RetryAction, RetryEvent, RetryFailure, RetryPolicy
from ._version import package_version as _package_version
from ._watch import RequestSummary, StateChange, WatchChanges, WatchSummary
from .models import (
    Command,
    CommandArgs,
    CommandFields,
    CommandRequest,
    CommandSpec,
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
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AmbiguousCreateError",
    "AsyncPager",
    "AuthenticationError",
    "BadRequestError",
    "Chunk",
    "ChunkOutcome",
    "ChunkRetry",
    "ClientClosedError",
    "ClientStatistics",
    "Command",
    "CommandArgs",
    "CommandFields",
    "CommandRequest",
    "CommandSpec",
    "CommandState",
    "CommandStatus",
    "CommandType",
    "ConflictError",
    "Created",
    "Device",
    "DeviceGroup",
    "DeviceType",
    "EsperClient",
    "EsperError",
    "Failed",
    "FanOutError",
    "FanOutProgress",
    "FanOutResult",
    "FanOutStream",
    "FanOutTotals",
    "GiveUpEvent",
    "JournalError",
    "JournalMismatchError",
    "MalformedResponseError",
    "NotFoundError",
    "Page",
    "PaginationError",
    "PauseEvent",
    "PermissionDeniedError",
    "RateChangeEvent",
    "RateLimit",
    "RateLimitBackend",
    "RateLimitError",
    "RateWaitEvent",
    "Reconciled",
    "RedisBackend",
    "RedisJournal",
    "RequestSummary",
    "Resumed",
    "RetryAction",
    "RetryEvent",
    "RetryFailure",
    "RetryPolicy",
    "Schedule",
    "ScheduleArgs",
    "ServerError",
    "SharedBudget",
    "SharedBudgetError",
    "StateChange",
    "StateTotal",
    "TimeType",
    "TransportError",
    "TransportEvent",
    "Turn",
    "ValidationError",
    "WatchChanges",
    "WatchSummary",
    "WatchTimeoutError",
    "is_terminal",
]

_DEPRECATED = {
    "Action": ("RetryAction", RetryAction),
    "ConnectionError": ("APIConnectionError", APIConnectionError),
    "Failure": ("RetryFailure", RetryFailure),
    "TimeoutError": ("APITimeoutError", APITimeoutError),
}
"""Old public names: still importable, with a warning. Not in ``__all__``, so ``import *``
does not shadow the built-in ``ConnectionError``/``TimeoutError``."""


def __getattr__(name: str) -> _Any:
    if name == "__version__":
        return _package_version()
    if name in _DEPRECATED:
        new_name, value = _DEPRECATED[name]
        _warnings.warn(
            f"esper_cmds.{name} is deprecated; use esper_cmds.{new_name}",
            DeprecationWarning,
            stacklevel=2,
        )
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
