"""The command line as a real process: SIGINT and resume, a pseudo-terminal, pipes, no extra."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from esper_cmds.simulator import ManualClock, RealClock, Simulator

from .conftest import Served

CLI = [sys.executable, "-m", "esper_cmds"]
ONE = ("--concurrency", "1")
WATCH = ("--watch", "--queued-is-done", "--timeout", "60", "--interval", "0.2")


def _default_sigint() -> None:
    """Give the child Ctrl-C's default action: a test runner started in the background (a
    non-interactive shell's ``&``) ignores SIGINT, and children inherit that, so Python would
    not turn it into KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _env(served: Served, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESPER_")}
    env.update(served.env)
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    env["COLUMNS"] = "160"
    return env


@pytest.fixture
def slow_served() -> Iterator[Served]:
    """4,000 online devices whose every call takes 0.25 s: a send of 4 chunks takes a while."""
    sim = Simulator(devices=4000, groups=2, offline=0.0, seed=5, clock=ManualClock(), latency=0.25)
    with sim.serve_in_thread() as base_url:
        yield Served(sim, base_url)


def _created_records(journal: Path) -> int:
    try:
        lines = journal.read_text().splitlines()
    except FileNotFoundError:
        return 0
    return sum('"created"' in line for line in lines)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_sigint_mid_send_then_resume_sends_each_device_once(
    slow_served: Served, tmp_path: Path, backend: str
) -> None:
    """Ctrl-C after the first chunk: exit 130 and a resume hint; resume finishes the rest."""
    sim = slow_served.sim
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(sim.device_ids) + "\n")
    journal = tmp_path / "reboot.journal"
    env = _env(slow_served, tmp_path)
    env["ESPER_CLI_BACKEND"] = backend
    with subprocess.Popen(
        [*CLI, "send", "reboot", "--devices-file", str(ids), "--journal", str(journal), *ONE],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    ) as process:
        deadline = time.monotonic() + 60
        while _created_records(journal) < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert process.poll() is None, "the send finished before it could be interrupted"
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert f"esper-cmds resume {journal}" in err
    sent_before = sim.stats.requests_created
    assert 1 <= sent_before < 4
    resumed = subprocess.run(
        [*CLI, "resume", str(journal)], env=env, capture_output=True, text=True, timeout=120
    )
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["totals"]["resumed"] + report["totals"]["reconciled"] >= sent_before
    assert report["totals"]["failed"] == 0
    counts = sim.stats.commands
    assert all(counts[d, "REBOOT"] == 1 for d in sim.device_ids)
    assert sim.stats.requests_created == 4


