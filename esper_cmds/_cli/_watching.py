"""``watch``: a live per-state table while requests run, a final summary, an exit code.

Strictly private.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anyio
from cyclopts import Parameter
from rich.live import Live
from rich.table import Table

from .. import CommandState, EsperClient, WatchSummary
from ._errors import ExitCode
from ._output import Output, short_state
from ._root import WATCH

__all__ = ["FAILED_STATES", "NO_TIMEOUT", "WatchOptions", "watch_requests", "watch_summary_json"]

FAILED_STATES = frozenset({CommandState.FAILURE, CommandState.TIMEOUT, CommandState.CANCELLED})
"""What ``--exit-status`` counts as a failure."""

NO_TIMEOUT = 30 * 24 * 3600.0
"""The library needs a deadline; without ``--timeout`` a watch may run for 30 days."""


@Parameter(name="*", group=WATCH)
@dataclass(frozen=True)
class WatchOptions:
    """How to watch, on every command that can: ``watch``, and ``send``/``resume --watch``."""

    timeout: float | None = None
    """Seconds to watch at most (default: until done); exit 3 if devices are still pending."""

    interval: float = 2.0
    """First delay between polls, seconds (grows while nothing changes)."""

    queued_is_done: bool = False
    """Count "Command Queued" (an offline device waiting) as done."""

    exit_status: bool = False
    """Exit 1 when any device failed, timed out or was cancelled (like `gh run watch`)."""


_COLUMNS = (
    CommandState.QUEUED,
    CommandState.SCHEDULED,
    CommandState.INITIATED,
    CommandState.ACKNOWLEDGED,
    CommandState.IN_PROGRESS,
    CommandState.SUCCESS,
    CommandState.FAILURE,
    CommandState.TIMEOUT,
    CommandState.CANCELLED,
)
_MAX_ROWS = 12
"""Rows of a live table; a 100-request fan-out shows its busiest requests and a total."""


def _failures(summary: WatchSummary) -> int:
    return sum(n for state, n in summary.totals().items() if state in FAILED_STATES)


def _pending(summary: WatchSummary) -> int:
    return sum(len(r.pending) for r in summary.requests.values())


def render(summary: WatchSummary, elapsed: float, *, title: str) -> Table:
    """The per-request table: one row per request (the busiest first), then the total."""
    totals = summary.totals()
    shown: list[CommandState | str] = [s for s in _COLUMNS if totals.get(s)]
    shown = shown or [CommandState.SUCCESS]
    shown += [s for s in totals if s not in _COLUMNS]  # a state Esper adds later
    table = Table(title=title, title_justify="left")
    table.add_column("request", no_wrap=True)
    for state in shown:
        table.add_column(short_state(state), justify="right")
    table.add_column("pending", justify="right")
    table.add_column("elapsed", justify="right")
    requests = sorted(summary.requests.values(), key=lambda r: (-len(r.pending), str(r.request_id)))
    clock = f"{elapsed:.0f}s"
    for request in requests[:_MAX_ROWS]:
        table.add_row(
            str(request.request_id),
            *(f"{request.totals.get(s, 0):,}" for s in shown),
            f"{len(request.pending):,}",
            clock,
        )
    if len(requests) > _MAX_ROWS:
        table.add_row(f"… {len(requests) - _MAX_ROWS} more", *([""] * (len(shown) + 2)))
    if len(requests) > 1:
        table.add_section()
        table.add_row(
            f"total ({len(requests)} requests)",
            *(f"{totals.get(s, 0):,}" for s in shown),
            f"{_pending(summary):,}",
            clock,
            style="bold",
        )
    return table


def watch_summary_json(summary: WatchSummary, elapsed: float) -> dict[str, Any]:
    """The summary as JSON data (state names as the API spells them)."""
    return {
        "done": summary.done,
        "elapsed": round(elapsed, 3),
        "rounds": summary.rounds,
        "calls": summary.calls,
        "errors": summary.errors,
        "totals": {str(s): n for s, n in summary.totals().items()},
        "pending": _pending(summary),
        "requests": [
            {
                "request_id": str(r.request_id),
                "done": r.done,
                "totals": {str(s): n for s, n in r.totals.items()},
                "pending": [str(d) for d in r.pending],
            }
            for r in summary.requests.values()
        ],
    }


async def watch_requests(
    client: EsperClient,
    request_ids: Sequence[uuid.UUID | str],
    *,
    out: Output,
    options: WatchOptions,
) -> tuple[dict[str, Any], ExitCode]:
    """Watch until done or `timeout`; returns the JSON summary and the exit code.

    Draws a live table on stderr when it is a terminal, streams each change as a line in jsonl
    mode, and prints the final table on stdout in table mode.
    """
    timeout = options.timeout
    started = time.monotonic()
    title = f"watching {len(request_ids)} request{'s' * (len(request_ids) != 1)}"
    async with client.watch(
        request_ids,
        timeout=NO_TIMEOUT if timeout is None else timeout,
        interval=options.interval,
        queued_is_done=options.queued_is_done,
    ) as changes:
        live = (
            Live(console=out.err, auto_refresh=False, transient=out.mode == "table")
            if out.live
            else None
        )

        def redraw() -> None:
            if live is not None:
                elapsed = time.monotonic() - started
                live.update(render(changes.summary, elapsed, title=title), refresh=True)

        async def tick(scope: anyio.CancelScope) -> None:
            # Elapsed time moves even while no device does; the table is drawn from this loop
            # only, never from rich's own thread, so the summary is never read mid-update.
            while True:
                redraw()
                await anyio.sleep(0.25)

        if live is not None:
            live.start()
        else:
            limit = "" if timeout is None else f" (at most {timeout:g}s)"
            out.note(f"{title} until every device is done{limit}…")
        try:
            async with anyio.create_task_group() as tg:
                if live is not None:
                    tg.start_soon(tick, tg.cancel_scope)
                async for change in changes:
                    if out.mode == "jsonl":
                        out.json({"type": "change", **_change_json(change)})
                tg.cancel_scope.cancel()
            redraw()
        finally:
            if live is not None:
                live.stop()
    summary = changes.summary
    elapsed = time.monotonic() - started
    data = watch_summary_json(summary, elapsed)
    if out.mode == "table":
        out.table(render(summary, elapsed, title=title))
        failed = _failures(summary)
        state = "done" if summary.done else f"timed out with {_pending(summary):,} devices pending"
        out.console.print(
            f"watch {state} after {elapsed:.1f}s ({summary.rounds} rounds, {summary.calls} API"
            f" calls); {failed:,} failed",
            highlight=False,
        )
    if not summary.done and _pending(summary):
        return data, ExitCode.TIMEOUT
    if options.exit_status and _failures(summary):
        return data, ExitCode.FAILED
    return data, ExitCode.OK


def _change_json(change: Any) -> dict[str, Any]:
    return {
        "request": str(change.request),
        "device": str(change.device),
        "old_state": None if change.old_state is None else str(change.old_state),
        "new_state": str(change.new_state),
        "reason": change.reason,
        "at": change.at.isoformat(),
    }
