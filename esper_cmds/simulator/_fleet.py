"""The simulated fleet: devices and groups drawn deterministically from a seed, and who is online.

Online state is a pure function of time, so the lifecycle can ask "when does this device next come
online after t?" in O(1) instead of replaying events:

* without churn, a device keeps the state it was drawn with;
* with churn, each device cycles with period ``churn_seconds``, offline for the configured share of
  each period, at its own phase (chosen so the state at start matches the drawn state);
* `set_online` pins a device from that moment on (its churn stops), recorded as a timeline so
  earlier instants keep their answers.
"""

from __future__ import annotations

import bisect
import math
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Device", "Fleet", "Group"]

_INF = math.inf
_BRANDS = ("Samsung", "Zebra", "Lenovo", "Google")
_TAGS = (("kiosk",), ("warehouse", "scanner"), ("retail", "kiosk"), ())


def random_uuid(rng: random.Random) -> str:
    """A version-4 UUID string drawn from `rng` (reproducible, unlike `uuid.uuid4`)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@dataclass(frozen=True, slots=True)
class Group:
    """A device group."""

    id: str
    name: str
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Device:
    """A device: identity and static attributes (online state lives in `Fleet`)."""

    id: str
    index: int
    name: str
    serial: str
    imei: str
    group_id: str | None
    key: int
    """A 64-bit number derived from the id, mixed into per-(request, device) draws."""
    brand: str = "Samsung"
    mac: str = "02:00:00:00:00:00"
    """The Wi-Fi MAC address (``search`` matches it, as Esper's does)."""
    tags: tuple[str, ...] = ()
    is_gms: bool = True
    state: int = 1
    """Esper's device state code (1 is active)."""


def _check_fleet(
    devices: int,
    groups: int,
    offline: float,
    churn_seconds: float | None,
    timezones: Sequence[str],
) -> None:
    """ValueError naming the first of `Fleet`'s arguments that is out of range."""
    if devices < 0 or groups < 0:
        raise ValueError("devices and groups must not be negative")
    if not 0.0 <= offline <= 1.0:
        raise ValueError(f"offline must be a share between 0 and 1 (offline={offline!r})")
    if churn_seconds is not None and churn_seconds <= 0:
        raise ValueError(f"churn_seconds must be positive (churn_seconds={churn_seconds!r})")
    if not timezones:
        raise ValueError("timezones must name at least one timezone")


def _draw_device(rng: random.Random, i: int, did: str, group_id: str | None) -> Device:
    """Device `i`, its serial and IMEI drawn from `rng` (in that order: a seed's fleet stays)."""
    key = uuid.UUID(did).int & 0xFFFF_FFFF_FFFF_FFFF
    # Brand, tags, GMS and MAC follow from the index and id, not from `rng`, so adding
    # them left every seed's ids, serials and online draws as they were.
    return Device(
        id=did,
        index=i,
        name=f"SIM-{i + 1:06d}",
        serial=f"SN{rng.getrandbits(40):012X}",
        imei=f"35{rng.randrange(10**13):013d}",
        group_id=group_id,
        key=key,
        brand=_BRANDS[i % len(_BRANDS)],
        mac="02:" + ":".join(f"{key >> s & 0xFF:02x}" for s in range(32, -8, -8)),
        tags=_TAGS[i % len(_TAGS)],
        is_gms=i % 5 != 4,
    )


class Fleet:
    """Devices, groups and the online/offline timeline of every device."""

    def __init__(
        self,
        *,
        devices: int,
        groups: int,
        offline: float,
        seed: int,
        start: float,
        churn_seconds: float | None,
        timezones: Sequence[str] = ("UTC",),
    ) -> None:
        _check_fleet(devices, groups, offline, churn_seconds, timezones)
        rng = random.Random(f"esper-sim-fleet:{seed}")
        self.offline_share = offline
        self.churn_seconds = churn_seconds
        self._start = start

        group_ids = [random_uuid(rng) for _ in range(groups)]
        device_ids = [random_uuid(rng) for _ in range(devices)]
        # Exactly round(offline * N) devices start offline, so small fleets get the share asked for.
        offline_set = set(rng.sample(range(devices), round(offline * devices)))
        members: list[list[str]] = [[] for _ in range(groups)]
        self.devices: list[Device] = []
        self._initially_online: list[bool] = []
        self._phase: list[float] = []
        for i, did in enumerate(device_ids):
            gi = rng.randrange(groups) if groups else None
            if gi is not None:
                members[gi].append(did)
            self.devices.append(_draw_device(rng, i, did, None if gi is None else group_ids[gi]))
            online = i not in offline_set
            self._initially_online.append(online)
            # Position within the churn period at `start`: [0, share) is the offline part.
            u = rng.random()
            self._phase.append(u * offline if not online else offline + u * (1.0 - offline))
        self.groups = [
            Group(id=gid, name=f"sim-group-{gi + 1:03d}", members=tuple(sorted(members[gi])))
            for gi, gid in enumerate(group_ids)
        ]
        self.by_id: dict[str, Device] = {d.id: d for d in self.devices}
        self.index_of: dict[str, int] = {d.id: d.index for d in self.devices}
        """Device id -> index (a create maps a thousand ids at C speed through it)."""
        self.group_by_id: dict[str, Group] = {g.id: g for g in self.groups}
        self.device_ids: list[str] = sorted(self.by_id)
        self.group_ids: list[str] = sorted(self.group_by_id)
        # device index -> (pin times, pin states), both ascending by time
        self._pin_times: dict[int, list[float]] = {}
        self._pin_states: dict[int, list[bool]] = {}
        # Device i lives in timezones[i % len]: spread evenly, and independent of the seed's draws.
        self._timezones: list[str] = [timezones[i % len(timezones)] for i in range(devices)]
        self.version = 0
        """Bumped by every `pin` and `set_timezone`, so lifecycle caches know to recompute."""

    # -- base timeline (drawn state, plus churn) ------------------------------------------------

    def _base_online(self, i: int, t: float) -> bool:
        period = self.churn_seconds
        if period is None:
            return self._initially_online[i]
        x = ((t - self._start) / period + self._phase[i]) % 1.0
        return x >= self.offline_share

    def _base_next_online(self, i: int, t: float) -> float:
        period = self.churn_seconds
        if period is None:
            return t if self._initially_online[i] else _INF
        if self.offline_share >= 1.0:
            return _INF
        x = ((t - self._start) / period + self._phase[i]) % 1.0
        if x >= self.offline_share:
            return t
        return t + (self.offline_share - x) * period

    # -- public timeline --------------------------------------------------------------------------

    def online_at(self, i: int, t: float) -> bool:
        """Whether device `i` (by index) is online at simulated time `t`."""
        times = self._pin_times.get(i)
        if times:
            k = bisect.bisect_right(times, t) - 1
            if k >= 0:
                return self._pin_states[i][k]
        return self._base_online(i, t)

    def next_online(self, i: int, t: float) -> float:
        """The earliest time >= `t` at which device `i` is online (`math.inf` if never)."""
        times = self._pin_times.get(i)
        if not times:
            return self._base_next_online(i, t)
        states = self._pin_states[i]
        k = bisect.bisect_right(times, t) - 1
        cursor = t
        if k < 0:
            candidate = self._base_next_online(i, cursor)
            if candidate < times[0]:
                return candidate
            k, cursor = 0, times[0]
        while True:
            if states[k]:
                return cursor
            if k + 1 >= len(times):
                return _INF
            k += 1
            cursor = times[k]

    def next_online_many(self, indexes: Sequence[int], t: float) -> list[float]:
        """`next_online` for each device of `indexes` (the base timeline inlined, pins patched)."""
        period, share = self.churn_seconds, self.offline_share
        if period is None:
            initially_online = self._initially_online
            out = [t if initially_online[i] else _INF for i in indexes]
        elif share >= 1.0:
            out = [_INF] * len(indexes)
        else:
            # The same arithmetic as `_base_next_online`, without a call per device.
            base, phase = (t - self._start) / period, self._phase
            out = []
            for i in indexes:
                x = (base + phase[i]) % 1.0
                out.append(t if x >= share else t + (share - x) * period)
        if pinned := self._pin_times.keys():
            for k, i in enumerate(indexes):
                if i in pinned:
                    out[k] = self.next_online(i, t)
        return out

    def pin(self, i: int, t: float, online: bool) -> None:
        """Fix device `i` online or offline from time `t` on (its churn stops)."""
        times = self._pin_times.setdefault(i, [])
        states = self._pin_states.setdefault(i, [])
        # Time never goes backwards, so a pin at or before the last one replaces the tail.
        while times and times[-1] >= t:
            times.pop()
            states.pop()
        times.append(t)
        states.append(online)
        self.version += 1

    def timezone_of(self, i: int) -> str:
        """The IANA timezone device `i` (by index) keeps its clock in."""
        return self._timezones[i]

    def set_timezone(self, i: int, name: str) -> None:
        """Move device `i` to timezone `name` (schedules read in device time follow it)."""
        self._timezones[i] = name
        self.version += 1

    def expand_groups(self, group_ids: Sequence[str]) -> list[str]:
        """The distinct devices in the given groups."""
        seen: set[str] = set()
        for gid in group_ids:
            seen.update(self.group_by_id[gid].members)
        return sorted(seen)
