"""Fault injection: what can go wrong with a call, scripted or drawn by probability."""

from __future__ import annotations

import enum
import random
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ENDPOINTS", "Fault", "FaultKind", "FaultPlan"]

ENDPOINTS = frozenset({"create", "list", "statuses", "history", "devices", "groups"})
"""The endpoint names faults, accounting and `FaultPlan.endpoints` use."""


class FaultKind(enum.StrEnum):
    """A kind of failure the simulator can inject into one call."""

    LATENCY = "latency"
    """Sleep `Fault.seconds` of real time, then answer normally."""
    ERROR_BEFORE_STORE = "error_before_store"
    """500 with Esper's error body; nothing is stored."""
    ERROR_AFTER_STORE = "error_after_store"
    """The call takes effect (a create is stored), then the answer is a 500."""
    DROP_AFTER_STORE = "drop_after_store"
    """The call takes effect, then the connection drops before a complete response."""
    HTML_502 = "html_502"
    """A proxy's 502 page (HTML, not JSON); nothing is stored."""
    HTML_503 = "html_503"
    """A proxy's 503 page (HTML, not JSON); nothing is stored."""
    MALFORMED_JSON = "malformed_json"
    """The normal status code with a truncated JSON body; a create is stored."""
    SLOW = "slow"
    """The call takes effect, then the answer waits `Fault.seconds` of real time."""
    THROTTLE = "throttle"
    """429 with ``Retry-After: Fault.seconds``; nothing is stored."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One scripted outcome; ``kind=None`` means "no fault for this call"."""

    kind: FaultKind | None
    seconds: float = 1.0
    """Real seconds for LATENCY and SLOW; the Retry-After value for THROTTLE."""


class FaultPlan:
    """Which calls fail and how.

    For each call to an endpoint in `endpoints` (all endpoints when None), the first entry of
    `script` is consumed if there is one; otherwise one fault is drawn from `probabilities` with a
    seeded RNG (at most one fault per call). All attributes may be changed while the simulator runs.
    """

    def __init__(
        self,
        *,
        probabilities: Mapping[FaultKind | str, float] | None = None,
        script: Iterable[Fault] | None = None,
        endpoints: Iterable[str] | None = None,
        seed: int = 0,
        seconds: Mapping[FaultKind | str, float] | None = None,
    ) -> None:
        self.probabilities: dict[FaultKind, float] = {
            FaultKind(k): float(v) for k, v in (probabilities or {}).items()
        }
        if sum(self.probabilities.values()) > 1.0 + 1e-9:
            raise ValueError("fault probabilities must add up to at most 1")
        self.script: list[Fault] = list(script or ())
        self.endpoints: set[str] | None = None if endpoints is None else set(endpoints)
        if self.endpoints is not None and not self.endpoints <= ENDPOINTS:
            unknown = sorted(self.endpoints - ENDPOINTS)
            raise ValueError(f"unknown endpoints {unknown}; known: {sorted(ENDPOINTS)}")
        self.seconds: dict[FaultKind, float] = {
            FaultKind(k): float(v) for k, v in (seconds or {}).items()
        }
        """Seconds for faults drawn by probability (default 1.0 for each kind)."""
        self._rng = random.Random(seed)
        # The loopback server thread picks while a test thread may edit the script.
        self._lock = threading.Lock()

    def pick(self, endpoint: str) -> Fault | None:
        """Decide the fault for one call to `endpoint` (consumes a script entry if one applies)."""
        if self.endpoints is not None and endpoint not in self.endpoints:
            return None
        with self._lock:
            if self.script:
                fault = self.script.pop(0)
                return fault if fault.kind is not None else None
            if not self.probabilities:
                return None
            draw = self._rng.random()
            cumulative = 0.0
            for kind, probability in self.probabilities.items():
                cumulative += probability
                if draw < cumulative:
                    return Fault(kind, self.seconds.get(kind, 1.0))
            return None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FaultPlan:
        """Build a plan from the admin endpoint's JSON (script entries: {"kind", "seconds"})."""
        script = [
            Fault(
                None if entry.get("kind") is None else FaultKind(entry["kind"]),
                float(entry.get("seconds", 1.0)),
            )
            for entry in data.get("script") or ()
        ]
        return cls(
            probabilities=data.get("probabilities") or {},
            script=script,
            endpoints=data.get("endpoints"),
            seed=int(data.get("seed", 0)),
            seconds=data.get("seconds") or {},
        )

    def __repr__(self) -> str:
        return (
            f"FaultPlan(probabilities={self.probabilities!r}, script=<{len(self.script)} left>, "
            f"endpoints={self.endpoints!r})"
        )
