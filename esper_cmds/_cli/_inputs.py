"""Turning what an operator types into the client's inputs: command names, ``--arg``, id files.

Strictly private. Every refusal is a `CliError` naming the flag (or file and line) and the rule.
"""

from __future__ import annotations

import difflib
import json
import sys
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..models import Command
from ._errors import CliError

__all__ = [
    "DESTRUCTIVE",
    "merge_args",
    "parse_command",
    "parse_key_values",
    "read_ids",
]

DESTRUCTIVE = frozenset(
    {
        Command.WIPE,
        Command.RESET_LOCKSCREEN_PASSWORD,
        Command.SET_NEW_POLICY,
        Command.UPDATE_BLUEPRINT,
        Command.CONVERGE,
        Command.UNINSTALL,
        Command.CLEAR_APP_DATA,
        # Each of these can lock users out or cut a device off the network, after which no
        # command reaches it any more.
        Command.SET_DEVICE_LOCKDOWN_STATE,
        Command.SET_WIFI_STATE,
        Command.REMOVE_WIFI_AP,
        Command.USE_ONLY_SAVED_WIFI_AP,
        Command.SET_STATIC_IP,
        Command.SET_ETHERNET_SETTINGS,
    }
)
"""Commands `send` asks to confirm (or needs ``--yes`` for when stdin is not a terminal)."""


def parse_command(text: str) -> Command:
    """A command name in any case, dashes or underscores; unknown ones get a "did you mean"."""
    name = text.strip().upper().replace("-", "_")
    try:
        return Command(name)
    except ValueError:
        pass
    names = [c.value for c in Command]
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    # A prefix or a piece of the name ("brightness") is as likely a slip as a typo.
    close += [n for n in names if name and name in n and n not in close][: 3 - len(close)]
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    raise CliError(f"unknown command {text!r}{hint} (`esper-cmds commands` lists all {len(names)})")


def parse_value(text: str) -> Any:
    """A value as JSON where it parses (numbers, true/false, null, lists, objects), else text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_key_values(pairs: Iterable[str], flag: str) -> dict[str, Any]:
    """``KEY=VALUE`` pairs (values parsed as JSON where they parse) into a mapping."""
    result: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise CliError(f"{flag} {pair!r}: expected KEY=VALUE, e.g. {flag} brightness_value=80")
        result[key] = parse_value(value)
    return result


def parse_json_object(text: str, flag: str) -> dict[str, Any]:
    """A JSON object given inline or as ``@FILE``."""
    source = text
    if text.startswith("@"):
        try:
            source = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise CliError(f"{flag}: cannot read {text[1:]}: {exc.strerror}") from None
    try:
        value = json.loads(source)
    except ValueError as exc:
        raise CliError(f"{flag}: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise CliError(f"{flag}: must be a JSON object, e.g. '{{\"brightness_value\": 80}}'")
    return value


def merge_args(pairs: Sequence[str], json_text: str | None, flag: str) -> dict[str, Any] | None:
    """``--args-json`` first, then each ``--arg`` on top; None when neither was given."""
    if not pairs and json_text is None:
        return None
    merged = {} if json_text is None else parse_json_object(json_text, f"{flag}s-json")
    merged.update(parse_key_values(pairs, flag))
    return merged


def _check_id(text: str, where: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise CliError(f"{where}: {text!r} is not an id (expected a UUID)") from None


def read_ids(flag_values: Sequence[str], files: Sequence[str], *, noun: str) -> list[str]:
    """Ids from repeatable flags and files (``-`` is stdin): one per line, ``#`` comments."""
    ids = [_check_id(value, f"--{noun} {value!r}") for value in flag_values]
    for name in files:
        if name == "-":
            lines: Iterable[str] = sys.stdin
            label = "stdin"
        else:
            try:
                lines = Path(name).read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise CliError(f"--{noun}s-file: cannot read {name}: {exc.strerror}") from None
            except UnicodeDecodeError:
                raise CliError(f"--{noun}s-file: {name} is not UTF-8 text") from None
            label = name
        for number, line in enumerate(lines, start=1):
            text = line.split("#", 1)[0].strip()
            if text:
                ids.append(_check_id(text, f"{label}:{number}"))
    return ids
