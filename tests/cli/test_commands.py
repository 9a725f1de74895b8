"""The read commands, `watch`, output modes, errors and exit codes, in-process on loopback."""

from __future__ import annotations

import json
import logging
import re

import pytest

from .conftest import Cli, Served

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _table_rows(text: str) -> list[list[str]]:
    """The body rows of a rich table, cell by cell."""
    return [
        [cell.strip() for cell in line.strip().strip("│").split("│")]
        for line in text.splitlines()
        if line.startswith("│")
    ]


def _send(cli: Cli, *args: str) -> list[str]:
    ran = cli("send", *args, "--output", "json")
    assert ran.code == 0, ran.err
    ids: list[str] = json.loads(ran.out)["request_ids"]
    return ids


def test_help_documents_commands_and_exit_codes(cli: Cli) -> None:
    """--help lists every command and the exit codes; it is not an error."""
    ran = cli("--help")
    assert ran.code == 0
    for command in ("send", "resume", "watch", "requests", "devices", "groups", "simulator"):
        assert command in ran.out
    for code in ("0 ", "1 ", "2 ", "3 ", "4 ", "130"):
        assert f"\n  {code}" in ran.out


def test_the_key_never_shows(cli: Cli, served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither --help nor an error echoes the API key, from the environment or a flag."""
    key = served.sim.api_key
    assert key not in cli("send", "--help").out
    bad = cli("groups", "list", "--api-key", key, "--bogus")
    assert bad.code == 2
    assert key not in bad.err + bad.out
    monkeypatch.setenv("ESPER_API_KEY", "wrong-" + key)
    rejected = cli("groups", "list", "--debug")
    assert rejected.code == 4
    assert key not in rejected.err + rejected.out


def test_groups_list_table_and_json_parse_back(cli: Cli, served: Served) -> None:
    """The table's rows and the JSON array both hold every group, with the API's names."""
    table = cli("groups", "list", "--output", "table")
    assert table.code == 0
    rows = _table_rows(table.out)
    assert sorted(r[0] for r in rows) == sorted(served.sim.group_ids)
    assert {int(r[2].replace(",", "")) for r in rows} <= {
        len(served.sim.group_members(g)) for g in served.sim.group_ids
    }
    listing = json.loads(cli("groups", "list").out)
    assert sorted(g["id"] for g in listing) == sorted(served.sim.group_ids)
    assert {"id", "name", "device_count", "path"} <= set(listing[0])


def test_devices_list_streams_jsonl_with_wire_names(cli: Cli, served: Served) -> None:
    """jsonl is one device per line, --limit is honoured, names are Esper's (softwareInfo)."""
    ran = cli("devices", "list", "--limit", "7", "--output", "jsonl")
    lines = [json.loads(line) for line in ran.out.splitlines()]
    assert len(lines) == 7
    assert all(UUID.fullmatch(d["id"]) for d in lines)
    assert "softwareInfo" in lines[0]
    assert "software_info" not in lines[0]
    group = served.sim.group_ids[0]
    members = json.loads(cli("devices", "list", "--group", group, "--limit", "0").out)
    assert sorted(d["id"] for d in members) == sorted(served.sim.group_members(group))


def test_requests_list_show_and_statuses(cli: Cli, served: Served) -> None:
    """A sent request shows up in the listing, with per-state totals and statuses."""
    ids = served.sim.device_ids[:30]
    (request_id,) = _send(cli, "reboot", *(a for d in ids for a in ("--device", d)))
    listing = json.loads(cli("requests", "list", "--command", "reboot").out)
    assert request_id in [r["id"] for r in listing]
    shown = json.loads(cli("requests", "show", request_id).out)
    assert shown["id"] == request_id
    assert shown["command"] == "REBOOT"
    assert sum(s["total"] for s in shown["status"]) == 30
    table = cli("requests", "show", request_id, "--output", "table")
    assert "REBOOT" in table.out
    assert re.search(r"│ (Initiated|Queued)\s+│\s+\d+", table.out)
    statuses = json.loads(cli("requests", "statuses", request_id, "--limit", "0").out)
    assert sorted(s["device"] for s in statuses) == sorted(ids)
    queued = json.loads(cli("requests", "statuses", request_id, "--state", "queued").out)
    assert all(s["state"] == "Command Queued" for s in queued)
    one = json.loads(cli("requests", "statuses", request_id, "--device", ids[0]).out)
    assert [s["device"] for s in one] == [ids[0]]
    history = json.loads(cli("devices", "history", ids[0]).out)
    assert [h["request"] for h in history] == [request_id]


def test_requests_show_unknown_id_is_one_line(cli: Cli) -> None:
    """An unknown request id exits 1 with a line saying what to check."""
    ran = cli("requests", "show", "11111111-2222-3333-4444-555555555555")
    assert ran.code == 1
    assert len(ran.err.strip().splitlines()) == 1
    assert "not found" in ran.err


@pytest.mark.parametrize("served", ["running"], indirect=True)
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_watch_until_done_table_and_json(cli: Cli, served: Served, backend: str) -> None:
    """watch exits 0 when every device is done; the table and JSON agree with the server."""
    online = [d for d in served.sim.device_ids if served.sim.is_online(d)][:40]
    (request_id,) = _send_stdin(cli, online)
    ran = cli(
        "watch",
        request_id,
        "--timeout",
        "30",
        "--interval",
        "0.05",
        backend=backend,  # type: ignore[arg-type]
    )
    assert ran.code == 0, ran.err
    summary = json.loads(ran.out)
    assert summary["done"] is True
    assert summary["totals"] == {"Command Success": 40}
    table = cli("watch", request_id, "--timeout", "30", "--output", "table")
    assert table.code == 0
    (row,) = [r for r in _table_rows(table.out) if r[0] == request_id]
    assert row[1:3] == ["40", "0"]  # Success, pending
    assert "watch done" in table.out


def _send_stdin(cli: Cli, ids: list[str]) -> list[str]:
    ran = cli("send", "reboot", "--devices-file", "-", stdin="\n".join(ids))
    assert ran.code == 0, ran.err
    request_ids: list[str] = json.loads(ran.out)["request_ids"]
    return request_ids


def test_watch_timeout_exits_3_with_pending(cli: Cli, served: Served) -> None:
    """Devices still in flight at the deadline: exit 3, and the JSON lists them."""
    ids = served.sim.device_ids[:5]
    (request_id,) = _send_stdin(cli, ids)
    ran = cli("watch", request_id, "--timeout", "0")
    assert ran.code == 3
    summary = json.loads(ran.out)
    assert summary["done"] is False
    assert sorted(summary["requests"][0]["pending"]) == sorted(ids)


def test_watch_exit_status_reports_failures(cli: Cli, served: Served) -> None:
    """Cancelled devices are failures only under --exit-status (exit 1), as in `gh run watch`."""
    ids = [d for d in served.sim.device_ids if not served.sim.is_online(d)][:5]  # queued
    (request_id,) = _send_stdin(cli, ids)
    served.sim.cancel_request(request_id)
    assert cli("watch", request_id, "--timeout", "5").code == 0
    ran = cli("watch", request_id, "--timeout", "5", "--exit-status", "--output", "jsonl")
    assert ran.code == 1
    last = json.loads(ran.out.splitlines()[-1])
    assert last["type"] == "watch"
    assert last["totals"] == {"Command Cancelled": 5}


def test_commands_lists_all_and_marks_destructive(cli: Cli) -> None:
    """`commands` lists the 37 commands; WIPE is marked destructive, REBOOT is not."""
    rows = {r["command"]: r["destructive"] for r in json.loads(cli("commands").out)}
    assert len(rows) == 37
    assert rows["WIPE"] is True
    assert rows["REBOOT"] is False


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("send", "rebot", "--device", "{d}"), 2, "did you mean REBOOT"),
        (("send", "brightness", "--device", "{d}"), 2, "SET_BRIGHTNESS_SCALE"),
        (("send", "reboot"), 2, "no targets"),
        (("send", "reboot", "--device", "nope"), 2, "--device 'nope'"),
        (("send", "reboot", "--device", "{d}", "--arg", "novalue"), 2, "expected KEY=VALUE"),
        (("send", "reboot", "--device", "{d}", "--args-json", "[1]"), 2, "JSON object"),
        (("send", "reboot", "--device", "{d}", "--schedule", "often"), 2, "IMMEDIATE, WINDOW"),
        (("send", "reboot", "--device", "{d}", "--concurrency", "0"), 2, "--concurrency"),
        (("send", "set_brightness_scale", "--device", "{d}"), 2, "brightness_value"),
        (("send", "reboot", "--resolve-groups", "--device", "{d}"), 2, "--resolve-groups"),
        (("requests", "statuses", "{d}", "--state", "sleepy"), 2, "in-progress"),
        (("watch", "not-an-id"), 2, "REQUEST_ID 'not-an-id'"),
        (("sned",), 2, 'Did you mean "send"'),
        (("groups", "list", "--output", "xml"), 2, "--output"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    cli: Cli, served: Served, args: tuple[str, ...], code: int, message: str
) -> None:
    """Each bad input exits 2 with one line naming the flag and the rule; nothing is sent."""
    device = served.sim.device_ids[0]
    ran = cli(*(a.replace("{d}", device) for a in args))
    assert ran.code == code, ran.err
    assert message in ran.err
    assert len(ran.err.strip().splitlines()) == 1
    assert "Traceback" not in ran.err
    assert served.sim.stats.requests_created == 0


