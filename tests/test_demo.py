"""The demo (`make demo`) is the project's main job: it must run green end to end."""

from __future__ import annotations

import pytest

from esper_cmds import demo


def test_demo_delivers_exactly_once_and_finishes(capsys: pytest.CaptureFixture[str]) -> None:
    """A small demo run exits 0: every device got one REBOOT and the watch finished."""
    code = demo.main(["--devices", "3000", "--groups", "6", "--timeout", "60"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "3,000/3,000 devices got exactly one REBOOT, 0 got more" in out
    assert "watch done" in out
    assert "REBOOT: 3,000 targets in 3 requests" in out
    assert "drop_after_store" in out  # the faults are named up front
