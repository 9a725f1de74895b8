"""Fan-out: one command to any number of devices or groups, concurrently, exactly once, resumable.

Strictly private package; ``esper_cmds`` re-exports the public names and ``EsperClient.fan_out``
delegates to `fan_out`.
"""

from .api import FanOutStream, fan_out, fan_out_iter
from .journal import JournalError, JournalMismatchError
from .outcome import (
    ChunkOutcome,
    Created,
    Failed,
    FanOutError,
    FanOutProgress,
    FanOutResult,
    FanOutTotals,
    Reconciled,
    Resumed,
)
from .plan import Chunk, Plan
from .runner import ChunkRetry

__all__ = [
    "Chunk",
    "ChunkOutcome",
    "ChunkRetry",
    "Created",
    "Failed",
    "FanOutError",
    "FanOutProgress",
    "FanOutResult",
    "FanOutStream",
    "FanOutTotals",
    "JournalError",
    "JournalMismatchError",
    "Plan",
    "Reconciled",
    "Resumed",
    "fan_out",
    "fan_out_iter",
]