def test_sigint_while_watching_says_how_to_watch_again(slow_served: Served, tmp_path: Path) -> None:
    """Ctrl-C after every request was sent: exit 130, and the hint re-watches without sending."""
    sim = slow_served.sim
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(sim.device_ids[:1500]) + "\n")
    journal = tmp_path / "watched.journal"
    env = _env(slow_served, tmp_path)
    with subprocess.Popen(
        [*CLI, "send", "reboot", "--devices-file", str(ids), "--journal", str(journal), "--watch"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    ) as process:
        assert process.stderr is not None
        seen = [process.stderr.readline() for _ in range(2)]  # the journal, then the watch
        assert seen[1].startswith("watching 2 requests"), seen
        time.sleep(0.3)  # into the first polls (its clock stands still: it would never end)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    hint = f"esper-cmds resume {journal} --allow-complete --watch"
    assert hint in err
    again = subprocess.run(
        [*CLI, "resume", str(journal), "--allow-complete"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 0, again.stderr
    assert sim.stats.requests_created == 2


@pytest.fixture
def running_served() -> Iterator[Served]:
    """1,500 devices on a clock 200 times faster than real time."""
    sim = Simulator(devices=1500, groups=3, offline=0.2, seed=9, clock=RealClock(speed=200.0))
    with sim.serve_in_thread() as base_url:
        yield Served(sim, base_url)


def test_live_progress_renders_on_a_terminal_and_ends_with_the_summary(
    running_served: Served, tmp_path: Path
) -> None:
    """Under a pseudo-terminal: the progress bar, the watch table, then the summaries."""
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(running_served.sim.device_ids) + "\n")
    child = pexpect.spawn(
        sys.executable,
        ["-m", "esper_cmds", "send", "reboot", "--devices-file", str(ids), *WATCH],
        env=_env(running_served, tmp_path),
        encoding="utf-8",
        dimensions=(50, 160),
        timeout=60,
    )
    child.expect(r"journal: \S+\.journal")
    child.expect(r"2/2 chunks, 1,500/1,500 devices")
    child.expect(r"retries 0, reconciled 0, rate-limit waits 0, failed 0")
    child.expect(r"REBOOT: 1,500 targets in 2 requests — 2 created")
    child.expect(r"total \(2 requests\)")
    child.expect(r"watch done after")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


@pytest.mark.parametrize(("answer", "code", "sent"), [("n", 1, 0), ("y", 0, 1)])
def test_destructive_command_asks_on_a_terminal(
    running_served: Served, tmp_path: Path, answer: str, code: int, sent: int
) -> None:
    """WIPE asks first on a terminal; "n" sends nothing, "y" sends it."""
    device = running_served.sim.device_ids[0]
    child = pexpect.spawn(
        sys.executable,
        ["-m", "esper_cmds", "send", "WIPE", "--device", device],
        env=_env(running_served, tmp_path),
        encoding="utf-8",
        timeout=30,
    )
    child.expect(r"Send WIPE to 1 device\? \[y/N\]")
    child.sendline(answer)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == code
    assert running_served.sim.stats.commands[device, "WIPE"] == sent


def test_pipes_get_json_lines_and_json(running_served: Served, tmp_path: Path) -> None:
    """Into a pipe: --output jsonl is valid JSON per line; no --output means one JSON document."""
    env = _env(running_served, tmp_path)
    group = running_served.sim.group_ids[0]
    ran = subprocess.run(
        [*CLI, "send", "reboot", "--group", group, *WATCH, "--output", "jsonl"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    lines = [json.loads(line) for line in ran.stdout.splitlines()]
    kinds = [line["type"] for line in lines]
    assert kinds[0] == "chunk"
    assert kinds[1] == "summary"
    assert kinds[-1] == "watch"
    assert set(kinds[2:-1]) <= {"change"}
    assert lines[-1]["done"] is True
    listing = subprocess.run(
        [*CLI, "devices", "list", "--group", group, "--limit", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    devices = json.loads(listing.stdout)
    assert sorted(d["id"] for d in devices) == sorted(running_served.sim.group_members(group))


def test_a_closed_pipe_ends_a_listing_quietly(running_served: Served, tmp_path: Path) -> None:
    """`esper-cmds devices list | head -1`: exit 0, no traceback, no broken-pipe noise."""
    with subprocess.Popen(
        [*CLI, "devices", "list", "--limit", "0", "--output", "jsonl"],
        env=_env(running_served, tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        json.loads(process.stdout.readline())
        process.stdout.close()
        err = process.stderr.read()
        process.wait(timeout=60)
    assert process.returncode == 0
    assert err == ""


@pytest.mark.parametrize(
    ("blocked", "entry", "hint"),
    [
        ("cyclopts", "esper_cmds.__main__", "pip install 'esper-cmds[cli]'"),
        ("rich", "esper_cmds.__main__", "pip install 'esper-cmds[cli]'"),
        ("starlette", "esper_cmds._cli._simulator", "pip install 'esper-cmds[simulator]'"),
    ],
)
def test_without_the_extra_one_line_says_how_to_install(
    blocked: str, entry: str, hint: str
) -> None:
    """A missing extra is one line naming the pip command, exit 2."""
    code = (
        f"import sys; sys.modules[{blocked!r}] = None\n"
        f"from {entry} import main\n"
        "sys.exit(main(['--help']))"
    )
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 2
    assert ran.stderr.strip().count("\n") == 0
    assert hint in ran.stderr
