"""Accounting: what the simulator did, so tests can prove exactly-once delivery."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Accounting", "SimStats"]


@dataclass(frozen=True, slots=True)
class SimStats:
    """A snapshot of the simulator's counters (later calls do not change it)."""

    commands: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(device id, command) -> per-device commands created (rows, i.e. devices that got one)."""
    requests_created: int = 0
    """Command requests stored (including ones answered with an after-store fault)."""
    calls: Counter[str] = field(default_factory=Counter)
    """Endpoint name ("create", "list", "statuses", "history", "devices", "groups") -> calls."""
    throttled: int = 0
    """429s served, by the rate limit or by a THROTTLE fault."""
    faults: Counter[str] = field(default_factory=Counter)
    """FaultKind value -> times injected."""

    def to_json(self) -> dict[str, Any]:
        """The JSON form served by ``GET /__sim__/stats``."""
        return {
            "commands": [
                {"device": device, "command": command, "count": count}
                for (device, command), count in sorted(self.commands.items())
            ],
            "requests_created": self.requests_created,
            "calls": dict(sorted(self.calls.items())),
            "throttled": self.throttled,
            "faults": dict(sorted(self.faults.items())),
        }


class Accounting:
    """The live, thread-safe counters behind `SimStats`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._commands: dict[str, Counter[str]] = {}
        # Creates only append here; the counting happens when a snapshot is taken, so a
        # thousand-device create costs one list append instead of a thousand counter updates.
        self._uncounted: list[tuple[str, Sequence[str]]] = []
        self._requests_created = 0
        self._calls: Counter[str] = Counter()
        self._throttled = 0
        self._faults: Counter[str] = Counter()

    def call(self, endpoint: str) -> None:
        """Count one call to `endpoint`."""
        with self._lock:
            self._calls[endpoint] += 1

    def created(self, command: str, devices: Sequence[str]) -> None:
        """Count a stored request and the per-device commands it created (`devices` is kept)."""
        with self._lock:
            self._requests_created += 1
            self._uncounted.append((command, devices))

    def _count(self) -> None:
        # Counting device ids (in C) per command is ~10x cheaper than (device, command) tuples.
        for command, devices in self._uncounted:
            self._commands.setdefault(command, Counter()).update(devices)
        self._uncounted.clear()

    def throttle(self) -> None:
        """Count a 429."""
        with self._lock:
            self._throttled += 1

    def fault(self, kind: str) -> None:
        """Count an injected fault."""
        with self._lock:
            self._faults[kind] += 1

    def snapshot(self) -> SimStats:
        """A copy of the counters now."""
        with self._lock:
            self._count()
            return SimStats(
                commands=Counter(
                    {
                        (device, command): count
                        for command, devices in self._commands.items()
                        for device, count in devices.items()
                    }
                ),
                requests_created=self._requests_created,
                calls=Counter(self._calls),
                throttled=self._throttled,
                faults=Counter(self._faults),
            )

    def reset(self) -> None:
        """Zero every counter (stored requests and their states are kept)."""
        with self._lock:
            self._commands.clear()
            self._uncounted.clear()
            self._requests_created = 0
            self._calls.clear()
            self._throttled = 0
            self._faults.clear()
