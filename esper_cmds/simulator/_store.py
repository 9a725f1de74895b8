"""Stored command requests and the indexes the four Commands V2 endpoints read."""

from __future__ import annotations

import bisect
import math
import random
import uuid
from collections.abc import Iterable
from typing import Any

from ._fleet import Fleet
from ._lifecycle import CommandRequest, Lifecycle, draw_fails
from ._validation import ValidCreate, canonical_uuid

__all__ = ["CommandStore"]


class CommandStore:
    """Creates requests and answers queries about them at a given simulated time."""

    def __init__(
        self,
        *,
        fleet: Fleet,
        lifecycle: Lifecycle,
        seed: int,
        failure_rate: float,
        queue_expiry_seconds: float,
        issued_by: str,
    ) -> None:
        if not 0.0 <= failure_rate <= 1.0:
            raise ValueError(f"failure_rate must be a share between 0 and 1 ({failure_rate!r})")
        if queue_expiry_seconds <= 0:
            raise ValueError(f"queue_expiry_seconds must be positive ({queue_expiry_seconds!r})")
        self.fleet = fleet
        self.lifecycle = lifecycle
        self.failure_rate = failure_rate
        self.queue_expiry = queue_expiry_seconds
        self.issued_by = issued_by
        self._rng = random.Random(f"esper-sim-requests:{seed}")
        self.requests: list[CommandRequest] = []
        """Oldest first."""
        self.by_id: dict[str, CommandRequest] = {}
        # device id -> [(request, row)], oldest first: the command-history index. Built lazily
        # (requests wait in `_unindexed` until the history endpoint is read), so a create does
        # not pay a thousand dict updates for an index most runs never read.
        self._history: dict[str, list[tuple[CommandRequest, int]]] = {}
        self._unindexed: list[CommandRequest] = []

    def create(self, valid: ValidCreate, *, now: float) -> CommandRequest:
        """Store a validated request; its rows are the targets `device_type` selects now."""
        fleet = self.fleet
        by_id = fleet.by_id
        if valid.groups:
            targets = set(valid.devices)
            targets.update(fleet.expand_groups(valid.groups))
            ordered = tuple(sorted(targets))
        else:
            # Validation already de-duplicated the ids (and clients usually send them sorted,
            # which makes this sort linear).
            ordered = tuple(sorted(valid.devices))
        if valid.device_type == "all":
            rows = ordered
        else:
            want_online = valid.device_type == "active"
            rows = tuple(d for d in ordered if fleet.online_at(by_id[d].index, now) is want_online)

        req_int = self._rng.getrandbits(128)
        req_id = str(uuid.UUID(int=req_int, version=4))
        timing = valid.timing
        if timing is None:
            # The simulator's own choice (configurable): Esper documents no queue expiry.
            schedule_start, deadline = now, now + self.queue_expiry
        else:
            # A scheduled command expires with its schedule, as the docs say.
            schedule_start, deadline = max(now, timing.start), timing.end
        threshold = int(self.failure_rate * (1 << 64))
        if self.failure_rate > 0:
            fails = tuple(draw_fails(req_int, [by_id[d].key for d in rows], threshold))
        else:
            fails = (False,) * len(rows)
        body: dict[str, Any] = {
            "command_type": valid.command_type,
            "devices": valid.devices,
            "groups": valid.groups,
            "device_type": valid.device_type,
            "command": valid.command,
            "command_args": valid.command_args,
            "schedule": valid.schedule,
            "schedule_args": valid.schedule_args,
            "issued_by": self.issued_by,
        }
        req = CommandRequest(
            id=req_id,
            id_int=req_int,
            body=body,
            created=now,
            schedule_start=schedule_start,
            deadline=deadline,
            targets=dict.fromkeys(ordered),
            row_devices=rows,
            row_indexes=tuple(map(fleet.index_of.__getitem__, rows)),
            fails=fails,
            timing=timing,
            fail_threshold=threshold,
        )
        self.requests.append(req)
        self.by_id[req_id] = req
        self._unindexed.append(req)
        return req

    def history(self, device_id: str) -> list[tuple[CommandRequest, int]]:
        """Every (request, row) that targeted `device_id`, oldest first."""
        if self._unindexed:
            history = self._history
            for req in self._unindexed:
                for row, device in enumerate(req.row_devices):
                    history.setdefault(device, []).append((req, row))
            self._unindexed.clear()
        return self._history.get(device_id, [])

    def filter_requests(self, query: dict[str, str]) -> list[CommandRequest]:
        """Requests matching the list endpoint's filters, newest first."""
        found: Iterable[CommandRequest] = reversed(self.requests)
        if command_type := query.get("command_type"):
            wanted_type = command_type.upper()
            found = [r for r in found if r.body["command_type"] == wanted_type]
        if device_type := query.get("device_type"):
            wanted_device_type = device_type.lower()
            found = [r for r in found if r.body["device_type"] == wanted_device_type]
        if command := query.get("command"):
            wanted_command = command.upper()
            found = [r for r in found if r.body["command"] == wanted_command]
        if issued_by := query.get("issued_by"):
            found = [r for r in found if r.body["issued_by"] == issued_by]
        if devices := query.get("devices"):
            # Ids in any case match (canonical form); anything else matches nothing.
            wanted = {canonical_uuid(d.strip()) or d.strip() for d in devices.split(",")}
            wanted.discard("")
            found = [r for r in found if not r.targets.keys().isdisjoint(wanted)]
        return list(found)

    def rows(
        self, req: CommandRequest, *, device: str | None, state: str | None, now: float
    ) -> list[int]:
        """Row numbers of `req` (ascending device id) matching the status endpoint's filters."""
        if device is not None:
            i = bisect.bisect_left(req.row_devices, device)
            matched = [i] if i < len(req.row_devices) and req.row_devices[i] == device else []
            if state is not None:
                matched = [r for r in matched if self.lifecycle.row_state(req, r, now)[0] == state]
            return matched
        if state is not None:
            return self.lifecycle.rows_in_state(req, state, now)
        return list(range(len(req.row_devices)))

    def cancel(self, req: CommandRequest, *, now: float) -> None:
        """Cancel every row still Scheduled or Queued at `now` (rows already running finish)."""
        if math.isinf(req.cancelled_at):
            req.cancelled_at = now
