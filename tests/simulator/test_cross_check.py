"""Cross-check: the client's validation and the simulator's agree on random create bodies.

Hypothesis draws create bodies, valid and invalid, for every command and every schedule. Each
goes through the client's pre-send validation (`build_create_payload`) and, separately, raw over
loopback HTTP to the simulator. The two accept/reject decisions must match, except where a
deviation listed in ``docs/commands.md`` (and in `DEVIATIONS` below) explains the difference.
This test is what keeps the two sets of rules, which share no code, from drifting apart.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esper_cmds import Command, ValidationError
from esper_cmds.simulator import Simulator

from ..core.test_validation import VALID_ARGS, build_create_payload

EXAMPLES = 400

# The arguments each command with documented arguments takes (docs/commands.md); any other key
# is a typo to the client. Commands not listed take anything.
ARGUMENTS: dict[str, set[str]] = {
    c.value: set(args)
    for c, args in VALID_ARGS.items()
    if args and c is not Command.UPDATE_DEVICE_CONFIG
}
ARGUMENTS.update(
    {
        "CAPTURE_SCREENSHOT": {"tag"},
        "NOTIFY_DEVICE": {"title", "message", "url"},
        "SET_WIFI_STATE": {"wifi_state", "wifi_revert_timeout"},
        "SET_STATIC_IP": ARGUMENTS["SET_STATIC_IP"] | {"secondary_dns"},
    }
)
OPTIONAL = {"tag": "shot", "url": "https://example.com", "wifi_revert_timeout": 30}
ENUMS = {
    "command": [c.value for c in Command],
    "command_type": ["DEVICE", "GROUP", "DYNAMIC"],
    "device_type": ["active", "inactive", "all"],
    "schedule": ["IMMEDIATE", "WINDOW", "RECURRING"],
}
BAD_VALUES: list[Any] = [
    None, "", " ", 0, -1, 1, 3, 101, 4999, 1_800_001, 2.5, True, False, "x", "HIDE", "LOCKED",
    "Not/AZone", "Europe/Paris", "en-US", "de_DE", [], {}, ["a"], {"ssid": "s"}, "ENABLED",
]  # fmt: skip
START = dt.datetime(2030, 6, 1, tzinfo=dt.UTC)


def _case_variant(value: object, choices: list[str]) -> bool:
    """`value` names a choice in another case or with spaces, but is not the choice itself."""
    return (
        isinstance(value, str)
        and value not in choices
        and value.strip().casefold() in {c.casefold() for c in choices}
    )


def _differs_only_in_case(body: dict[str, Any], fleet: Simulator) -> bool:
    sched = body.get("schedule_args")
    time_type = sched.get("time_type") if isinstance(sched, dict) else None
    return any(_case_variant(body.get(k), v) for k, v in ENUMS.items()) or _case_variant(
        time_type, ["console", "device"]
    )


def _unknown_argument(body: dict[str, Any], fleet: Simulator) -> bool:
    args, command = body.get("command_args"), body.get("command")
    if not isinstance(args, dict) or not isinstance(command, str):
        return False
    known = ARGUMENTS.get(command.strip().upper())
    return known is not None and bool(set(args) - known)


def _unknown_target(body: dict[str, Any], fleet: Simulator) -> bool:
    known = set(fleet.device_ids) | set(fleet.group_ids)
    ids = [*(body.get("devices") or []), *(body.get("groups") or [])]
    return any(isinstance(i, str) and _is_uuid(i) and str(uuid.UUID(i)) not in known for i in ids)


def _dynamic_with_groups(body: dict[str, Any], fleet: Simulator) -> bool:
    return body.get("command_type") == "DYNAMIC" and bool(body.get("groups"))


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


Deviation = tuple[str, str, Callable[[dict[str, Any], Simulator], bool]]
DEVIATIONS: dict[str, Deviation] = {
    "case": (
        "client accepts",
        "Enum values in any case (and padded with spaces) are normalised by the client; the "
        "simulator, like Esper's choice fields, takes only the exact spelling.",
        _differs_only_in_case,
    ),
    "unknown-target": (
        "client accepts",
        "Only the server knows the fleet: a well-formed id of no device or group passes the "
        "client and is refused by the simulator.",
        _unknown_target,
    ),
    "unknown-argument": (
        "simulator accepts",
        "A command_args key the command does not take is refused by the client as a likely "
        "typo; the simulator stores it, as Esper's JSON field does.",
        _unknown_argument,
    ),
    "dynamic-groups": (
        "simulator accepts",
        "DYNAMIC with groups: the client sends DYNAMIC requests with devices only; the "
        "simulator also accepts groups and expands them.",
        _dynamic_with_groups,
    ),
}


@st.composite
def _enum(draw: st.DrawFn, name: str) -> Any:
    choices = ENUMS[name]
    kind = draw(st.sampled_from(["ok"] * 20 + ["case", "bad", "type"]))
    value = draw(st.sampled_from(choices))
    if kind == "case":
        return draw(st.sampled_from([value.lower(), value.upper(), f" {value} ", value.title()]))
    if kind == "bad":
        return draw(st.sampled_from(["REBOT", "LATER", "online", "FLEET", "", "SELF_DESTRUCT"]))
    if kind == "type":
        return draw(st.sampled_from([{}, [value], 3, True]))
    return value


@st.composite
def _command_args(draw: st.DrawFn, command: object) -> Any:
    if draw(st.integers(0, 19)) == 0:
        return draw(st.sampled_from([None, [], "x", 5]))
    try:
        args = dict(VALID_ARGS[Command(str(command))])
    except ValueError:
        args = {}
    if command == "SET_STATIC_IP" and draw(st.booleans()):
        args = {"interface": "eth0", "dhcp_enabled": True}
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 2]))):
        op = draw(st.sampled_from(["drop", "bad", "bad", "extra", "typo", "optional"]))
        keys = sorted(args)
        if op == "drop" and keys:
            del args[draw(st.sampled_from(keys))]
        elif op == "bad" and keys:
            args[draw(st.sampled_from(keys))] = draw(st.sampled_from(BAD_VALUES))
        elif op == "typo" and keys:
            key = draw(st.sampled_from(keys))
            args[key[:-1]] = args.pop(key)
        elif op == "extra":
            args[draw(st.sampled_from(["colour", "tag", "url", "locale"]))] = "x"
        elif op == "optional":
            key = draw(st.sampled_from(sorted(OPTIONAL)))
            args[key] = draw(st.sampled_from([OPTIONAL[key], *BAD_VALUES[:6]]))
    return args


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@st.composite
def _schedule_args(draw: st.DrawFn) -> Any:
    kind = draw(st.integers(0, 29))
    if kind == 0:
        return draw(st.sampled_from([[], "x", 3]))
    if kind == 1:
        return None
    args: dict[str, Any] = {
        "start_datetime": _iso(START),
        "end_datetime": _iso(START + dt.timedelta(days=draw(st.integers(1, 30)))),
    }
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):
        op = draw(
            st.sampled_from(
                ["drop", "naive", "garbage", "reverse", "time_type", "name", "days", "window",
                 "extra", "offset"]
            )
        )  # fmt: skip
        if op == "drop":
            args.pop(draw(st.sampled_from(["start_datetime", "end_datetime"])), None)
        elif op == "naive":
            args["start_datetime"] = "2030-06-01T00:00:00"
        elif op == "garbage":
            args["end_datetime"] = draw(st.sampled_from(["soon", 1717200000, "", "2030-13-01"]))
        elif op == "reverse":
            args["end_datetime"] = _iso(START - dt.timedelta(hours=1))
        elif op == "offset":
            args["start_datetime"] = "2030-06-01T08:00:00+02:00"
        elif op == "time_type":
            args["time_type"] = draw(st.sampled_from(["console", "device", "DEVICE", "utc", 5]))
        elif op == "name":
            args["name"] = draw(st.sampled_from(["after-hours", "", 5]))
        elif op == "days":
            args["days"] = draw(
                st.sampled_from(
                    [["Monday"], ["saturday", "SUNDAY"], [], "Monday", [1], ["Funday"], None]
                )
            )
        elif op == "window":
            opens, closes = draw(
                st.sampled_from(
                    [("09:00", "10:00"), ("22:00", "02:00:00"), ("09:00", None),
                     (None, "10:00"), ("25:00", "10:00"), ("09:00", "09:00:00"), ("9am", "10:00")]
                )
            )  # fmt: skip
            args["window_start_time"], args["window_end_time"] = opens, closes
        elif op == "extra":
            args["jitter"] = 5
    return {k: v for k, v in args.items() if v is not None}


@st.composite
def _ids(draw: st.DrawFn, known: list[str]) -> list[Any]:
    ids: list[Any] = draw(st.lists(st.sampled_from(known), min_size=1, max_size=3))
    op = draw(st.sampled_from(["ok"] * 14 + ["upper", "dup", "bad", "unknown", "type", "empty"]))
    if op == "upper":
        ids[0] = ids[0].upper()
    elif op == "dup":
        ids.append(ids[0])
    elif op == "bad":
        ids.append("not-a-uuid")
    elif op == "unknown":
        ids.append(str(uuid.UUID(int=draw(st.integers(1, 2**64)))))
    elif op == "type":
        ids.append(draw(st.sampled_from([5, None, {"id": 1}])))
    elif op == "empty":
        ids = []
    return ids


@st.composite
def create_bodies(draw: st.DrawFn, fleet: Simulator) -> dict[str, Any]:
    """A create body: mostly valid, with one or two faults often enough to exercise each rule."""
    body: dict[str, Any] = {"command_type": draw(_enum("command_type"))}
    body["command"] = draw(_enum("command"))
    target = draw(st.sampled_from(["devices"] * 3 + ["groups", "both"]))
    if target in ("devices", "both"):
        body["devices"] = draw(_ids(fleet.device_ids))
    if target in ("groups", "both"):
        body["groups"] = draw(_ids(fleet.group_ids))
    if draw(st.booleans()):
        body["device_type"] = draw(_enum("device_type"))
    body["command_args"] = draw(_command_args(body["command"]))
    if draw(st.integers(0, 3)):
        body["schedule"] = draw(_enum("schedule"))
    if body.get("schedule") not in (None, "IMMEDIATE") or draw(st.integers(0, 5)) == 0:
        body["schedule_args"] = draw(_schedule_args())
    notify = body["command"] == "NOTIFY_DEVICE" and isinstance(body.get("schedule_args"), dict)
    if notify and draw(st.booleans()):
        body["schedule_args"] |= {"name": "n", "time_type": "device"}
    return body


def client_accepts(body: dict[str, Any]) -> tuple[bool, str]:
    """Whether the client's validation lets `body` through (and why not)."""
    try:
        build_create_payload(
            command=body.get("command"),
            devices=body.get("devices"),
            groups=body.get("groups"),
            command_type=body.get("command_type"),
            device_type=body.get("device_type", "active"),
            command_args=body.get("command_args"),
            schedule=body.get("schedule", "IMMEDIATE"),
            schedule_args=body.get("schedule_args"),
        )
    except ValidationError as exc:
        return False, str(exc)
    return True, ""


