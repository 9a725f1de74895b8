"""Fixtures for the command line's tests: a simulator on loopback and a way to run commands."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from esper_cmds._cli._main import Backend, run
from esper_cmds.simulator import ManualClock, RealClock, Simulator


@dataclass
class Served:
    """A simulator served on 127.0.0.1 and its base URL."""

    sim: Simulator
    base_url: str

    @property
    def env(self) -> dict[str, str]:
        """The variables a client needs."""
        return {
            "ESPER_BASE_URL": self.base_url,
            "ESPER_API_KEY": self.sim.api_key,
            "ESPER_ENTERPRISE_ID": self.sim.enterprise_id,
        }


@dataclass
class Ran:
    """One command line's exit code and output."""

    code: int
    out: str
    err: str


@pytest.fixture
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    """2,500 devices in 5 groups, a fifth offline, on loopback.

    The clock stands still (commands stay where they are) unless the test is marked
    ``@pytest.mark.parametrize("served", ["running"], indirect=True)``: then simulated time runs
    200 times faster than real time, so commands finish within a fraction of a second.
    """
    running = getattr(request, "param", None) == "running"
    clock = RealClock(speed=200.0) if running else ManualClock()
    sim = Simulator(devices=2500, groups=5, offline=0.2, seed=3, clock=clock)
    with sim.serve_in_thread() as base_url:
        yield Served(sim, base_url)


@pytest.fixture
def cli(
    served: Served,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> Cli:
    """Runs ``esper-cmds`` in-process against `served`, with a private state directory."""
    for name, value in served.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("ESPER_TENANT", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return Cli(monkeypatch, capsys)


class Cli:
    """Call it with the arguments; stdin may be given as text."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
        self._monkeypatch = monkeypatch
        self._capsys = capsys

    def __call__(self, *args: str, stdin: str = "", backend: Backend = "asyncio") -> Ran:
        self._capsys.readouterr()
        self._monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = run(list(args), backend=backend)
        captured = self._capsys.readouterr()
        return Ran(code, captured.out, captured.err)
