"""`python -m esper_cmds.simulator` serves on loopback and prints how to reach it."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from esper_cmds.simulator.__main__ import build_parser


def _read_settings(process: subprocess.Popen[str], timeout: float) -> dict[str, str]:
    assert process.stdout is not None
    settings: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while len(settings) < 3 and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        name, sep, value = line.strip().partition("=")
        if sep and not name.startswith("#"):
            settings[name] = value
    return settings


def test_cli_serves_and_prints_url_key_and_enterprise() -> None:
    """The CLI prints base URL, API key and enterprise id; one authorised call succeeds."""
    command = [
        *(sys.executable, "-m", "esper_cmds.simulator", "--devices", "120", "--groups", "6"),
        *("--offline", "0.5", "--port", "0", "--rate-limit", "100/1", "--speed", "10"),
    ]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as process:
        try:
            settings = _read_settings(process, timeout=20)
            base_url = settings["ESPER_BASE_URL"]
            assert base_url.startswith("http://127.0.0.1:")
            response = httpx.get(
                f"{base_url}/enterprise/{settings['ESPER_ENTERPRISE_ID']}/devicegroup/",
                headers={"Authorization": f"Bearer {settings['ESPER_API_KEY']}"},
                timeout=10,
            )
            assert response.status_code == 200
            assert response.json()["count"] == 6
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
    assert process.returncode == 0


def test_cli_parses_rate_limit_and_faults() -> None:
    """--rate-limit takes CALLS/SECONDS and --fault KIND=P repeats; bad values are refused."""
    args = build_parser().parse_args(
        ["--rate-limit", "4000/300", "--fault", "slow=0.1", "--fault", "html_503=0.2"]
    )
    assert args.rate_limit == (4000, 300.0)
    assert [(k.value, p) for k, p in args.fault] == [("slow", 0.1), ("html_503", 0.2)]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--fault", "explode=1"])
