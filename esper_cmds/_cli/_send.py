"""``send`` and ``resume``: a fan-out with a journal, a run-spec, live progress and a summary.

Strictly private. The library's journal records only a fingerprint of the plan, so `send` writes
the plan's inputs next to it (``JOURNAL.spec.json``) before the first create, and `resume` feeds
those same inputs and the same journal back to `fan_out` (whose fingerprint check refuses any
mismatch).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from .. import (
    ChunkOutcome,
    Created,
    EsperClient,
    Failed,
    FanOutProgress,
    FanOutResult,
    PauseEvent,
    Reconciled,
    RetryEvent,
    RetryPolicy,
    TransportEvent,
)
from ._errors import CliError
from ._output import Output

__all__ = [
    "SendSpec",
    "default_journal",
    "dry_run",
    "offline_plan",
    "read_spec",
    "run_fan_out",
    "write_spec",
]

_SPEC_VERSION = 1


@dataclass
class SendSpec:
    """Everything `fan_out` needs to build the same plan again (the ``.spec.json`` file)."""

    command: str
    command_args: dict[str, Any] | None = None
    devices: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    command_type: str | None = None
    device_type: str = "all"
    schedule: str = "IMMEDIATE"
    schedule_args: dict[str, Any] | None = None
    concurrency: int = 8
    resolved_groups: list[str] = field(default_factory=list)
    """Groups whose devices (read at send time) are in `devices`; kept for the record."""

    def fan_out_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of `fan_out` (without journal and progress)."""
        return {
            "command": self.command,
            "command_args": self.command_args,
            "devices": self.devices or None,
            "groups": self.groups or None,
            "command_type": self.command_type,
            "device_type": self.device_type,
            "schedule": self.schedule,
            "schedule_args": self.schedule_args,
            "concurrency": self.concurrency,
        }

    def to_json(self) -> dict[str, Any]:
        """The file's content."""
        return {"version": _SPEC_VERSION, **asdict(self)}


def spec_path(journal: Path) -> Path:
    """Where the run-spec of `journal` lives."""
    return journal.with_name(journal.name + ".spec.json")


def state_dir() -> Path:
    """``$XDG_STATE_HOME/esper-cmds`` (``~/.local/state/esper-cmds`` by default)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "esper-cmds"


def default_journal(command: str) -> Path:
    """A new journal name: ``STATE_DIR/20261129-041500-reboot-3f9a.journal``."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return state_dir() / f"{stamp}-{command.lower()}-{secrets.token_hex(2)}.journal"


def write_spec(journal: Path, spec: SendSpec) -> None:
    """Write the run-spec before anything is sent; refuse one written for another send."""
    path = spec_path(journal)
    data = spec.to_json()
    if journal.exists() and path.exists():
        try:
            existing = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            existing = None
        # The concurrency may change between runs: it does not change the plan.
        if not isinstance(existing, dict) or _plan_part(existing) != _plan_part(data):
            raise CliError(
                f"journal {journal} belongs to another send (its {path.name} differs): "
                "use a new --journal, or `esper-cmds resume` to finish that one"
            )
        return
    journal.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(temporary, path)  # never a half-written spec, even after a crash


def _plan_part(spec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k != "concurrency"}


def read_spec(journal: Path) -> SendSpec:
    """The run-spec `send` wrote next to `journal`."""
    path = spec_path(journal)
    if not journal.exists():
        raise CliError(f"no journal at {journal}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CliError(
            f"{path} is missing: only journals written by `esper-cmds send` can be resumed"
        ) from None
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict) or data.pop("version", None) != _SPEC_VERSION:
        raise CliError(f"{path} is not a run-spec this version understands")
    try:
        return SendSpec(**data)
    except TypeError as exc:
        raise CliError(f"{path} is damaged ({exc})") from None


# -- dry run: the library plans and validates, a local transport answers -----------------------