@pytest.fixture(scope="module")
def fleet() -> Iterator[tuple[Simulator, httpx.Client]]:
    """A small fleet served on loopback, and a plain HTTP client for raw bodies."""
    sim = Simulator(devices=12, groups=3, offline=0.25, seed=11)
    with (
        sim.serve_in_thread() as base_url,
        httpx.Client(base_url=base_url, headers=sim.headers) as http,
    ):
        yield sim, http


def test_client_and_simulator_agree_on_random_creates(
    fleet: tuple[Simulator, httpx.Client],
) -> None:
    """Accept/reject agree on every generated body, or a listed deviation explains why not."""
    sim, http = fleet
    path = f"/v0/enterprise/{sim.enterprise_id}/command/"
    outcomes: Counter[str] = Counter()
    unexplained: list[str] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(body=create_bodies(sim))
    def check(body: dict[str, Any]) -> None:
        client_ok, why = client_accepts(body)
        response = http.post(
            path, content=json.dumps(body), headers={"Content-Type": "application/json"}
        )
        assert response.status_code in (201, 400), response.text
        sim_ok = response.status_code == 201
        if client_ok == sim_ok:
            outcomes["agree: both accept" if sim_ok else "agree: both refuse"] += 1
            return
        direction = "client accepts" if client_ok else "simulator accepts"
        reasons = [
            name
            for name, (side, _, applies) in DEVIATIONS.items()
            if side == direction and applies(body, sim)
        ]
        if reasons:
            outcomes[f"deviation: {reasons[0]}"] += 1
            return
        errors = response.json().get("errors") if not sim_ok else None
        unexplained.append(f"{direction}: {body}\n  client: {why}\n  simulator: {errors}")

    check()
    print("\ncross-check outcomes:", dict(sorted(outcomes.items())))
    assert not unexplained, "\n".join(unexplained[:10])
    assert sum(outcomes.values()) == EXAMPLES
    # The draw must exercise both sides of the rules, not only the happy path.
    assert outcomes["agree: both accept"] >= EXAMPLES // 10
    assert outcomes["agree: both refuse"] >= EXAMPLES // 4


