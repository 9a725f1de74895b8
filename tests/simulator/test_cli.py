"""`python -m esper_cmds.simulator` serves on loopback and prints how to reach it."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import pytest

from esper_cmds.simulator import FaultKind
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


def _serve(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "esper_cmds.simulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def test_cli_output_is_shell_code_that_exports_the_settings() -> None:
    """A shell can eval the first lines: the three variables end up exported."""
    with _serve("--devices", "20", "--groups", "2", "--port", "0") as process:
        try:
            assert process.stdout is not None
            lines = [process.stdout.readline() for _ in range(5)]
        finally:
            _stop(process)
    script = "".join(lines) + 'env | grep "^ESPER_" | sort\n'
    shell = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=10)
    exported = dict(line.split("=", 1) for line in shell.stdout.splitlines())
    assert set(exported) == {"ESPER_API_KEY", "ESPER_BASE_URL", "ESPER_ENTERPRISE_ID"}
    assert exported["ESPER_BASE_URL"].startswith("http://127.0.0.1:")
    assert lines[3].startswith("export ")


def test_cli_port_in_use_is_one_line() -> None:
    """A port already taken is refused in one line, exit 2, naming --port."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with _serve("--devices", "10", "--port", str(port)) as process:
            _, err = process.communicate(timeout=30)
    assert process.returncode == 2
    assert err.strip().count("\n") == 0
    assert f"port {port} is in use" in err
    assert "--port 0" in err


def test_cli_help_shows_defaults_and_fault_kinds(capsys: pytest.CaptureFixture[str]) -> None:
    """--help gives each option's default and every fault kind."""
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    text = capsys.readouterr().out
    assert "(default: 1000)" in text
    assert "(default: 0.3)" in text
    for kind in FaultKind:
        assert kind.value in text
    assert "(default: None)" not in text


def test_esper_sim_without_the_extra_and_through_esper_cmds() -> None:
    """`esper-cmds simulator` is the same command line (its --help is the simulator's)."""
    ran = subprocess.run(
        [sys.executable, "-m", "esper_cmds", "simulator", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 0
    assert "--fault KIND=P" in ran.stdout


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


def test_cli_parses_read_only_keys_and_timezones() -> None:
    """--read-only-key repeats; --device-timezones is a comma list; unknown zones are refused."""
    args = build_parser().parse_args(
        [
            *("--read-only-key", "ro-1", "--read-only-key", "ro-2"),
            *("--device-timezones", "Asia/Tokyo, America/New_York"),
            *("--console-timezone", "Europe/Berlin"),
        ]
    )
    assert args.read_only_key == ["ro-1", "ro-2"]
    assert args.device_timezones == ("Asia/Tokyo", "America/New_York")
    assert args.console_timezone == "Europe/Berlin"
    defaults = build_parser().parse_args([])
    assert (defaults.read_only_key, defaults.device_timezones) == ([], ("UTC",))
    for bad in (["--console-timezone", "Mars/Olympus"], ["--device-timezones", " , "]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(bad)


def test_cli_read_only_key_reads_but_cannot_create() -> None:
    """A key given with --read-only-key lists requests (200) and is refused a create (403)."""
    with _serve(
        "--devices", "5", "--groups", "1", "--port", "0", "--read-only-key", "ro"
    ) as process:
        _check_read_only(process)


def _check_read_only(process: subprocess.Popen[str]) -> None:
    try:
        settings = _read_settings(process, timeout=20)
        url = f"{settings['ESPER_BASE_URL']}/v0/enterprise/{settings['ESPER_ENTERPRISE_ID']}"
        headers = {"Authorization": "Bearer ro"}
        listed = httpx.get(f"{url}/command/", headers=headers, timeout=10)
        assert listed.status_code == 200
        created = httpx.post(
            f"{url}/command/",
            headers=headers,
            json={"command_type": "DEVICE", "command": "REBOOT", "devices": []},
            timeout=10,
        )
        assert created.status_code == 403
    finally:
        _stop(process)
