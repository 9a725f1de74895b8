"""`esper-cmds send` and `resume` in-process against a simulator on loopback."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from .conftest import Cli, Served

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _ids_file(path: Path, ids: list[str]) -> Path:
    path.write_text("# devices to reboot\n\n" + "\n".join(f"{d}  # a comment" for d in ids) + "\n")
    return path


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_send_from_file_delivers_once_and_reports_json(
    cli: Cli, served: Served, tmp_path: Path, backend: str
) -> None:
    """Every device in the file gets one command; the JSON report is parsed back."""
    ids = served.sim.device_ids[:2100]
    journal = tmp_path / "reboot.journal"
    ran = cli(
        *("send", "reboot", "--devices-file", str(_ids_file(tmp_path / "ids.txt", ids))),
        *("--journal", str(journal), "--output", "json"),
        backend=backend,  # type: ignore[arg-type]
    )
    assert ran.code == 0, ran.err
    report = json.loads(ran.out)
    assert report["totals"]["chunks"] == 3
    assert report["totals"]["created"] == 3
    assert report["totals"]["targets"] == 2100
    assert report["journal"] == str(journal)
    assert len(report["request_ids"]) == 3
    assert f"journal: {journal}" in ran.err
    counts = served.sim.stats.commands
    assert all(counts[d, "REBOOT"] == 1 for d in ids)
    assert sum(counts.values()) == 2100
    spec = json.loads((tmp_path / "reboot.journal.spec.json").read_text())
    assert spec["command"] == "REBOOT"
    assert spec["device_type"] == "all"
    assert len(spec["devices"]) == 2100


def test_send_reads_ids_from_stdin_and_args_as_json(cli: Cli, served: Served) -> None:
    """`--devices-file -` reads stdin; `--arg` values are JSON where they parse."""
    ids = served.sim.device_ids[:3]
    ran = cli(
        *("send", "Set-Brightness-Scale", "--devices-file", "-", "--arg", "brightness_value=80"),
        stdin="\n".join(ids) + "\n",
    )
    assert ran.code == 0, ran.err
    report = json.loads(ran.out)  # stdout is not a terminal: JSON without asking
    request_id = report["request_ids"][0]
    shown = cli("requests", "show", request_id)
    assert json.loads(shown.out)["command_args"] == {"brightness_value": 80}
    assert all(served.sim.stats.commands[d, "SET_BRIGHTNESS_SCALE"] == 1 for d in ids)


def test_send_table_output_and_jsonl_lines(cli: Cli, served: Served, tmp_path: Path) -> None:
    """Table mode prints the summary; jsonl prints one object per chunk and a summary."""
    ids = served.sim.device_ids[:1500]
    ran = cli(
        *("send", "REBOOT", "--device", ids[0], "--device", ids[1]),
        *("--devices-file", str(_ids_file(tmp_path / "ids", ids[2:])), "--output", "table"),
    )
    assert ran.code == 0, ran.err
    assert re.search(r"REBOOT: 1,500 targets in 2 requests — 2 created, 0 reconciled", ran.out)
    ran = cli("send", "beep_device", "--group", served.sim.group_ids[0], "--output", "jsonl")
    lines = [json.loads(line) for line in ran.out.splitlines()]
    assert [line["type"] for line in lines] == ["chunk", "summary"]
    assert lines[0]["outcome"] == "created"
    assert UUID.fullmatch(lines[0]["request_id"])
    assert lines[1]["totals"]["created"] == 1


def test_dry_run_sends_nothing_and_prints_the_first_body(cli: Cli, served: Served) -> None:
    """--dry-run validates and prints the plan and the exact first body; the server sees nothing."""
    ids = served.sim.device_ids[:1200]
    before = served.sim.stats
    ran = cli(
        *("send", "reboot", "--devices-file", "-", "--dry-run", "--device-type", "active"),
        stdin="\n".join(ids),
    )
    assert ran.code == 0, ran.err
    plan = json.loads(ran.out)
    assert plan["dry_run"] is True
    assert [c["targets"] for c in plan["chunks"]] == [1000, 200]
    body = plan["first_body"]
    assert body["command"] == "REBOOT"
    assert body["device_type"] == "active"
    assert body["devices"] == ids[:1000]
    after = served.sim.stats
    assert after.requests_created == before.requests_created == 0
    assert sum(after.calls.values()) == sum(before.calls.values())  # not even a read
    table = cli("send", "reboot", "--device", ids[0], "--dry-run", "--output", "table")
    assert "nothing was sent" in table.out
    assert f'"{ids[0]}"' in table.out


def test_dry_run_refuses_bad_arguments(cli: Cli) -> None:
    """The library's validation runs in a dry run too: exit 2, the field and the rule."""
    device = "6f0d19d8-f25c-4386-9f90-93bbd96730dd"
    ran = cli(
        *("send", "set_brightness_scale", "--device", device),
        *("--arg", "brightness_value=500", "--dry-run"),
    )
    assert ran.code == 2
    assert "command_args.brightness_value" in ran.err
    assert "1 to 100" in ran.err


def test_resolve_groups_sends_to_members_and_records_them(
    cli: Cli, served: Served, tmp_path: Path
) -> None:
    """--resolve-groups sends DEVICE requests to the groups' devices, listed in the spec."""
    group = served.sim.group_ids[1]
    members = served.sim.group_members(group)
    journal = tmp_path / "j"
    ran = cli("send", "reboot", "--group", group, "--resolve-groups", "--journal", str(journal))
    assert ran.code == 0, ran.err
    assert json.loads(ran.out)["totals"]["targets"] == len(members)
    spec = json.loads((tmp_path / "j.spec.json").read_text())
    assert sorted(spec["devices"]) == sorted(members)
    assert spec["resolved_groups"] == [group]
    assert all(served.sim.stats.commands[d, "REBOOT"] == 1 for d in members)