GRID_VALUES: list[Any] = [
    *BAD_VALUES, -2, 2, 4, 5, 99, 100, 5000, 1_800_000, 2**31 - 1, 2**31, "SHOW", "DISABLE",
    "UNLOCKED", "DISABLED", "PERMISSION_GRANT_STATE_DENIED", "zh_Hans_CN", "America/New_York",
    [{"ssid": "s"}], "10.0.0.1", "eth0",
]  # fmt: skip
SCHEDULE_GRID: dict[str, list[Any]] = {
    "start_datetime": [None, "soon", "2030-06-01T00:00:00", "2030-06-01T02:00:00+02:00", 5],
    "end_datetime": [None, "", "2030-05-01T00:00:00Z", "2030-07-01T00:00:00-07:00"],
    "time_type": ["console", "device", "Device", "utc", 1, ""],
    "name": ["n", "", " ", 0, ["n"]],
    "days": [["Monday"], ["sunday", "MONDAY"], [], "Monday", [1], ["Mon"], None],
    "window_start_time": ["09:00", "9:00", "24:00", "23:59:59", "09:00:60", 900],
    "window_end_time": ["10:00", "10:00:00", "99:00", ""],
}


def _decisions(
    sim: Simulator, http: httpx.Client, bodies: list[dict[str, Any]]
) -> tuple[Counter[str], list[str]]:
    path = f"/v0/enterprise/{sim.enterprise_id}/command/"
    outcomes: Counter[str] = Counter()
    unexplained: list[str] = []
    for body in bodies:
        client_ok, why = client_accepts(body)
        response = http.post(path, json=body)
        assert response.status_code in (201, 400), response.text
        sim_ok = response.status_code == 201
        if client_ok == sim_ok:
            outcomes["agree"] += 1
            continue
        direction = "client accepts" if client_ok else "simulator accepts"
        reasons = [
            n for n, (side, _, ok) in DEVIATIONS.items() if side == direction and ok(body, sim)
        ]
        if reasons:
            outcomes[f"deviation: {reasons[0]}"] += 1
            continue
        errors = None if sim_ok else response.json()["errors"]
        unexplained.append(f"{direction}: {body}\n  client: {why}\n  simulator: {errors}")
    return outcomes, unexplained