class _Offline(httpx.AsyncBaseTransport):
    """Answers the fan-out's calls locally: an empty request listing, and a refusal of every
    create (recording its body), so the library validates and plans but nothing leaves."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.bodies.append(await request.aread())
            body = {"errors": ["dry run"], "message": "dry run: not sent", "status": 400}
            return httpx.Response(400, json=body)
        return httpx.Response(200, json={"count": 0, "next": None, "previous": None, "results": []})


async def offline_plan(spec: SendSpec, enterprise_id: str) -> tuple[FanOutResult, bytes]:
    """The plan `fan_out` would run and the exact body of its first create; nothing is sent."""
    transport = _Offline()
    async with EsperClient(
        base_url="http://dry-run.invalid/api",
        api_key="dry-run",
        enterprise_id=enterprise_id,
        transport=transport,
        rate_limit=None,
        retry=RetryPolicy.never(),
    ) as client:
        # One worker, so the first body recorded is the first chunk's.
        kwargs = {**spec.fan_out_kwargs(), "concurrency": 1}
        result = await client.fan_out(**kwargs)
    return result, transport.bodies[0] if transport.bodies else b""


def plan_json(spec: SendSpec, result: FanOutResult, first_body: bytes) -> dict[str, Any]:
    """What `--dry-run` prints."""
    chunks = result.plan.chunks
    return {
        "dry_run": True,
        "command": spec.command,
        "command_type": str(result.plan.command_type),
        "device_type": spec.device_type,
        "targets": sum(len(c.targets) for c in chunks),
        "chunks": [
            {"index": c.index, "targets": len(c.targets), "first": c.targets[0]} for c in chunks
        ],
        "first_body": json.loads(first_body) if first_body else None,
    }


def dry_run(out: Output, spec: SendSpec, result: FanOutResult, first_body: bytes) -> None:
    """Print the plan: chunks, targets and the exact JSON body of the first chunk."""
    data = plan_json(spec, result, first_body)
    if out.mode != "table":
        out.json(data)
        return
    console = out.console
    kind = "devices" if result.plan.chunks and result.plan.chunks[0].devices else "groups"
    console.print(
        f"dry run: {spec.command} to {data['targets']:,} {kind} in {len(data['chunks'])} "
        f"{data['command_type']} request(s), device_type={spec.device_type}; nothing was sent",
        highlight=False,
    )
    for chunk in data["chunks"][:10]:
        console.print(
            f"  chunk {chunk['index']:>4}: {chunk['targets']:>5,} targets", highlight=False
        )
    if len(data["chunks"]) > 10:
        console.print(f"  … {len(data['chunks']) - 10} more chunks", highlight=False)
    console.print("first request body (POST /v0/enterprise/{id}/command/):", highlight=False)
    text = json.dumps(data["first_body"], indent=2)
    console.print(text, highlight=False, markup=False, soft_wrap=True)


# -- the real run ---------------------------------------------------------------------------------


def outcome_json(outcome: ChunkOutcome) -> dict[str, Any]:
    """One chunk's outcome as JSON data."""
    data: dict[str, Any] = {
        "chunk": outcome.chunk.index,
        "outcome": type(outcome).__name__.lower(),
        "targets": len(outcome.chunk.targets),
    }
    if isinstance(outcome, Failed):
        data["error"] = str(outcome.error)
        data["retryable"] = outcome.retryable
        data["attempts"] = outcome.attempts
    else:
        data["request_id"] = str(outcome.request_id)
        if isinstance(outcome, (Created, Reconciled)):
            data["attempts"] = outcome.attempts
    return data