def test_complete_journal_sends_nothing_and_exits_1(
    cli: Cli, served: Served, tmp_path: Path
) -> None:
    """Re-running a complete journal says nothing was sent and why; --allow-complete accepts."""
    ids = served.sim.device_ids[:10]
    journal = tmp_path / "once.journal"
    args = ("send", "reboot", *(a for d in ids for a in ("--device", d)), "--journal", str(journal))
    assert cli(*args).code == 0
    again = cli(*args)
    assert again.code == 1
    assert "nothing was sent" in again.err
    assert "--allow-complete" in again.err
    assert json.loads(again.out)["nothing_sent"] is True
    assert cli(*args, "--allow-complete").code == 0
    resumed = cli("resume", str(journal))
    assert resumed.code == 1
    assert "nothing was sent" in resumed.err
    assert all(served.sim.stats.commands[d, "REBOOT"] == 1 for d in ids)


def test_journal_of_another_send_is_refused(cli: Cli, served: Served, tmp_path: Path) -> None:
    """Reusing a journal for other inputs exits 2 before anything is sent."""
    device = served.sim.device_ids[0]
    journal = str(tmp_path / "j")
    assert cli("send", "reboot", "--device", device, "--journal", journal).code == 0
    other = cli("send", "beep-device", "--device", device, "--journal", journal)
    assert other.code == 2
    assert "belongs to another send" in other.err
    assert served.sim.stats.commands[device, "BEEP_DEVICE"] == 0
    other_pace = cli(
        "send", "reboot", "--device", device, "--journal", journal, "--concurrency", "2"
    )
    assert other_pace.code == 1  # the same send at another pace: complete, not refused
    assert "nothing was sent" in other_pace.err


def test_resume_needs_the_spec(cli: Cli, tmp_path: Path) -> None:
    """A journal without a run-spec (or no journal) cannot be resumed: exit 2, one line."""
    assert cli("resume", str(tmp_path / "missing")).code == 2
    journal = tmp_path / "lonely.journal"
    journal.write_text("")
    ran = cli("resume", str(journal))
    assert ran.code == 2
    assert "spec.json is missing" in ran.err
    assert len(ran.err.strip().splitlines()) == 1


def test_destructive_commands_need_yes_without_a_terminal(cli: Cli, served: Served) -> None:
    """WIPE is refused without --yes when nobody can be asked; --yes sends it."""
    device = served.sim.device_ids[0]
    refused = cli("send", "wipe", "--device", device)
    assert refused.code == 2
    assert "pass --yes" in refused.err
    assert served.sim.stats.commands[device, "WIPE"] == 0
    assert cli("send", "wipe", "--device", device, "--yes").code == 0
    assert served.sim.stats.commands[device, "WIPE"] == 1


def test_default_journal_lives_in_the_state_directory(
    cli: Cli, served: Served, tmp_path: Path
) -> None:
    """Without --journal, a new file under $XDG_STATE_HOME/esper-cmds/ with its spec."""
    ran = cli("send", "reboot", "--device", served.sim.device_ids[0])
    journal = Path(json.loads(ran.out)["journal"])
    assert journal.parent == tmp_path / "state" / "esper-cmds"
    assert journal.name.endswith("-reboot-" + journal.name.split("-")[-1])
    assert journal.exists()
    assert journal.with_name(journal.name + ".spec.json").exists()


@pytest.mark.parametrize("served", ["running"], indirect=True)
def test_send_then_watch_until_done(cli: Cli, served: Served) -> None:
    """--watch follows the requests; offline devices count as done with --queued-is-done."""
    ids = served.sim.device_ids[:50]
    ran = cli(
        *("send", "reboot", *(a for d in ids for a in ("--device", d))),
        *("--watch", "--queued-is-done", "--timeout", "30", "--interval", "0.05"),
    )
    assert ran.code == 0, ran.err
    report = json.loads(ran.out)
    assert report["watch"]["done"] is True
    totals = report["watch"]["totals"]
    assert sum(totals.values()) == 50
    assert set(totals) <= {"Command Queued", "Command Initiated", "Command Success"}


def test_dry_run_carries_the_schedule_and_its_arguments(cli: Cli, served: Served) -> None:
    """--schedule in any case and --schedule-arg values reach the body; a WINDOW needs them."""
    device = served.sim.device_ids[0]
    args = [
        *("name=nightly", "start_datetime=2026-12-01T22:00:00Z"),
        *("end_datetime=2026-12-02T04:00:00Z", "time_type=console"),
        *("window_start_time=22:00:00", "window_end_time=04:00:00"),
    ]
    ran = cli(
        *("send", "reboot", "--device", device, "--schedule", "window", "--dry-run"),
        *(a for arg in args for a in ("--schedule-arg", arg)),
    )
    assert ran.code == 0, ran.err
    body = json.loads(ran.out)["first_body"]
    assert body["schedule"] == "WINDOW"
    assert body["schedule_args"]["window_start_time"] == "22:00:00"
    assert body["schedule_args"]["start_datetime"] == "2026-12-01T22:00:00Z"
    missing = cli("send", "reboot", "--device", device, "--schedule", "WINDOW", "--dry-run")
    assert missing.code == 2
    assert "schedule_args" in missing.err
