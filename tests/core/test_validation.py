"""Client-side validation: every rule refuses one wrong value and accepts one right value."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from esper_cmds import (
    Command,
    CommandArgs,
    CommandSpec,
    CommandType,
    Schedule,
    ScheduleArgs,
    TimeType,
    ValidationError,
)
from esper_cmds._converter import encode_create
from esper_cmds._validation import (
    MAX_DEVICES_PER_REQUEST,
    MAX_GROUPS_PER_REQUEST,
    parse_uuid,
    parse_uuids,
    request_targets,
)

from .._support import DEVICE_A, DEVICE_B, GROUP_A

UTC = dt.UTC
START = dt.datetime(2030, 6, 1, tzinfo=UTC)
END = dt.datetime(2030, 6, 30, tzinfo=UTC)


def build_create_payload(
    *, devices: Any = None, groups: Any = None, **fields: Any
) -> dict[str, Any]:
    """What ``commands.create`` sends: the spec, then the targets, validated; the JSON body."""
    spec = CommandSpec(**fields)
    kind, device_ids, group_ids = request_targets(spec.command_type, devices, groups)
    return encode_create(spec, kind, device_ids, group_ids)[0]


# A valid set of arguments for every one of the 37 commands.
VALID_ARGS: dict[Command, dict[str, Any]] = {
    Command.ADD_TO_WHITELIST: {"package_name": "com.android.chrome"},
    Command.ADD_WIFI_AP: {"wifi_access_points": [{"ssid": "lobby", "password": "x"}]},
    Command.CLEAR_APP_DATA: {"package_name": "com.example.app"},
    Command.INSTALL: {"app_version": "a1b2c3"},
    Command.LOCK: {},
    Command.REBOOT: {},
    Command.REMOVE_FROM_WHITELIST: {"package_name": "com.android.chrome"},
    Command.REMOVE_WIFI_AP: {"wifi_access_points": [{"ssid": "lobby"}]},
    Command.SET_APP_PERMISSION: {
        "package_name": "com.example.app",
        "grant_state": "PERMISSION_GRANT_STATE_GRANTED",
        "permission": "android.permission.CAMERA",
    },
    Command.SET_APP_STATE: {"package_name": "com.example.app", "app_state": "HIDE"},
    Command.SET_BLUETOOTH_STATE: {"bluetooth_state": True},
    Command.SET_BRIGHTNESS_SCALE: {"brightness_value": 50},
    Command.SET_DEVICE_LOCKDOWN_STATE: {"state": "LOCKED", "message": "Closed for cleaning"},
    Command.SET_GPS_STATE: {"gps_state": 3},
    Command.SET_KIOSK_APP: {"package_name": "com.example.kiosk"},
    Command.SET_NEW_POLICY: {"policy_url": "https://acme-api.esper.cloud/api/policy/7/"},
    Command.SET_ROTATION_STATE: {"rotate_state": 1},
    Command.SET_SCREEN_OFF_TIMEOUT: {"screen_off_timeout": 60000},
    Command.SET_STREAM_VOLUME: {"stream": 3, "volume_level": 70},
    Command.SET_TIMEZONE: {"timezone_string": "Europe/Berlin"},
    Command.SET_WIFI_STATE: {"wifi_state": False},
    Command.UNINSTALL: {"package_name": "com.example.app"},
    Command.UPDATE_DEVICE_CONFIG: {"custom_settings_config": {"dpcParams": []}},
    Command.UPDATE_HEARTBEAT: {},
    Command.UPDATE_LATEST_DPC: {},
    Command.WIPE: {},
    Command.RESET_LOCKSCREEN_PASSWORD: {"new_lockscreen_password": "2468"},
    Command.UPDATE_BLUEPRINT: {},
    Command.CAPTURE_SCREENSHOT: {},
    Command.NOTIFY_DEVICE: {"title": "Hello", "message": "Shift starts at 9"},
    Command.SET_DEVICE_LANGUAGE: {"locale": "en_US"},
    Command.SET_ETHERNET_SETTINGS: {},
    Command.SET_STATIC_IP: {
        "interface": "eth0",
        "dhcp_enabled": False,
        "static_ip": "10.0.0.20",
        "primary_dns": "1.1.1.1",
        "subnet_mask": "255.255.255.0",
        "gateway": "10.0.0.1",
    },
    Command.BEEP_DEVICE: {},
    Command.SET_APP_NOTIFICATIONS: {
        "package_name": "com.example.app",
        "app_notifications_state": "DISABLED",
    },
    Command.USE_ONLY_SAVED_WIFI_AP: {"use_only_saved_ap": True},
    Command.CONVERGE: {},
}

# (command, argument, a wrong value, a right value): one row per rule of the docs page.
RULES: list[tuple[Command, str, Any, Any]] = [
    (Command.ADD_TO_WHITELIST, "package_name", "", "com.a"),
    (Command.CLEAR_APP_DATA, "package_name", 42, "com.a"),
    (Command.REMOVE_FROM_WHITELIST, "package_name", "  ", "com.a"),
    (Command.SET_KIOSK_APP, "package_name", "", "com.kiosk"),
    (Command.UNINSTALL, "package_name", "", "com.a"),
    (Command.ADD_WIFI_AP, "wifi_access_points", [], [{"ssid": "s"}]),
    (Command.ADD_WIFI_AP, "wifi_access_points", "lobby", {"ssid": "s"}),
    (Command.REMOVE_WIFI_AP, "wifi_access_points", 7, [{"ssid": "s"}]),
    (Command.REMOVE_WIFI_AP, "wifi_access_points", {}, {"ssid": "s"}),
    (Command.INSTALL, "app_version", "", "v-1"),
    (Command.SET_APP_PERMISSION, "package_name", "", "com.a"),
    (Command.SET_APP_PERMISSION, "grant_state", "GRANTED", "PERMISSION_GRANT_STATE_DENIED"),
    (Command.SET_APP_PERMISSION, "grant_state", "", "PERMISSION_GRANT_STATE_DEFAULT"),
    (Command.SET_APP_PERMISSION, "permission", "", "android.permission.CAMERA"),
    (Command.SET_APP_STATE, "app_state", "hide", "SHOW"),
    (Command.SET_APP_STATE, "app_state", "REMOVE", "DISABLE"),
    (Command.SET_APP_STATE, "package_name", "", "com.a"),
    (Command.SET_APP_NOTIFICATIONS, "app_notifications_state", "ON", "ENABLED"),
    (Command.SET_APP_NOTIFICATIONS, "package_name", "", "com.a"),
    (Command.SET_BLUETOOTH_STATE, "bluetooth_state", "ON", True),
    (Command.SET_WIFI_STATE, "wifi_state", 1, True),
    (Command.SET_WIFI_STATE, "wifi_revert_timeout", 0, 1),
    (Command.USE_ONLY_SAVED_WIFI_AP, "use_only_saved_ap", "yes", False),
    (Command.SET_BRIGHTNESS_SCALE, "brightness_value", 0, 1),
    (Command.SET_BRIGHTNESS_SCALE, "brightness_value", 101, 100),
    (Command.SET_BRIGHTNESS_SCALE, "brightness_value", 50.0, 50),
    (Command.SET_BRIGHTNESS_SCALE, "brightness_value", True, 2),
    (Command.SET_DEVICE_LOCKDOWN_STATE, "state", "LOCK", "UNLOCKED"),
    (Command.SET_DEVICE_LOCKDOWN_STATE, "message", "", "Back soon"),
    (Command.SET_GPS_STATE, "gps_state", 5, 4),
    (Command.SET_GPS_STATE, "gps_state", -1, 0),
    (Command.SET_ROTATION_STATE, "rotate_state", 3, 2),
    (Command.SET_ROTATION_STATE, "rotate_state", "1", 0),
    (Command.SET_SCREEN_OFF_TIMEOUT, "screen_off_timeout", 4999, 5000),
    (Command.SET_SCREEN_OFF_TIMEOUT, "screen_off_timeout", 1_800_001, 1_800_000),
    (Command.SET_SCREEN_OFF_TIMEOUT, "screen_off_timeout", 0, -1),
    (Command.SET_SCREEN_OFF_TIMEOUT, "screen_off_timeout", -2, -1),
    (Command.SET_STREAM_VOLUME, "stream", 4, 0),
    (Command.SET_STREAM_VOLUME, "volume_level", 101, 0),
    (Command.SET_STREAM_VOLUME, "volume_level", -1, 100),
    (Command.SET_NEW_POLICY, "policy_url", "", "https://x/policy/1/"),
    (Command.SET_TIMEZONE, "timezone_string", 3, "America/New_York"),
    (Command.SET_TIMEZONE, "timezone_string", "Not/AZone", "Asia/Kolkata"),
    (Command.SET_TIMEZONE, "timezone_string", "../../etc/passwd", "UTC"),
    (Command.RESET_LOCKSCREEN_PASSWORD, "new_lockscreen_password", "", "1357"),
    (Command.CAPTURE_SCREENSHOT, "tag", "", "before-update"),
    (Command.NOTIFY_DEVICE, "title", "", "Hi"),
    (Command.NOTIFY_DEVICE, "message", None, "Body"),
    (Command.NOTIFY_DEVICE, "url", "", "https://example.com/shift"),
    (Command.SET_DEVICE_LANGUAGE, "locale", "english", "zh_Hans_CN"),
    (Command.SET_DEVICE_LANGUAGE, "locale", "en-US", "de_DE"),
    (Command.SET_STATIC_IP, "interface", "", "wlan0"),
    (Command.SET_STATIC_IP, "dhcp_enabled", "no", True),
    # The docs never restrict the address text: any non-empty string is sent (decision table).
    (Command.SET_STATIC_IP, "static_ip", "", "10.0.0.30"),
    (Command.SET_STATIC_IP, "primary_dns", 8, "dns.google"),
    (Command.SET_STATIC_IP, "subnet_mask", "", "255.255.0.0"),
    (Command.SET_STATIC_IP, "gateway", " ", "fe80::1"),
    (Command.SET_STATIC_IP, "secondary_dns", "", "8.8.4.4"),
]

# The arguments each command must have (by the docs page).
REQUIRED = sorted(
    {
        (command, name)
        for command, name, _, _ in RULES
        if name not in {"wifi_revert_timeout", "tag", "url", "secondary_dns"}
    }
)


def create(command: Command | str, args: Any = None, **kwargs: Any) -> dict[str, Any]:
    """Build a create body for one device unless targets are given."""
    if "devices" not in kwargs and "groups" not in kwargs:
        kwargs["devices"] = [DEVICE_A]
    return build_create_payload(command=command, command_args=args, **kwargs)


def test_every_command_has_valid_arguments_listed() -> None:
    """The table below covers all 37 commands (a new command needs a row)."""
    assert set(VALID_ARGS) == set(Command)


@pytest.mark.parametrize("command", list(Command))
def test_all_37_commands_are_accepted_with_valid_arguments(command: Command) -> None:
    """Each command with its valid arguments builds a body that carries them unchanged."""
    payload = create(command, VALID_ARGS[command])
    assert payload["command"] == command.value
    assert payload["command_args"] == VALID_ARGS[command]


@pytest.mark.parametrize(("command", "name", "bad", "good"), RULES)
def test_each_argument_rule_refuses_a_wrong_value_and_accepts_a_right_one(
    command: Command, name: str, bad: Any, good: Any
) -> None:
    """The wrong value is refused naming the argument; the right one is sent."""
    with pytest.raises(ValidationError) as caught:
        create(command, {**VALID_ARGS[command], name: bad})
    assert caught.value.field == f"command_args.{name}"
    if bad is not None:
        assert caught.value.value == bad
    assert caught.value.rule
    payload = create(command, {**VALID_ARGS[command], name: good})
    assert payload["command_args"][name] == good


@pytest.mark.parametrize(("command", "name"), REQUIRED)
def test_missing_required_argument_is_refused(command: Command, name: str) -> None:
    """Leaving out a required argument names it and the command that needs it."""
    args = {k: v for k, v in VALID_ARGS[command].items() if k != name}
    with pytest.raises(ValidationError, match=f"is required by {command.value}") as caught:
        create(command, args)
    assert caught.value.field == f"command_args.{name}"


def test_command_args_may_be_a_command_args_instance() -> None:
    """`CommandArgs` is validated like a mapping and sent without its unset fields."""
    payload = create(Command.SET_BRIGHTNESS_SCALE, CommandArgs(brightness_value=30))
    assert payload["command_args"] == {"brightness_value": 30}
    with pytest.raises(ValidationError, match="brightness_value"):
        create(Command.SET_BRIGHTNESS_SCALE, CommandArgs(brightness_value=300))


@pytest.mark.parametrize(("bad", "match"), [(["x"], "CommandArgs or a mapping"), ({1: 2}, "keys")])
def test_command_args_of_the_wrong_type_are_refused(bad: Any, match: str) -> None:
    """command_args must be a mapping with string keys."""
    with pytest.raises(ValidationError, match=match):
        create(Command.REBOOT, bad)


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("command", {"command": "SELF_DESTRUCT"}),
        ("command", {"command": 7}),
        ("device_type", {"command": "REBOOT", "device_type": "online"}),
        ("schedule", {"command": "REBOOT", "schedule": "LATER"}),
        ("command_type", {"command": "REBOOT", "command_type": "FLEET"}),
    ],
)
def test_enum_arguments_are_refused_when_unknown(field: str, kwargs: dict[str, Any]) -> None:
    """An unknown command, device type, schedule or command type lists the choices."""
    kwargs.setdefault("devices", [DEVICE_A])
    with pytest.raises(ValidationError, match="must be one of") as caught:
        build_create_payload(**kwargs)
    assert caught.value.field == field


def test_enum_arguments_accept_members_and_strings_alike() -> None:
    """A member and its string give the same body."""
    by_member = create(Command.REBOOT, device_type="all", schedule=Schedule.IMMEDIATE)
    by_string = create("REBOOT", device_type="all", schedule="IMMEDIATE")
    assert by_member == by_string
    assert by_member["device_type"] == "all"


# -- targets ------------------------------------------------------------------------------------


def test_devices_infer_device_and_groups_infer_group() -> None:
    """Without a command type, devices mean DEVICE and groups mean GROUP."""
    assert create(Command.REBOOT, devices=[DEVICE_A])["command_type"] == "DEVICE"
    body = create(Command.REBOOT, groups=[GROUP_A])
    assert body["command_type"] == "GROUP"
    assert body["groups"] == [GROUP_A]
    assert "devices" not in body


def test_dynamic_when_asked_targets_devices() -> None:
    """DYNAMIC is used only when asked, with a device list."""
    body = create(Command.REBOOT, devices=[DEVICE_A, DEVICE_B], command_type=CommandType.DYNAMIC)
    assert body["command_type"] == "DYNAMIC"
    assert body["devices"] == [DEVICE_A, DEVICE_B]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"devices": [DEVICE_A], "groups": [GROUP_A]}, "groups"),
        ({"devices": [], "groups": []}, "devices"),
        ({"devices": [DEVICE_A], "command_type": "GROUP"}, "groups"),
        ({"groups": [GROUP_A], "devices": [DEVICE_A], "command_type": "GROUP"}, "devices"),
        ({"groups": [GROUP_A], "command_type": "DEVICE"}, "devices"),
        ({"devices": [DEVICE_A], "groups": [GROUP_A], "command_type": "DEVICE"}, "groups"),
        ({"groups": [GROUP_A], "command_type": "DYNAMIC"}, "devices"),
    ],
)
def test_command_type_inconsistent_with_targets_is_refused(
    kwargs: dict[str, Any], field: str
) -> None:
    """A command type that does not match the targets (or no targets) is refused."""
    with pytest.raises(ValidationError) as caught:
        create(Command.REBOOT, **kwargs)
    assert caught.value.field == field


def test_malformed_uuid_names_its_index() -> None:
    """A malformed id names the list and its position."""
    with pytest.raises(ValidationError, match="must be a UUID") as caught:
        create(Command.REBOOT, devices=[DEVICE_A, DEVICE_B, "5b7c1e0a-nope"])
    assert caught.value.field == "devices[2]"
    assert caught.value.value == "5b7c1e0a-nope"
    with pytest.raises(ValidationError) as caught:
        create(Command.REBOOT, groups=[42])
    assert caught.value.field == "groups[0]"


def test_uuid_objects_and_strings_are_both_accepted() -> None:
    """Ids may be `uuid.UUID` or text; both are sent in canonical form."""
    body = create(Command.REBOOT, devices=[uuid.UUID(DEVICE_A), DEVICE_B.upper()])
    assert body["devices"] == [DEVICE_A, DEVICE_B]


def test_a_single_id_string_instead_of_a_list_is_refused() -> None:
    """A bare string is refused rather than read character by character."""
    with pytest.raises(ValidationError, match="list of UUIDs") as caught:
        create(Command.REBOOT, devices=DEVICE_A)
    assert caught.value.field == "devices"


def test_duplicate_ids_are_sent_once() -> None:
    """The same device twice (in any spelling) is one target, first position kept."""
    body = create(Command.REBOOT, devices=[DEVICE_A, DEVICE_B, DEVICE_A.upper(), DEVICE_B])
    assert body["devices"] == [DEVICE_A, DEVICE_B]
    groups = create(Command.REBOOT, groups=[GROUP_A, uuid.UUID(GROUP_A)])
    assert groups["groups"] == [GROUP_A]


def _ids(n: int) -> list[str]:
    return [str(uuid.UUID(int=i + 1)) for i in range(n)]


def test_at_most_1000_devices_per_create() -> None:
    """1000 devices are accepted, 1001 refused with the limit in the message."""
    assert len(create(Command.REBOOT, devices=_ids(MAX_DEVICES_PER_REQUEST))["devices"]) == 1000
    with pytest.raises(ValidationError, match="at most 1000") as caught:
        create(Command.REBOOT, devices=_ids(MAX_DEVICES_PER_REQUEST + 1))
    assert caught.value.field == "devices"


def test_at_most_500_groups_per_create() -> None:
    """500 groups are accepted, 501 refused with the limit in the message."""
    assert len(create(Command.REBOOT, groups=_ids(MAX_GROUPS_PER_REQUEST))["groups"]) == 500
    with pytest.raises(ValidationError, match="at most 500") as caught:
        create(Command.REBOOT, groups=_ids(MAX_GROUPS_PER_REQUEST + 1))
    assert caught.value.field == "groups"


def test_parse_helpers() -> None:
    """parse_uuid/parse_uuids accept ids and None, and name the field on failure."""
    assert parse_uuid(DEVICE_A, "device") == uuid.UUID(DEVICE_A)
    assert parse_uuids(None, "devices") == []
    assert parse_uuids((d for d in [DEVICE_A]), "devices") == [uuid.UUID(DEVICE_A)]
    with pytest.raises(ValidationError, match="device: must be a UUID"):
        parse_uuid("x", "device")


# -- schedules ----------------------------------------------------------------------------------


@pytest.mark.parametrize("schedule", [Schedule.WINDOW, Schedule.RECURRING])
def test_window_and_recurring_need_schedule_args(schedule: Schedule) -> None:
    """WINDOW and RECURRING without schedule_args are refused; with start and end accepted."""
    with pytest.raises(ValidationError, match=f"required by the {schedule.value}") as caught:
        create(Command.REBOOT, schedule=schedule)
    assert caught.value.field == "schedule_args"
    body = create(
        Command.REBOOT,
        schedule=schedule,
        schedule_args=ScheduleArgs(start_datetime=START, end_datetime=END),
    )
    assert body["schedule"] == schedule.value
    assert body["schedule_args"] == {
        "start_datetime": "2030-06-01T00:00:00Z",
        "end_datetime": "2030-06-30T00:00:00Z",
    }


@pytest.mark.parametrize("missing", ["start_datetime", "end_datetime"])
@pytest.mark.parametrize("schedule", [Schedule.WINDOW, Schedule.RECURRING])
def test_window_and_recurring_need_start_and_end(schedule: Schedule, missing: str) -> None:
    """Each of start and end is required by WINDOW and RECURRING."""
    times = {"start_datetime": START, "end_datetime": END}
    del times[missing]
    with pytest.raises(ValidationError) as caught:
        create(Command.REBOOT, schedule=schedule, schedule_args=times)
    assert caught.value.field == f"schedule_args.{missing}"


@pytest.mark.parametrize("which", ["start_datetime", "end_datetime"])
def test_naive_datetimes_are_refused(which: str) -> None:
    """A naive start or end is ambiguous and refused; an aware one is accepted."""
    times: dict[str, Any] = {"start_datetime": START, "end_datetime": END}
    times[which] = times[which].replace(tzinfo=None)
    with pytest.raises(ValidationError, match="timezone-aware") as caught:
        create(Command.REBOOT, schedule="WINDOW", schedule_args=times)
    assert caught.value.field == f"schedule_args.{which}"


def test_iso_text_times_are_accepted_if_aware() -> None:
    """ISO-8601 text is accepted when it has an offset, refused when naive or unreadable."""
    ok = create(
        Command.REBOOT,
        schedule="RECURRING",
        schedule_args={"start_datetime": "2030-06-01T08:00:00+02:00", "end_datetime": END},
    )
    assert ok["schedule_args"]["start_datetime"] == "2030-06-01T08:00:00+02:00"
    for bad in ["2030-06-01T08:00:00", "next tuesday", 1717200000]:
        with pytest.raises(ValidationError) as caught:
            create(
                Command.REBOOT,
                schedule="RECURRING",
                schedule_args={"start_datetime": bad, "end_datetime": END},
            )
        assert caught.value.field == "schedule_args.start_datetime"


def test_end_must_follow_start() -> None:
    """An end at or before the start is refused."""
    with pytest.raises(ValidationError, match="after start_datetime"):
        create(
            Command.REBOOT,
            schedule="WINDOW",
            schedule_args=ScheduleArgs(start_datetime=END, end_datetime=START),
        )


@pytest.mark.parametrize(
    ("name", "bad", "good"),
    [
        ("window_start_time", "25:00", "22:00:00"),
        ("window_end_time", "9pm", "23:59"),
        ("window_end_time", "08:00:00", "08:30"),
        ("time_type", "utc", TimeType.CONSOLE),
        ("time_type", "", "device"),
        ("name", "", "after-hours"),
        ("days", "Monday", ["Monday", "Friday"]),
        ("days", [""], ("Sunday",)),
        ("days", [], ["saturday"]),
        ("days", ["Funday"], ["SUNDAY"]),
    ],
)
def test_schedule_arg_rules(name: str, bad: Any, good: Any) -> None:
    """Each schedule argument rule refuses a wrong value and accepts a right one."""
    base: dict[str, Any] = {"start_datetime": START, "end_datetime": END}
    base |= {"window_start_time": "08:00", "window_end_time": "09:00"}
    with pytest.raises(ValidationError) as caught:
        create(Command.REBOOT, schedule="WINDOW", schedule_args={**base, name: bad})
    assert caught.value.field.startswith(f"schedule_args.{name}")
    body = create(Command.REBOOT, schedule="WINDOW", schedule_args={**base, name: good})
    sent = body["schedule_args"][name]
    assert sent == (list(good) if name == "days" else good)


def test_unknown_schedule_arg_keys_are_sent_as_given() -> None:
    """The docs do not close schedule_args, so a key they do not name is sent unchanged."""
    body = create(
        Command.REBOOT,
        schedule="WINDOW",
        schedule_args={"start_datetime": START, "end_datetime": END, "jitter": 5},
    )
    assert body["schedule_args"]["jitter"] == 5
    assert body["schedule_args"]["start_datetime"] == "2030-06-01T00:00:00Z"
    with pytest.raises(ValidationError, match="keys must be strings"):
        create(Command.REBOOT, schedule="WINDOW", schedule_args={1: 2})


@pytest.mark.parametrize("which", ["window_start_time", "window_end_time"])
def test_a_daily_window_needs_both_ends(which: str) -> None:
    """A lone window time is ambiguous and refused, naming the missing one."""
    other = "window_end_time" if which == "window_start_time" else "window_start_time"
    with pytest.raises(ValidationError, match="other window time") as caught:
        create(
            Command.REBOOT,
            schedule="RECURRING",
            schedule_args={"start_datetime": START, "end_datetime": END, which: "08:00"},
        )
    assert caught.value.field == f"schedule_args.{other}"


def test_command_names_in_any_case_and_typos_get_a_suggestion() -> None:
    """ "reboot" is REBOOT; "REBOT" is refused with "did you mean REBOOT?"."""
    assert create("reboot")["command"] == "REBOOT"
    assert create(" Set_Brightness_Scale ", {"brightness_value": 5})["command"] == (
        "SET_BRIGHTNESS_SCALE"
    )
    with pytest.raises(ValidationError, match=r"did you mean REBOOT\?") as caught:
        create("REBOT")
    assert caught.value.field == "command"
    with pytest.raises(ValidationError, match="did you mean SET_BRIGHTNESS_SCALE"):
        create("set_brightnes_scale", {"brightness_value": 5})


def test_other_enum_values_in_any_case() -> None:
    """command_type, device_type, schedule and time_type are matched without case."""
    body = create(
        Command.REBOOT,
        command_type="dynamic",
        device_type="ALL",
        schedule="window",
        schedule_args={"start_datetime": START, "end_datetime": END, "time_type": "Device"},
    )
    assert (body["command_type"], body["device_type"], body["schedule"]) == (
        "DYNAMIC",
        "all",
        "WINDOW",
    )
    assert body["schedule_args"]["time_type"] == "device"


def test_unknown_argument_is_refused_with_a_suggestion() -> None:
    """A misspelt argument of a command with documented arguments is refused, not sent."""
    with pytest.raises(ValidationError, match="did you mean brightness_value") as caught:
        create(Command.SET_BRIGHTNESS_SCALE, {"brightness_value": 5, "brightnes_value": 5})
    assert caught.value.field == "command_args.brightnes_value"
    with pytest.raises(ValidationError, match="it takes tag"):
        create(Command.CAPTURE_SCREENSHOT, {"colour": "red"})
    with pytest.raises(ValidationError, match="did you mean brightness_value"):
        create(Command.SET_BRIGHTNESS_SCALE, CommandArgs(extra={"brightnes_value": 5}))
    # Commands whose arguments the docs do not name take anything.
    assert create(Command.WIPE, {"wipe_external_storage": True})["command_args"] == {
        "wipe_external_storage": True
    }


def test_every_missing_argument_is_named_at_once() -> None:
    """Two missing arguments are reported in one error."""
    with pytest.raises(ValidationError, match="are required by SET_APP_PERMISSION") as caught:
        create(Command.SET_APP_PERMISSION, {"package_name": "com.a"})
    assert caught.value.field == "command_args"
    assert "grant_state" in caught.value.rule
    assert "permission" in caught.value.rule


def test_static_addresses_are_needed_only_without_dhcp() -> None:
    """With DHCP on, the static addresses may be left out; with it off, all four are needed."""
    dhcp = create(Command.SET_STATIC_IP, {"interface": "eth0", "dhcp_enabled": True})
    assert dhcp["command_args"] == {"interface": "eth0", "dhcp_enabled": True}
    with pytest.raises(ValidationError, match="are required by SET_STATIC_IP") as caught:
        create(Command.SET_STATIC_IP, {"interface": "eth0", "dhcp_enabled": False})
    for name in ("static_ip", "primary_dns", "subnet_mask", "gateway"):
        assert name in caught.value.rule


def test_scheduled_notify_device_needs_name_and_time_type() -> None:
    """A scheduled NOTIFY_DEVICE needs schedule_args.name and .time_type (the docs say so)."""
    args = VALID_ARGS[Command.NOTIFY_DEVICE]
    times = {"start_datetime": START, "end_datetime": END}
    with pytest.raises(ValidationError) as caught:
        create(Command.NOTIFY_DEVICE, args, schedule="WINDOW", schedule_args=times)
    assert caught.value.field == "schedule_args.name"
    with pytest.raises(ValidationError) as caught:
        create(Command.NOTIFY_DEVICE, args, schedule="WINDOW", schedule_args={**times, "name": "n"})
    assert caught.value.field == "schedule_args.time_type"
    body = create(
        Command.NOTIFY_DEVICE,
        args,
        schedule="WINDOW",
        schedule_args={**times, "name": "n", "time_type": "device"},
    )
    assert body["schedule_args"]["time_type"] == "device"


def test_full_body_is_exactly_what_esper_expects() -> None:
    """A complete create builds the documented body, key for key."""
    body = build_create_payload(
        command="SET_APP_STATE",
        groups=[GROUP_A],
        device_type="all",
        command_args={"package_name": "com.example.app", "app_state": "HIDE"},
        schedule="WINDOW",
        schedule_args=ScheduleArgs(
            name="after-hours",
            start_datetime=dt.datetime(2030, 6, 1, tzinfo=UTC),
            end_datetime=dt.datetime(2030, 6, 30, tzinfo=UTC),
            time_type=TimeType.DEVICE,
            window_start_time="22:00:00",
            window_end_time="23:59:00",
            days=("Monday", "Tuesday"),
        ),
    )
    assert body == {
        "command_type": "GROUP",
        "groups": [GROUP_A],
        "device_type": "all",
        "command": "SET_APP_STATE",
        "command_args": {"package_name": "com.example.app", "app_state": "HIDE"},
        "schedule": "WINDOW",
        "schedule_args": {
            "name": "after-hours",
            "start_datetime": "2030-06-01T00:00:00Z",
            "end_datetime": "2030-06-30T00:00:00Z",
            "time_type": "device",
            "window_start_time": "22:00:00",
            "window_end_time": "23:59:00",
            "days": ["Monday", "Tuesday"],
        },
    }


def test_immediate_is_the_default_and_sends_no_schedule_args() -> None:
    """Without a schedule the body says IMMEDIATE, device_type active, and has no schedule_args."""
    body = create(Command.REBOOT)
    assert body == {
        "command_type": "DEVICE",
        "devices": [DEVICE_A],
        "device_type": "active",
        "command": "REBOOT",
        "command_args": {},
        "schedule": "IMMEDIATE",
    }