def test_bad_id_in_a_file_names_file_and_line(cli: Cli, tmp_path: pytest.TempPathFactory) -> None:
    """A bad id in --devices-file names the file and the line number."""
    path = f"{tmp_path}/ids.txt"
    with open(path, "w") as f:
        f.write("# header\n6f0d19d8-f25c-4386-9f90-93bbd96730dd\n\nnot-an-id\n")
    ran = cli("send", "reboot", "--devices-file", path)
    assert ran.code == 2
    assert f"{path}:4: 'not-an-id'" in ran.err
    stdin = cli("send", "reboot", "--devices-file", "-", stdin="oops\n")
    assert "stdin:1: 'oops'" in stdin.err


def test_credentials_and_server_errors(
    cli: Cli, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Missing key: 4; wrong key: 4; wrong enterprise: 1 naming it; no server: 1."""
    monkeypatch.delenv("ESPER_API_KEY")
    missing = cli("groups", "list")
    assert (missing.code, "ESPER_API_KEY" in missing.err) == (4, True)
    wrong = cli("groups", "list", "--api-key", "not-the-key")
    assert (wrong.code, "401" in wrong.err) == (4, True)
    monkeypatch.setenv("ESPER_API_KEY", served.sim.api_key)
    other = cli("groups", "list", "--enterprise", "00000000-0000-0000-0000-000000000001")
    assert other.code == 1
    assert "check the enterprise id" in other.err
    monkeypatch.delenv("ESPER_ENTERPRISE_ID")
    no_enterprise = cli("groups", "list")
    assert (no_enterprise.code, "ESPER_ENTERPRISE_ID" in no_enterprise.err) == (2, True)
    gone = cli(
        "groups",
        "list",
        "--enterprise",
        served.sim.enterprise_id,
        "--base-url",
        "http://127.0.0.1:9/api",
    )
    assert gone.code == 1
    assert "cannot reach the API" in gone.err
    for ran in (missing, wrong, other, no_enterprise, gone):
        assert len(ran.err.strip().splitlines()) == 1, ran.err


def test_debug_shows_the_traceback(cli: Cli) -> None:
    """--debug adds the traceback to the one-line error."""
    ran = cli("requests", "show", "11111111-2222-3333-4444-555555555555", "--debug")
    assert ran.code == 1
    assert "Traceback" in ran.err


def test_run_leaves_the_library_logger_as_it_found_it(cli: Cli) -> None:
    """The command line's log handler and level are undone after each run."""
    logger = logging.getLogger("esper_cmds")
    before = (logger.level, list(logger.handlers))
    assert cli("groups", "list", "--debug").code == 0
    assert (logger.level, list(logger.handlers)) == before
