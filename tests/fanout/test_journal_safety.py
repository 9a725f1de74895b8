"""The journal under attack: two writers, a full disk, files that are not journals, torn headers.

Each test here failed on the main of 2026-11-28 (issue 10): two runs on one journal both sent
every chunk, a short write was ignored and the chunk sent anyway, a one-line unrelated file got a
header appended, and ``/dev/full`` was read forever.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest

from esper_cmds import JournalError, JournalMismatchError, ValidationError
from esper_cmds._fanout import fan_out
from esper_cmds._fanout.journal import Journal, _header_prefix
from esper_cmds._fanout.reconcile import Fence
from esper_cmds.simulator import Simulator

from .conftest import FAST, client_for
from .test_kill import CHILD, ROOT
from .test_plan import plan

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)

DEV_FULL = Path("/dev/full")
HAS_DEV_FULL = DEV_FULL.exists()


def exactly_once(sim: Simulator) -> bool:
    """Every device of the fleet holds exactly one REBOOT."""
    return Counter(sim.stats.commands[(d, "REBOOT")] for d in sim.device_ids) == {
        1: len(sim.device_ids)
    }


def run_child(tmp_path: Path, config: dict[str, Any], name: str) -> subprocess.Popen[bytes]:
    """Start `fanout_child.py` with `config`; its stdout is a pipe."""
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(config))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if "fsize_limit" in config:
        # Coverage measurement in a child whose files may not grow would only corrupt its data.
        env = {k: v for k, v in env.items() if not k.startswith("COVERAGE_")}
    return subprocess.Popen(
        [sys.executable, str(CHILD), str(path)], env=env, stdout=subprocess.PIPE
    )


def wait_for(condition: Any, what: str, timeout: float = 30.0) -> None:
    """Poll `condition` until it holds (a real process is being watched, so real time)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


@pytest.mark.anyio
async def test_a_second_run_in_the_same_process_is_refused_and_nothing_is_sent_twice(
    tmp_path: Path,
) -> None:
    """While one fan-out holds a journal, a second one on it (another task) raises
    `JournalError` naming this process, before any call; the first finishes exactly once."""
    sim = Simulator(devices=1500, groups=0, seed=4, latency=0.05)
    journal = tmp_path / "run.jsonl"
    errors: list[JournalError] = []
    running = anyio.Event()
    async with client_for(sim) as client:

        async def first() -> None:
            await fan_out(
                client,
                command="REBOOT",
                devices=sim.device_ids,
                device_type="all",
                chunk_size=100,
                concurrency=1,
                journal=journal,
                retry=FAST,
                on_progress=lambda _: running.set(),
            )

        async def second() -> None:
            await running.wait()  # the first run holds the journal and has created a chunk
            lists_before = sim.stats.calls["list"]
            try:
                await fan_out(
                    client,
                    command="REBOOT",
                    devices=sim.device_ids,
                    device_type="all",
                    chunk_size=100,
                    journal=journal,
                    retry=FAST,
                )
            except JournalError as exc:
                # Refused before its fence read (the first run lists nothing after its own).
                assert sim.stats.calls["list"] == lists_before
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(first)
            tg.start_soon(second)
    assert len(errors) == 1
    assert f"(pid {os.getpid()}, in this process)" in str(errors[0])
    assert exactly_once(sim)
    assert sim.stats.requests_created == 15


def test_a_second_process_is_refused_naming_the_holder(tmp_path: Path) -> None:
    """An operator re-running while the first run is alive gets `JournalError` naming the
    first run's process id, and every device still gets exactly one command."""
    sim = Simulator(
        devices=2000, groups=0, seed=5, latency=0.4
    )  # the holder runs ~8 s: a slow start of
    # the second process (a loaded machine) still finds it running
    journal = tmp_path / "run.jsonl"
    with sim.serve_in_thread() as url:
        config = {
            "base_url": url,
            "api_key": sim.api_key,
            "enterprise_id": sim.enterprise_id,
            "devices": sim.device_ids,
            "chunk_size": 100,
            "concurrency": 1,
            "journal": str(journal),
        }
        holder = run_child(tmp_path, config, "holder")
        try:
            wait_for(lambda: journal.exists() and b'"started"' in journal.read_bytes(), "a start")
            intruder = subprocess.run(
                [sys.executable, str(CHILD), str(tmp_path / "holder.json")],
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                capture_output=True,
                timeout=60,
                check=True,
            )
            refused = json.loads(intruder.stdout)
            out, _ = holder.communicate(timeout=60)
        finally:
            holder.kill()
    assert refused["error"] == "JournalError"
    assert f"(pid {holder.pid})" in refused["message"]
    assert json.loads(out) == {"created": 20, "reconciled": 0, "resumed": 0, "failed": 0}
    assert exactly_once(sim)
    assert sim.stats.requests_created == 20


