"""The documentation site builds without a warning, and every guide's code runs as printed.

Each page's ```python blocks are run in order in one namespace against a simulator on loopback
(the ESPER_* variables point at it, as a user's shell would); ```{code-block} python blocks are
illustrations and are not run. The FastAPI guide's app is served by uvicorn and called over HTTP.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import types
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from esper_cmds.simulator import RealClock, Simulator

DOCS = Path(__file__).resolve().parent.parent / "docs"
RUN = [DOCS / "getting-started.md", *sorted((DOCS / "guides").glob("*.md"))]


def python_blocks(page: Path) -> list[str]:
    """The ```python blocks of a page, in order."""
    return re.findall(r"^```python\n(.*?)^```", page.read_text(encoding="utf-8"), re.S | re.M)


def run_page(page: Path, name: str = "__main__") -> dict[str, Any]:
    """Run a page's blocks in one namespace, as a script (``__name__`` is `name`)."""
    namespace: dict[str, Any] = {"__name__": name}
    for block in python_blocks(page):
        exec(compile(block, str(page), "exec"), namespace)
    return namespace


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Simulator]:
    """A simulator on loopback, sped up 60x, that the ESPER_* variables point at; cwd is a
    fresh directory (journals and files the guides write go there)."""
    simulator = Simulator(devices=300, groups=4, offline=0.0, seed=5, clock=RealClock(speed=60))
    with simulator.serve_in_thread() as base_url:
        monkeypatch.setenv("ESPER_BASE_URL", base_url)
        monkeypatch.setenv("ESPER_API_KEY", simulator.api_key)
        monkeypatch.setenv("ESPER_ENTERPRISE_ID", simulator.enterprise_id)
        monkeypatch.delenv("ESPER_TENANT", raising=False)
        monkeypatch.delenv("ESPER_REDIS_URL", raising=False)
        monkeypatch.chdir(tmp_path)
        yield simulator


def test_docs_build_with_no_warning(tmp_path: Path) -> None:
    """`make docs` in its quick form: Sphinx reads every page and docstring with -W (the dummy
    builder writes no HTML; ~7 s against ~15 s for the full build)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "dummy",
            str(DOCS),
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_every_guide_has_code() -> None:
    """Each guide (and the getting-started page) has code the tests run."""
    assert len(RUN) >= 8
    assert all(python_blocks(page) for page in RUN)


def test_getting_started(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    """Create on five devices, wait, list the successes."""
    run_page(DOCS / "getting-started.md")
    out = capsys.readouterr().out
    assert "for 5 devices" in out
    assert out.count(" Command Success\n") == 5


def test_fleet_script(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    """Every device in the file gets one REBOOT, the watch ends done; a re-run sends nothing."""
    Path("fleet.txt").write_text("\n".join(sim.device_ids) + "\n")
    run_page(DOCS / "guides" / "fleet-script.md")
    assert "done" in capsys.readouterr().out.splitlines()[-1]
    run_page(DOCS / "guides" / "fleet-script.md")
    assert all(sim.stats.commands[d, "REBOOT"] == 1 for d in sim.device_ids)


def test_status_poller(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    """The poller watches the REBOOT requests there are, to the end."""
    with httpx.Client(base_url=os.environ["ESPER_BASE_URL"], headers=sim.headers) as http:
        for i in range(3):
            http.post(
                f"/v0/enterprise/{sim.enterprise_id}/command/",
                json={
                    "command_type": "DEVICE",
                    "command": "REBOOT",
                    "devices": sim.device_ids[i * 10 : i * 10 + 10],
                    "device_type": "all",
                },
            ).raise_for_status()
    run_page(DOCS / "guides" / "status-poller.md")
    out = capsys.readouterr().out
    assert "watching 3 requests" in out
    assert out.count("-> Command Success") == 30
    assert "still pending" not in out


def test_testing_guide() -> None:
    """The test in the testing guide passes (it runs in-process, on its own simulator)."""
    run_page(DOCS / "guides" / "testing.md")


def test_processes_guide(sim: Simulator) -> None:
    """The Redis examples build a client and a journal without connecting (`async with` and a
    fan-out would)."""
    namespace = run_page(DOCS / "guides" / "processes.md")
    assert namespace["limit"].backend is not None
    assert namespace["journal"].url == "redis://cache:6379/0"


def test_sync_guide(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    """The blocking facade's example: listing, create, statuses, fan-out, watch."""
    run_page(DOCS / "guides" / "sync.md")
    out = capsys.readouterr().out
    assert "Command Success" in out
    assert all(sim.stats.commands[d, "LOCK"] <= 1 for d in sim.device_ids)
    assert sum(sim.stats.commands[d, "LOCK"] for d in sim.device_ids) == 20


def test_opentelemetry_guide(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    """The OpenTelemetry example records the fan-out, its chunk and its create."""
    run_page(DOCS / "guides" / "opentelemetry.md")
    out = capsys.readouterr().out
    for name in ("esper.commands.create", "esper.fan_out", "esper.fan_out.chunk"):
        assert repr(name) in out


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture
def app_url(sim: Simulator) -> Iterator[str]:
    """The FastAPI guide's app under uvicorn on a free loopback port."""
    # A real module, as `uvicorn app:app` would import: pydantic resolves the body model by it.
    module = types.ModuleType("fastapi_guide_app")
    sys.modules[module.__name__] = module
    for block in python_blocks(DOCS / "guides" / "fastapi.md"):
        exec(compile(block, "fastapi.md", "exec"), module.__dict__)
    app = module.app
    sock = _free_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        assert thread.is_alive(), "uvicorn stopped"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()
        del sys.modules[module.__name__]


def test_fastapi_app_end_to_end(sim: Simulator, app_url: str) -> None:
    """Create through the app, stream the statuses as NDJSON; an unknown request id is a 404
    JSON answer (validated before streaming), bad input a 422 naming the field."""
    devices = sim.device_ids[:25]
    with httpx.Client(base_url=app_url, timeout=20) as http:
        created = http.post("/commands", json={"command": "REBOOT", "devices": devices})
        assert created.status_code == 201, created.text
        assert created.json()["devices"] == 25
        request_id = created.json()["id"]

        streamed = http.get(f"/commands/{request_id}/statuses")
        assert streamed.status_code == 200
        assert streamed.headers["content-type"] == "application/x-ndjson"
        rows = [json.loads(line) for line in streamed.text.splitlines()]
        assert sorted(r["device"] for r in rows) == sorted(devices)

        unknown = uuid.uuid4()
        missing = http.get(f"/commands/{unknown}/statuses")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/json"
        assert missing.json() == {"detail": f"no command request {unknown}"}

        bad = http.post(
            "/commands",
            json={
                "command": "SET_BRIGHTNESS_SCALE",
                "devices": devices[:1],
                "command_args": {"brightness_value": 500},
            },
        )
        assert bad.status_code == 422
        assert "brightness_value" in bad.json()["detail"]
    assert all(sim.stats.commands[d, "REBOOT"] == 1 for d in devices)
    assert sim.stats.calls["create"] == 1
