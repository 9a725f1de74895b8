"""Output for people (rich tables) and for programs (JSON with the API's own field names).

Strictly private. Results go to stdout; live displays, progress and messages go to stderr, so
``esper-cmds ... | jq`` always gets clean JSON.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import logging
import sys
import uuid
from collections.abc import AsyncIterable, Callable, Mapping, Sequence
from typing import Any, Literal, TypeVar

import attrs
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from ..models import CommandArgs, CommandState, Device
from ._session import SESSION

__all__ = ["Mode", "Output", "jsonable", "short_state"]

Mode = Literal["table", "json", "jsonl"]

_T = TypeVar("_T")

# Wire names the models spell differently (as Esper's device serializer does).
_RENAMES: Mapping[type, Mapping[str, str]] = {
    Device: {
        "software_info": "softwareInfo",
        "hardware_info": "hardwareInfo",
        "network_info": "networkInfo",
        "memory_info": "memoryInfo",
        "audio_constraints": "audioConstraints",
    }
}


def jsonable(value: Any) -> Any:
    """A model (or anything holding models) as JSON data named as the API names it."""
    if isinstance(value, CommandArgs):
        data = {
            f.name: jsonable(getattr(value, f.name))
            for f in attrs.fields(CommandArgs)
            if f.name != "extra" and getattr(value, f.name) is not None
        }
        data.update({k: jsonable(v) for k, v in value.extra.items()})
        return data
    if attrs.has(type(value)):
        renames = _RENAMES.get(type(value), {})
        return {
            renames.get(f.name, f.name): jsonable(getattr(value, f.name))
            for f in attrs.fields(type(value))
        }
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(jsonable(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return value


def short_state(state: CommandState | str) -> str:
    """ "Command In Progress" -> "In Progress", for table headers."""
    return str(state).removeprefix("Command ")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


class Output:
    """Where and how results are printed for one command run."""

    def __init__(self, mode: Mode | None, *, debug: bool = False) -> None:
        self.stdout_tty = sys.stdout.isatty()
        self.mode: Mode = mode or ("table" if self.stdout_tty else "json")
        # A pipe or file gets wide lines rather than ids folded at 80 columns.
        self.console = Console(
            file=sys.stdout, width=None if self.stdout_tty else 200, soft_wrap=False
        )
        self.err = Console(file=sys.stderr, width=None if sys.stderr.isatty() else 200)
        self.live = sys.stderr.isatty()
        """Whether live displays (progress bars, watch tables) are drawn on stderr."""
        # With a live display, log lines go through its console so rich prints them above the
        # progress bar instead of through it; otherwise they are plain lines.
        handler: logging.Handler
        if self.live:
            handler = RichHandler(console=self.err, show_time=False, show_path=False, markup=False)
        else:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("esper-cmds: %(levelname)s: %(message)s"))
        SESSION.log_to(handler, logging.DEBUG if debug else logging.WARNING)

    def note(self, text: str) -> None:
        """A message for people, on stderr (never mixed into JSON)."""
        self.err.print(text, highlight=False, markup=False, soft_wrap=True)

    def json(self, data: Any) -> None:
        """One JSON document (json mode) or one line (jsonl mode) on stdout."""
        if self.mode == "jsonl":
            text = json.dumps(jsonable(data), separators=(",", ":"))
        else:
            text = json.dumps(jsonable(data), indent=2)
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def table(self, table: Table) -> None:
        """A rich table on stdout."""
        self.console.print(table)

    async def listing(
        self,
        items: AsyncIterable[_T],
        *,
        limit: int,
        columns: Sequence[tuple[str, Callable[[_T], Any]]],
        title: str,
    ) -> int:
        """Print a listing: streamed lines (jsonl), a JSON array or a table; returns the count."""
        count = 0
        rows: list[_T] = []
        iterator = aiter(items)
        try:
            async for item in iterator:
                if self.mode == "jsonl":
                    self.json(item)
                else:
                    rows.append(item)
                count += 1
                if limit and count >= limit:
                    break
        finally:
            # Leaving a listing early must close it at once (trio does not do it for us).
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                await aclose()
        if self.mode == "json":
            self.json(rows)
        elif self.mode == "table":
            table = Table(title=title, title_justify="left")
            for header, _ in columns:
                table.add_column(header, no_wrap=header in ("id", "request", "device"))
            for row in rows:
                table.add_row(*(_cell(get(row)) for _, get in columns))
            self.table(table)
            more = " (--limit reached; --limit 0 for all)" if limit and count >= limit else ""
            self.note(f"{count:,} shown{more}")
        return count