def test_a_full_disk_inside_a_started_record_sends_nothing_and_resumes_exactly_once(
    tmp_path: Path,
) -> None:
    """The kernel cuts the first "started" record short (RLIMIT_FSIZE: a partial write, then
    EFBIG). The run stops before that create is sent, the journal is cut back to whole records,
    and the re-run sends every chunk exactly once."""
    sim = Simulator(devices=500, groups=0, seed=6)
    journal = tmp_path / "run.jsonl"
    with sim.serve_in_thread() as url:
        config = {
            "base_url": url,
            "api_key": sim.api_key,
            "enterprise_id": sim.enterprise_id,
            "devices": sim.device_ids,
            "chunk_size": 100,
            "concurrency": 1,
            "journal": str(journal),
            "fsize_limit": 20,  # the first "started" record is ~60 bytes
        }
        child = run_child(tmp_path, config, "limited")
        out, _ = child.communicate(timeout=60)
        failed = json.loads(out)
        assert failed["error"] == "JournalError"
        assert "cannot write journal" in failed["message"]
        assert sim.stats.requests_created == 0  # the create the record announced was not sent
        lines = journal.read_bytes().split(b"\n")
        assert lines[-1] == b""  # cut back to whole records: only the header is left
        assert [json.loads(line)["type"] for line in lines[:-1]] == ["header"]

        del config["fsize_limit"]
        again = run_child(tmp_path, config, "again")
        out, _ = again.communicate(timeout=60)
    assert json.loads(out) == {"created": 5, "reconciled": 0, "resumed": 0, "failed": 0}
    assert exactly_once(sim)


@pytest.mark.parametrize("kind", ["device", "fifo", "directory"])
@pytest.mark.anyio
async def test_a_path_that_is_not_a_regular_file_is_refused(tmp_path: Path, kind: str) -> None:
    """``/dev/full``, a FIFO or a directory is refused at once, not read forever."""
    if kind == "device":
        if not HAS_DEV_FULL:
            pytest.skip("this system has no /dev/full")
        path = DEV_FULL
    elif kind == "fifo":
        path = tmp_path / "pipe"
        os.mkfifo(path)
    else:
        path = tmp_path / "folder"
        path.mkdir()
    with anyio.fail_after(10), pytest.raises(JournalError, match=r"regular file|Is a directory"):
        await Journal.open(path, plan())


@pytest.mark.parametrize(
    "content",
    [b"my shopping list", b"hello\n", b'{"type": "header", "version": 1}', b"\n"],
    ids=["one-line-text", "text-line", "foreign-torn-header", "blank-line"],
)
@pytest.mark.anyio
async def test_a_file_that_does_not_start_with_a_header_is_never_written(
    tmp_path: Path, content: bytes
) -> None:
    """A file that is not this run's journal is refused and left exactly as it was."""
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    with pytest.raises(JournalMismatchError, match="not a fan-out journal"):
        await Journal.open(path, plan())
    assert path.read_bytes() == content


@pytest.mark.anyio
async def test_a_header_torn_by_a_crash_is_started_afresh(tmp_path: Path) -> None:
    """A crash inside the very first write leaves part of this plan's header and nothing else
    (no create is sent before the header is down): the journal starts over, usable."""
    p = plan()
    path = tmp_path / "run.jsonl"
    for cut in (5, len(_header_prefix(p)) + 3):
        path.write_bytes(_header_prefix(p)[:cut] if cut < 40 else _header_prefix(p) + b'{"cr')
        journal = await Journal.open(path, p)
        assert journal.fence is None  # new: the header is written again by begin()
        await journal.aclose()
        assert path.read_bytes() == b""


@pytest.mark.anyio
async def test_journal_and_fence_are_untouched_when_the_input_is_refused(tmp_path: Path) -> None:
    """Bad input raises `ValidationError` before the journal is created or anything is read."""
    sim = Simulator(devices=10, groups=0, seed=7)
    journal = tmp_path / "run.jsonl"
    async with client_for(sim) as client:
        with pytest.raises(ValidationError, match="finite"):
            await fan_out(
                client,
                command="SET_BRIGHTNESS_SCALE",
                command_args={"brightness_value": 50, "extra": float("nan")},
                devices=sim.device_ids,
                journal=journal,
            )
    assert not journal.exists()
    assert sim.stats.calls.total() == 0


@pytest.mark.anyio
async def test_a_failed_write_stops_every_later_write(tmp_path: Path) -> None:
    """Once a record could not be written (here the journal's descriptor is swapped for a
    read-only one, so the write fails as a failing disk's would), the journal refuses every
    later record instead of writing around the gap."""
    p = plan()
    path = tmp_path / "run.jsonl"
    journal = await Journal.open(path, p, Fence())
    os.close(journal._fd)
    journal._fd = os.open(path, os.O_RDONLY)
    with pytest.raises(JournalError, match="cannot write journal"):
        await journal.started(p.chunks[0], T0)
    with pytest.raises(JournalError, match="unusable after an earlier failure"):
        await journal.started(p.chunks[1], T0)
    assert 0 not in journal.states  # the chunk was not recorded as started
    await journal.aclose()


