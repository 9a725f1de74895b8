"""The command lifecycle, computed lazily from the clock.

A per-device command never stores its state. Each one has a *start*: the first instant at or after
the request's schedule start when its device is online (``inf`` if that is never, or not before the
request's deadline). Everything else follows from the start, the current time and a few
request-wide instants, so a read costs a comparison per row and per-state totals cost a binary
search per state:

    cancelled (t >= C, C < D, s > C)  ->  Command Cancelled
    t < S                             ->  Command Scheduled
    s > t                             ->  Command Queued (Command TimeOut once t >= D, if s is inf)
    t - s in [0, h)                   ->  Command Initiated, then Acknowledged, In Progress
    t - s >= 3h                       ->  Command Success or Command Failure (a per-device draw)

where S is the schedule start (creation for IMMEDIATE), D the queue deadline, C the cancel time and
h the step delay. Each state is a half-open range ``(lo, hi]`` of start times (plus the failure draw
for the two terminal outcomes), which is what `Lifecycle.ranges` returns and what filters scan.

WINDOW and RECURRING requests take a second, per-row path (they are few and small next to the
IMMEDIATE fan-outs the fast path serves). Their rows may fire only inside the schedule's *windows*:
the days and daily window of ``schedule_args`` read in the console's timezone or, with
``time_type: device``, in each device's own (DST included), clipped to [start, end). A row fires the
first time its device is online inside a window; until then it is Scheduled (outside a window) or
Queued (inside one, device offline), and TimeOut at the end. A RECURRING row whose attempt fails
waits (Scheduled) for the next window in which its device is online and fires again, until an
attempt succeeds or the schedule ends; its last failure is final only then. A RECURRING schedule
without days or a daily window recurs daily (each local day is a window).
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import sys
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ._fleet import Fleet
from ._validation import Schedule

__all__ = [
    "ACKNOWLEDGED",
    "CANCELLED",
    "FAILURE",
    "INITIATED",
    "IN_PROGRESS",
    "QUEUED",
    "SCHEDULED",
    "STATES",
    "SUCCESS",
    "TIMEOUT",
    "CommandRequest",
    "Lifecycle",
    "StateRange",
    "draw_fails",
    "window_intervals",
]

QUEUED = "Command Queued"
INITIATED = "Command Initiated"
ACKNOWLEDGED = "Command Acknowledged"
IN_PROGRESS = "Command In Progress"
SCHEDULED = "Command Scheduled"
SUCCESS = "Command Success"
FAILURE = "Command Failure"
TIMEOUT = "Command TimeOut"
CANCELLED = "Command Cancelled"

STATES = (
    SCHEDULED,
    QUEUED,
    INITIATED,
    ACKNOWLEDGED,
    IN_PROGRESS,
    SUCCESS,
    FAILURE,
    TIMEOUT,
    CANCELLED,
)
"""The nine states, in lifecycle order (the order of a request's ``status`` totals)."""

REASONS = {
    SCHEDULED: "Waiting for the schedule window",
    QUEUED: "Device offline; command queued",
    INITIATED: "",
    ACKNOWLEDGED: "",
    IN_PROGRESS: "",
    SUCCESS: "",
    FAILURE: "Simulated device failure",
    TIMEOUT: "Device did not come online before the command expired",
    CANCELLED: "Command cancelled",
}

_INF = math.inf
_MAX_FINITE = sys.float_info.max
_GOLDEN = 0x9E3779B97F4A7C15
_MASK64 = 0xFFFF_FFFF_FFFF_FFFF
MAX_SCHEDULE_DAYS = 1000
"""How many local days of a schedule the simulator lays windows out for (its own bound)."""
MAX_ATTEMPTS = 1000
"""How many times a RECURRING row may fire (its own bound; a window a day for ~3 years)."""


def draw_fails(req_int: int, keys: Sequence[int], threshold: int, attempt: int = 0) -> list[bool]:
    """A cheap deterministic failure draw per (request, device, attempt).

    A run always fails the same rows; attempt 0 is the draw every IMMEDIATE row gets.
    """
    out = []
    salt = (attempt * 0xD1B54A32D192ED03) & _MASK64
    for key in keys:
        mixed = ((req_int ^ key ^ salt) * _GOLDEN) & _MASK64
        mixed = ((mixed ^ (mixed >> 29)) * _GOLDEN) & _MASK64
        out.append(mixed < threshold)
    return out


def window_intervals(timing: Schedule, tz: dt.tzinfo) -> list[tuple[float, float]]:
    """The instants a schedule may fire in, read in `tz`, as sorted [a, b) POSIX intervals.

    Local times are turned into instants by `zoneinfo`'s rules: a window opening in the hour a
    DST change skips opens at the same wall time shifted by the gap, as `datetime` does.
    """
    start, end = timing.start, timing.end
    if timing.days is None and timing.window is None and not timing.recurring:
        return [(start, end)]
    # RECURRING without days or a daily window recurs daily: each local day is a window, so a
    # failed attempt fires again the next day.
    first = dt.datetime.fromtimestamp(start, tz).date() - dt.timedelta(days=1)
    last = dt.datetime.fromtimestamp(end, tz).date()
    out: list[tuple[float, float]] = []
    day = first
    for _ in range(MAX_SCHEDULE_DAYS + 2):
        if day > last:
            break
        if timing.days is None or day.weekday() in timing.days:
            if timing.window is None:
                a = _local(day, 0, tz)
                b = _local(day + dt.timedelta(days=1), 0, tz)
            else:
                ws, we = timing.window
                a = _local(day, ws, tz)
                b = _local(day + dt.timedelta(days=1) if we <= ws else day, we, tz)
            a, b = max(a, start), min(b, end)
            if a < b:
                out.append((a, b))
        day += dt.timedelta(days=1)
    return out


def _local(day: dt.date, seconds: int, tz: dt.tzinfo) -> float:
    """The instant the wall clock in `tz` first reads `day` plus `seconds`.

    A repeated wall time (autumn) is its first occurrence; a skipped one (spring) is the moment
    the clock jumps past it, so a window opening inside the gap opens when the gap ends.
    """
    wall = dt.datetime.combine(day, dt.time(), tzinfo=tz) + dt.timedelta(seconds=seconds)
    # Adding a timedelta to an aware datetime is wall-clock arithmetic; fold picks the offset.
    first, second = wall.replace(fold=0).timestamp(), wall.replace(fold=1).timestamp()
    if second >= first:
        return first
    # In a gap: fold=1 reads the wall time with the new offset (earlier), fold=0 with the old
    # one (later); the jump lies between them. Find it to the second.
    lo, hi = math.floor(second), math.ceil(first)
    offset = dt.datetime.fromtimestamp(lo, tz).utcoffset()
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if dt.datetime.fromtimestamp(mid, tz).utcoffset() == offset:
            lo = mid
        else:
            hi = mid
    return float(hi)


_MASK128 = (1 << 128) - 1
_CLEAR_VERSION_VARIANT = _MASK128 ^ ((0xF << 76) | (0x3 << 62))
_SET_VERSION_VARIANT = (0x4 << 76) | (0x2 << 62)


@dataclass(frozen=True, slots=True)
class StateRange:
    """Rows whose start lies in ``(lo, hi]`` (and whose failure draw is `fail`, unless None)."""

    state: str
    lo: float
    hi: float
    fail: bool | None = None


@dataclass(slots=True)
class CommandRequest:
    """A stored command request and its per-device commands (rows, sorted by device id)."""

    id: str
    id_int: int
    body: dict[str, Any]
    """The request's JSON fields other than id, enterprise, created_on and status."""
    created: float
    schedule_start: float
    deadline: float
    # Per-request data is kept in tuples (and a dict) of strings, ints, floats and bools: the
    # garbage collector stops tracking those, so a store of 100,000s of rows costs its
    # collections nothing (lists and sets are traversed item by item on every full collection,
    # in a server that holds them for good).
    targets: dict[str, None]
    """Every device the request resolved to, before device_type picked the rows (as keys)."""
    row_devices: tuple[str, ...]
    row_indexes: tuple[int, ...]
    fails: tuple[bool, ...]
    timing: Schedule | None = None
    """The parsed WINDOW or RECURRING schedule; None for IMMEDIATE (the fast path)."""
    fail_threshold: int = 0
    """Draws below this fail (failure_rate scaled to 64 bits), for attempts after the first."""
    cancelled_at: float = _INF
    json_head: bytes = b""
    """The request's JSON up to and including ``"status":``; filled in by the wire module."""
    _version: int = -1
    _status_ids: list[str | None] = field(default_factory=list)
    _starts: tuple[float, ...] = ()
    _sorted_ok: tuple[float, ...] = ()
    _sorted_fail: tuple[float, ...] = ()
    _plan: list[tuple[tuple[float, ...], tuple[bool, ...]]] = field(default_factory=list)
    _windows: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    def status_id(self, row: int) -> str:
        """The per-device command id for `row`.

        Derived, so creates need not make 1000 UUIDs; remembered once read, since watchers
        read the same pages again and again.
        """
        ids = self._status_ids
        if not ids:
            ids = self._status_ids = [None] * len(self.row_devices)
        known = ids[row]
        if known is not None:
            return known
        mixed = (self.id_int ^ ((row + 1) * 0x9E3779B97F4A7C15F39CC0605CEDC835)) & _MASK128
        # Stamp the version-4 and RFC 4122 variant bits so the SDK's uuid fields look right.
        value = (mixed & _CLEAR_VERSION_VARIANT) | _SET_VERSION_VARIANT
        h = value.to_bytes(16, "big").hex()
        made = ids[row] = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
        return made


class Lifecycle:
    """Computes states, totals and filters for stored requests at a given simulated time."""

    def __init__(self, *, fleet: Fleet, step_seconds: float, console_timezone: str = "UTC") -> None:
        if step_seconds < 0:
            raise ValueError(f"step_seconds must not be negative ({step_seconds!r})")
        self.fleet = fleet
        self.step = step_seconds
        self.console_timezone = console_timezone
        self._console_tz = zoneinfo.ZoneInfo(console_timezone)

    # -- WINDOW and RECURRING: the per-row path --------------------------------------------------

    def _windows_for(self, req: CommandRequest, index: int) -> list[tuple[float, float]]:
        timing = req.timing
        assert timing is not None
        if timing.time_type == "device":
            name = self.fleet.timezone_of(index)
            tz: dt.tzinfo = zoneinfo.ZoneInfo(name)
        else:
            name, tz = self.console_timezone, self._console_tz
        found = req._windows.get(name)
        if found is None:
            found = req._windows[name] = window_intervals(timing, tz)
        return found

    def plan(self, req: CommandRequest) -> list[tuple[tuple[float, ...], tuple[bool, ...]]]:
        """Each row's attempts (start times) and their failure draws, for a scheduled request."""
        if req._version != self.fleet.version or not req._plan:
            if req._version != self.fleet.version:
                req._windows.clear()  # a device's timezone may have changed
            fleet, h = self.fleet, self.step
            recurring = req.timing is not None and req.timing.recurring
            plan = []
            for row, index in enumerate(req.row_indexes):
                windows = self._windows_for(req, index)
                key = fleet.devices[index].key
                starts: list[float] = []
                fails: list[bool] = []
                k = 0
                earliest = req.schedule_start
                while k < len(windows) and len(starts) < MAX_ATTEMPTS:
                    a, b = windows[k]
                    s = fleet.next_online(index, max(a, earliest))
                    if s == _INF:
                        break  # never online again: no later window helps
                    if s >= b or s >= req.deadline:
                        k += 1
                        continue
                    attempt = len(starts)
                    fail = (
                        req.fails[row]
                        if attempt == 0
                        else draw_fails(req.id_int, [key], req.fail_threshold, attempt)[0]
                    )
                    starts.append(s)
                    fails.append(fail)
                    if not (recurring and fail):
                        break
                    # A failed attempt fires again in the next window, once it has finished.
                    earliest = s + 3 * h
                    k += 1
                plan.append((tuple(starts), tuple(fails)))
            req._plan = plan
            req._version = fleet.version
        return req._plan

    def _in_window(self, req: CommandRequest, row: int, t: float) -> bool:
        windows = self._windows_for(req, req.row_indexes[row])
        k = bisect.bisect_right(windows, (t, _INF)) - 1
        return k >= 0 and windows[k][0] <= t < windows[k][1]

    def _scheduled_row_state(self, req: CommandRequest, row: int, t: float) -> tuple[str, float]:
        starts, fails = self.plan(req)[row]
        c, d, h = req.cancelled_at, req.deadline, self.step
        k = bisect.bisect_right(starts, t) - 1
        cancelled = t >= c and c < d
        if cancelled:
            # Attempts planned after the cancel never happen.
            k = bisect.bisect_right(starts, c) - 1
            if k < 0:
                return CANCELLED, c
        if k < 0:
            if t >= d:
                return TIMEOUT, d
            if t < req.schedule_start or not self._in_window(req, row, t):
                return SCHEDULED, req.created
            return QUEUED, req.schedule_start
        s = starts[k]
        if t - s < h:
            return INITIATED, s
        if t - s < 2 * h:
            return ACKNOWLEDGED, s + h
        if t - s < 3 * h:
            return IN_PROGRESS, s + 2 * h
        if not fails[k]:
            return SUCCESS, s + 3 * h
        if req.timing is None or not req.timing.recurring:
            return FAILURE, s + 3 * h
        # RECURRING: after a failure the row waits for the next window, until it succeeds or
        # the schedule ends; only then is the last failure final.
        if cancelled:
            return CANCELLED, max(c, s + 3 * h)
        if k < len(starts) - 1 or t < d:
            return SCHEDULED, s + 3 * h
        return FAILURE, max(d, s + 3 * h)

    def starts(self, req: CommandRequest) -> tuple[float, ...]:
        """Each row's start time, recomputed only when the fleet's online timeline changed."""
        if req._version != self.fleet.version:
            fleet = self.fleet
            deadline = req.deadline
            starts = tuple(
                [
                    s if s < deadline else _INF
                    for s in fleet.next_online_many(req.row_indexes, req.schedule_start)
                ]
            )
            req._starts = starts
            if any(req.fails):
                pairs = list(zip(starts, req.fails, strict=True))
                req._sorted_ok = tuple(sorted(s for s, f in pairs if not f))
                req._sorted_fail = tuple(sorted(s for s, f in pairs if f))
            else:
                req._sorted_ok, req._sorted_fail = tuple(sorted(starts)), ()
            req._version = fleet.version
        return req._starts

    def ranges(self, req: CommandRequest, t: float) -> list[StateRange]:
        """The start-time range of every state reachable at `t` (they partition all rows)."""
        c, d, s0, h = req.cancelled_at, req.deadline, req.schedule_start, self.step
        cancel_applies = t >= c and c < d
        cap = c if cancel_applies else _INF
        out: list[StateRange] = []
        if cancel_applies:
            out.append(StateRange(CANCELLED, c, _INF))
        if t < s0:
            if not cancel_applies:
                out.append(StateRange(SCHEDULED, -_INF, _INF))
            return out
        a1, a2, a3 = t - h, t - 2 * h, t - 3 * h
        out.append(StateRange(QUEUED, t, min(cap, _INF if t < d else _MAX_FINITE)))
        if t >= d:
            out.append(StateRange(TIMEOUT, _MAX_FINITE, min(cap, _INF)))
        out.append(StateRange(INITIATED, a1, min(cap, t)))
        out.append(StateRange(ACKNOWLEDGED, a2, min(cap, a1)))
        out.append(StateRange(IN_PROGRESS, a3, min(cap, a2)))
        out.append(StateRange(SUCCESS, -_INF, min(cap, a3), False))
        out.append(StateRange(FAILURE, -_INF, min(cap, a3), True))
        return out

    def row_state(self, req: CommandRequest, row: int, t: float) -> tuple[str, float]:
        """The state of one row at `t` and when it entered that state."""
        if req.timing is not None:
            return self._scheduled_row_state(req, row, t)
        s = self.starts(req)[row]
        c, d, s0, h = req.cancelled_at, req.deadline, req.schedule_start, self.step
        # The same comparisons as `ranges`, so a row's state always agrees with the totals.
        if t >= c and c < d and s > c:
            return CANCELLED, c
        if t < s0:
            return SCHEDULED, req.created
        if s > t:
            if t >= d and s > _MAX_FINITE:
                return TIMEOUT, d
            return QUEUED, s0
        if s > t - h:
            return INITIATED, s
        if s > t - 2 * h:
            return ACKNOWLEDGED, s + h
        if s > t - 3 * h:
            return IN_PROGRESS, s + 2 * h
        return (FAILURE if req.fails[row] else SUCCESS), s + 3 * h

    def totals(self, req: CommandRequest, t: float) -> list[tuple[str, int]]:
        """Per-state row counts at `t`, in lifecycle order, omitting zeros."""
        if req.timing is not None:
            tally: dict[str, int] = {}
            for row in range(len(req.row_devices)):
                state = self._scheduled_row_state(req, row, t)[0]
                tally[state] = tally.get(state, 0) + 1
            return [(state, tally[state]) for state in STATES if state in tally]
        self.starts(req)
        ok, bad = req._sorted_ok, req._sorted_fail
        counts: dict[str, int] = {}
        for r in self.ranges(req, t):
            n = 0
            if r.fail is not True:
                n += bisect.bisect_right(ok, r.hi) - bisect.bisect_right(ok, r.lo)
            if r.fail is not False:
                n += bisect.bisect_right(bad, r.hi) - bisect.bisect_right(bad, r.lo)
            if n:
                counts[r.state] = counts.get(r.state, 0) + n
        return [(state, counts[state]) for state in STATES if state in counts]

    def rows_in_state(self, req: CommandRequest, state: str, t: float) -> list[int]:
        """Row numbers (ascending device id) whose state at `t` is `state`."""
        if req.timing is not None:
            return [
                row
                for row in range(len(req.row_devices))
                if self._scheduled_row_state(req, row, t)[0] == state
            ]
        starts = self.starts(req)
        fails = req.fails
        found: list[int] = []
        for r in self.ranges(req, t):
            if r.state != state:
                continue
            lo, hi, fail = r.lo, r.hi, r.fail
            if fail is None:
                found.extend(i for i, s in enumerate(starts) if lo < s <= hi)
            else:
                found.extend(i for i, s in enumerate(starts) if lo < s <= hi and fails[i] is fail)
        found.sort()
        return found
