"""The fan-out journal: durable records, resumable state, refusal of other inputs."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import pytest

from esper_cmds import CommandRequest
from esper_cmds._fanout import JournalMismatchError
from esper_cmds._fanout.journal import Journal
from esper_cmds._fanout.plan import Plan
from esper_cmds._fanout.reconcile import Fence

from .test_plan import plan

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
FENCE = Fence(T0 - dt.timedelta(days=1), uuid.UUID(int=99))


def request(rid: int, created_on: dt.datetime) -> CommandRequest:
    """A created request as the server would return it."""
    return CommandRequest(id=uuid.UUID(int=rid), command="REBOOT", created_on=created_on)


async def write_some(path: Path, p: Plan) -> None:
    """Chunk 0 created, chunk 1 started only."""
    journal = await Journal.open(path, p, FENCE)
    await journal.started(p.chunks[0], T0)
    await journal.created(p.chunks[0], request(1, T0 + dt.timedelta(hours=1)), T0)
    await journal.started(p.chunks[1], T0 + dt.timedelta(seconds=5))
    await journal.aclose()


@pytest.mark.anyio
async def test_reopened_journal_knows_created_and_in_flight_chunks(tmp_path: Path) -> None:
    """A re-opened journal reports chunk 0 created, chunk 1 in flight, and the first run's fence."""
    path, p = tmp_path / "j.jsonl", plan()
    await write_some(path, p)
    again = await Journal.open(path, p, Fence())
    assert again.fence == FENCE
    await again.aclose()
    assert again.states[0].request_id == uuid.UUID(int=1)
    assert again.states[1].request_id is None
    assert again.states[1].started_at == T0 + dt.timedelta(seconds=5)
    assert 2 not in again.states


@pytest.mark.anyio
async def test_records_are_json_lines_after_a_header(tmp_path: Path) -> None:
    """Line 1 is the header with the plan's fingerprint; then one record per event."""
    path, p = tmp_path / "j.jsonl", plan()
    await write_some(path, p)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0]["type"] == "header"
    assert lines[0]["fingerprint"] == p.fingerprint
    assert [r["type"] for r in lines[1:]] == ["started", "created", "started"]
    assert lines[2]["request_id"] == str(uuid.UUID(int=1))


@pytest.mark.anyio
async def test_journal_for_other_inputs_is_refused(tmp_path: Path) -> None:
    """Opening a journal with a different plan raises, naming both fan-outs."""
    path = tmp_path / "j.jsonl"
    await write_some(path, plan())
    before = path.read_bytes()
    with pytest.raises(JournalMismatchError, match=r"another fan-out.*LOCK"):
        await Journal.open(path, plan(command="LOCK"), FENCE)
    assert path.read_bytes() == before


@pytest.mark.anyio
async def test_a_file_that_is_not_a_journal_is_refused(tmp_path: Path) -> None:
    """Some other file is never appended to."""
    path = tmp_path / "notes.txt"
    path.write_text("hello\nworld\n")
    with pytest.raises(JournalMismatchError, match="not JSON"):
        await Journal.open(path, plan(), FENCE)
    assert path.read_text() == "hello\nworld\n"


@pytest.mark.anyio
async def test_a_torn_last_line_is_ignored(tmp_path: Path) -> None:
    """A record cut short by a crash never took effect; the rest still counts."""
    path, p = tmp_path / "j.jsonl", plan()
    await write_some(path, p)
    with path.open("a") as f:
        f.write('{"type":"created","chunk":1,"reque')
    again = await Journal.open(path, p, FENCE)
    await again.started(p.chunks[2], T0)
    await again.aclose()
    assert again.states[1].request_id is None
    third = await Journal.open(path, p, FENCE)
    await third.aclose()
    assert third.states[0].request_id == uuid.UUID(int=1)
    assert third.states[2].started_at == T0