@pytest.mark.anyio
async def test_a_closed_journal_refuses_records(tmp_path: Path) -> None:
    """A record after `aclose` is a `JournalError`, not a write to a reused descriptor."""
    p = plan()
    journal = await Journal.open(tmp_path / "run.jsonl", p, Fence())
    await journal.aclose()
    with pytest.raises(JournalError, match="closed"):
        await journal.started(p.chunks[0], T0)


@pytest.mark.parametrize(
    ("tail", "error"),
    [
        (b"garbage\n" + b'{"type":"started","chunk":0,"at":"2026-03-01T12:00:00+00:00"}\n',
         "not JSON"),
        (b'["not", "a", "record"]\n' + b'{"type":"started","chunk":0}\n', "not a fan-out journal"),
        (b'{"type":"started","chunk":0,"at":"yesterday"}\n', "damaged record"),
    ],
    ids=["garbage-line", "not-a-record", "bad-time"],
)  # fmt: skip
@pytest.mark.anyio
async def test_a_damaged_journal_is_refused(tmp_path: Path, tail: bytes, error: str) -> None:
    """A journal whose records were damaged (not at its torn end) is refused, unchanged."""
    p = plan()
    path = tmp_path / "run.jsonl"
    journal = await Journal.open(path, p, Fence())
    await journal.aclose()
    path.write_bytes(path.read_bytes() + tail)
    before = path.read_bytes()
    with pytest.raises(JournalMismatchError, match=error):
        await Journal.open(path, p)
    assert path.read_bytes() == before


@pytest.mark.anyio
async def test_a_journal_of_another_version_is_refused(tmp_path: Path) -> None:
    """A header this library does not write (another format version) is refused."""
    path = tmp_path / "run.jsonl"
    path.write_text(json.dumps({"type": "header", "version": 99, "fingerprint": "x"}) + "\n")
    with pytest.raises(JournalMismatchError, match="version"):
        await Journal.open(path, plan())


@pytest.mark.anyio
async def test_a_journal_replaced_under_a_run_stops_it(tmp_path: Path) -> None:
    """The journal's path now names another file (an ``os.replace`` with a copy): the run that
    held the old one refuses its next record rather than write where nobody will read."""
    p = plan()
    path = tmp_path / "run.jsonl"
    journal = await Journal.open(path, p, Fence())
    await journal.started(p.chunks[0], T0)
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(path.read_bytes())
    os.replace(copy, path)
    with pytest.raises(JournalError, match="replaced"):
        await journal.started(p.chunks[1], T0)
    await journal.aclose()
    assert path.read_text().count('"started"') == 1  # nothing more went to either file


def test_a_lock_let_go_while_its_holder_is_looked_up_is_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race of a run ending just as the next one starts: the lock is busy, but by the time
    /proc/locks is read its holder is gone. The new run tries again and gets it."""
    import fcntl

    from esper_cmds._fanout import journal as journal_module

    lock_path = tmp_path / "run.jsonl.lock"
    first = os.open(lock_path, os.O_RDWR | os.O_CREAT)
    second = os.open(lock_path, os.O_RDWR)
    fcntl.flock(first, fcntl.LOCK_EX | fcntl.LOCK_NB)
    looked: list[int] = []

    def holder_leaves(fd: int) -> str:
        looked.append(fd)
        fcntl.flock(first, fcntl.LOCK_UN)  # the first run ends right now
        return "holder unknown"

    monkeypatch.setattr(journal_module, "_holder", holder_leaves)
    try:
        journal_module._lock(second, lock_path)  # no JournalError: the lock is this run's
        with pytest.raises(BlockingIOError):
            fcntl.flock(first, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert looked == [second]
    finally:
        os.close(first)
        os.close(second)


def test_a_lock_held_by_someone_unlisted_is_still_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without /proc/locks (or a holder it does not list), a busy lock is still a refusal."""
    import fcntl

    from esper_cmds._fanout import journal as journal_module

    lock_path = tmp_path / "run.jsonl.lock"
    first = os.open(lock_path, os.O_RDWR | os.O_CREAT)
    second = os.open(lock_path, os.O_RDWR)
    fcntl.flock(first, fcntl.LOCK_EX | fcntl.LOCK_NB)
    monkeypatch.setattr(journal_module, "_holder", lambda fd: "holder unknown")
    try:
        with pytest.raises(JournalError, match=r"in use by another fan-out \(holder unknown\)"):
            journal_module._lock(second, lock_path)
    finally:
        os.close(first)
        os.close(second)