class FanOutDisplay:
    """The live progress of a fan-out: chunks, devices, retries, reconciliations, waits."""

    def __init__(self, out: Output, *, chunks: int, targets: int, label: str) -> None:
        self.out = out
        self.chunks = chunks
        self.targets = targets
        self.done = 0
        self.devices = 0
        self.retries = 0
        self.reconciled = 0
        self.waits = 0
        self.failed = 0
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._label = label

    def __enter__(self) -> FanOutDisplay:
        if self.out.live:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[chunks]}"),
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
                console=self.out.err,
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(
                self._label, total=self.chunks, chunks=self._chunks(), detail=self._detail()
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._refresh()
            self._progress.stop()

    def _chunks(self) -> str:
        return f"{self.done}/{self.chunks} chunks, {self.devices:,}/{self.targets:,} devices"

    def _detail(self) -> str:
        return (
            f"retries {self.retries}, reconciled {self.reconciled}, rate-limit waits "
            f"{self.waits}, failed {self.failed}"
        )

    def _refresh(self) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(
                self._task, completed=self.done, chunks=self._chunks(), detail=self._detail()
            )

    def on_event(self, event: TransportEvent) -> None:
        """The client's retry and pause events."""
        if isinstance(event, RetryEvent):
            self.retries += 1
        elif isinstance(event, PauseEvent):
            self.waits += 1
        self._refresh()

    def on_progress(self, progress: FanOutProgress) -> None:
        """A chunk finished."""
        outcome = progress.outcome
        self.done = progress.done
        if isinstance(outcome, Failed):
            self.failed += 1
        else:
            self.devices += len(outcome.chunk.targets)
        if isinstance(outcome, Reconciled):
            self.reconciled += 1
        if isinstance(outcome, (Created, Reconciled, Failed)) and outcome.attempts > 1:
            self.retries += outcome.attempts - 1  # re-creates of the chunk, after a failure
        self._refresh()
        if self.out.mode == "jsonl":
            self.out.json({"type": "chunk", **outcome_json(outcome)})


async def run_fan_out(
    client: EsperClient, spec: SendSpec, journal: Path, display: FanOutDisplay
) -> FanOutResult:
    """The fan-out itself, journalled, with the display's progress."""
    with display:
        return await client.fan_out(
            **spec.fan_out_kwargs(), journal=journal, on_progress=display.on_progress
        )


def report_json(
    spec: SendSpec, journal: Path, result: FanOutResult, seconds: float
) -> dict[str, Any]:
    """The fan-out's summary as JSON data."""
    totals = result.totals
    return {
        "command": spec.command,
        "journal": str(journal),
        "seconds": round(seconds, 3),
        "nothing_sent": totals.resumed == totals.chunks,
        "totals": {
            "chunks": totals.chunks,
            "created": totals.created,
            "reconciled": totals.reconciled,
            "resumed": totals.resumed,
            "failed": totals.failed,
            "targets": totals.targets,
            "targets_failed": totals.targets_failed,
        },
        "request_ids": [str(r) for r in result.request_ids],
        "chunks": [outcome_json(o) for o in result.outcomes],
    }


def print_report(out: Output, report: dict[str, Any]) -> None:
    """The fan-out's summary for people (table mode)."""
    t = report["totals"]
    out.console.print(
        f"{report['command']}: {t['targets']:,} targets in {t['chunks']} requests — "
        f"{t['created']} created, {t['reconciled']} reconciled, {t['resumed']} resumed, "
        f"{t['failed']} failed ({t['targets_failed']:,} targets) in {report['seconds']:.1f}s",
        highlight=False,
    )
    for chunk in report["chunks"]:
        if chunk["outcome"] == "failed":
            out.console.print(
                f"  chunk {chunk['chunk']} failed: {chunk['error']}", highlight=False, markup=False
            )


def complete_message(journal: Path) -> str:
    """Why nothing was sent when every chunk was already in the journal."""
    return (
        f"nothing was sent: every chunk of journal {journal} was created by an earlier run. "
        "Use a new --journal (or none) for a new send, or pass --allow-complete to accept this"
    )


def check_stdin_free(files: list[str]) -> None:
    """Refuse two files read from stdin: the second would get nothing."""
    if files.count("-") > 1:
        raise CliError("only one of --devices-file and --groups-file can be - (stdin)")
