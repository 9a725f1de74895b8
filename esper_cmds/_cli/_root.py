"""The ``esper-cmds`` application object, its sub-commands, and the flag parsers they share.

Strictly private. The commands themselves are in `_sending` (send, resume) and `_lookups`
(watch and the read commands); `_app` imports both so every command is registered.
"""

from __future__ import annotations

import uuid
from typing import Literal

from cyclopts import App, Group, Parameter

from .. import CommandState
from ._errors import CliError
from ._output import short_state

__all__ = [
    "COMMAND",
    "RUN",
    "TARGETS",
    "WATCH",
    "DeviceTypeName",
    "app",
    "devices_app",
    "groups_app",
    "parse_choice",
    "parse_id",
    "parse_state",
    "requests_app",
]

EPILOG = """\
Exit codes:
  0    success
  1    failures reported by the API (or failed devices, with --exit-status)
  2    usage error: bad flags or input; nothing was sent
  3    a watch timed out with devices still pending
  4    authentication: missing, rejected or insufficient credentials
  130  interrupted (a send's journal is safe: `esper-cmds resume JOURNAL` finishes it)
"""

app = App(
    name="esper-cmds",
    help="Send Esper Commands V2 commands to whole fleets, watch them, and look them up.",
    help_epilogue=EPILOG,
    help_format="plaintext",
    default_parameter=Parameter(negative=()),
    version_flags=[],
    # Ctrl-C reaches `run`, which says how to resume the journal.
    suppress_keyboard_interrupt=False,
)
requests_app = App(name="requests", help="Command requests: list, show, per-device statuses.")
devices_app = App(name="devices", help="Devices: list, command history.")
groups_app = App(name="groups", help="Device groups.")
app.command(requests_app)
app.command(devices_app)
app.command(groups_app)
app.register_install_completion_command()

TARGETS = Group("Targets", sort_key=1)
COMMAND = Group("Command", sort_key=2)
RUN = Group("Run", sort_key=3)
WATCH = Group("Watch", sort_key=4)

DeviceTypeName = Literal["active", "inactive", "all"]


def parse_state(text: str | None) -> CommandState | None:
    """A state name in any case, with or without "Command " (``success``, ``in-progress``)."""
    if text is None:
        return None
    wanted = text.strip().lower().replace("-", " ").replace("_", " ").removeprefix("command ")
    for state in CommandState:
        if short_state(state).lower() == wanted:
            return state
    names = ", ".join(short_state(s).lower().replace(" ", "-") for s in CommandState)
    raise CliError(f"--state {text!r}: expected one of {names}")


def parse_id(text: str, flag: str) -> str:
    """A UUID given on the command line, or a `CliError` naming `flag`."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise CliError(f"{flag} {text!r}: not an id (expected a UUID)") from None


def parse_choice(text: str | None, flag: str, allowed: tuple[str, ...]) -> str | None:
    """One of `allowed` (upper case), typed in any case."""
    if text is None:
        return None
    value = text.strip().upper()
    if value not in allowed:
        raise CliError(f"{flag} {text!r}: expected one of {', '.join(allowed)}")
    return value
