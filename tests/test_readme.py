"""The README's simulator example is real code: it must run as printed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def _python_block_after(heading: str) -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None, f"no python example under {heading!r}"
    return match.group(1)


def test_simulator_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """The 'Using the simulator in your tests' example runs and its exactly-once assert holds."""
    code = _python_block_after("## Using the simulator in your tests")
    exec(compile(code, "README.md", "exec"), {"__name__": "readme_example"})
    rebooted = int(capsys.readouterr().out.split()[0])
    assert rebooted > 0


def test_testing_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """The 'Testing your code: fake time' example runs: a 429 and a watch on fake time."""
    code = _python_block_after("## Testing your code: fake time")
    exec(compile(code, "README.md", "exec"), {"__name__": "readme_example"})
    waits, _, seconds, *_ = capsys.readouterr().out.split()
    assert int(waits) >= 2
    assert float(seconds) >= 30
