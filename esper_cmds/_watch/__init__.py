"""Watching command requests until every device is done. Strictly private: use the re-exports."""

from .events import RequestSummary, StateChange, WatchSummary, WatchTimeoutError
from .watch import WatchChanges, wait, watch

__all__ = [
    "RequestSummary",
    "StateChange",
    "WatchChanges",
    "WatchSummary",
    "WatchTimeoutError",
    "wait",
    "watch",
]