def test_every_argument_and_schedule_value_on_a_grid(
    fleet: tuple[Simulator, httpx.Client],
) -> None:
    """Every command's every argument, and every schedule argument, set to each value of a grid
    of boundary and wrong-type values: the decisions agree (or a listed deviation explains)."""
    sim, http = fleet
    device = sim.device_ids[0]
    bodies: list[dict[str, Any]] = []
    for command, valid in VALID_ARGS.items():
        names = sorted({*valid, *ARGUMENTS.get(command.value, ())}) or ["anything"]
        for name in names:
            for value in GRID_VALUES:
                args = {**valid, name: value}
                bodies.append(
                    {"command_type": "DEVICE", "devices": [device], "command": command.value,
                     "command_args": {k: v for k, v in args.items() if v is not None}}
                )  # fmt: skip
    base = {"start_datetime": "2030-06-01T00:00:00Z", "end_datetime": "2030-06-30T00:00:00Z"}
    for schedule in ("IMMEDIATE", "WINDOW", "RECURRING"):
        for name, values in SCHEDULE_GRID.items():
            for value in values:
                args = {**base, name: value}
                if name == "window_start_time":
                    args.setdefault("window_end_time", "10:00")
                if name == "window_end_time":
                    args.setdefault("window_start_time", "22:00")
                bodies.append(
                    {"command_type": "DEVICE", "devices": [device], "command": "REBOOT",
                     "schedule": schedule,
                     "schedule_args": {k: v for k, v in args.items() if v is not None}}
                )  # fmt: skip
    outcomes, unexplained = _decisions(sim, http, bodies)
    print("\ngrid outcomes:", dict(sorted(outcomes.items())), "of", len(bodies))
    assert not unexplained, "\n".join(unexplained[:10])
    assert outcomes["agree"] >= len(bodies) * 0.9
