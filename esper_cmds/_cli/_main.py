"""`run`: parse, dispatch, and turn every failure into one line and a documented exit code.

Strictly private.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Literal

from cyclopts import CycloptsError

from ._errors import ExitCode, describe
from ._session import SESSION

__all__ = ["run"]

Backend = Literal["asyncio", "trio"]


def _find(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    """`exc` itself or the first `kind` inside (exception groups from task groups)."""
    if isinstance(exc, kind):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _find(inner, kind)
            if found is not None:
                return found
    return None


def _redact(text: str, argv: Sequence[str]) -> str:
    """Remove an API key given as a flag from a message about the flags."""
    for i, token in enumerate(argv):
        key = None
        if token == "--api-key" and i + 1 < len(argv):
            key = argv[i + 1]
        elif token.startswith("--api-key="):
            key = token.partition("=")[2]
        if key:
            text = text.replace(key, "***")
    return text


def _backend() -> Backend:
    # Undocumented, for tests and trio users: which event loop runs the commands.
    return "trio" if os.environ.get("ESPER_CLI_BACKEND") == "trio" else "asyncio"


def run(argv: Sequence[str] | None = None, *, backend: Backend | None = None) -> int:
    """Run one ``esper-cmds`` command line and return its exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    SESSION.reset()
    if args and args[0] == "simulator":
        from ._simulator import main as simulator

        return simulator(args[1:])
    if args and args[0] == "demo":
        from ..demo import main as demo

        return demo(args[1:])
    debug = "--debug" in args
    from ._app import app

    try:
        result = app(
            args,
            exit_on_error=False,
            print_error=False,
            help_on_error=False,
            backend=backend or _backend(),
            result_action="return_value",
        )
    except CycloptsError as exc:
        message = _redact(str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc), args)
        print(f"esper-cmds: {message} (see esper-cmds --help)", file=sys.stderr)
        return ExitCode.USAGE
    except BaseException as exc:
        if _find(exc, KeyboardInterrupt) is not None:
            _interrupted()
            return ExitCode.INTERRUPTED
        if isinstance(exc, SystemExit):
            raise
        if _find(exc, BrokenPipeError) is not None:
            return _reader_left()
        inner = exc
        while isinstance(inner, BaseExceptionGroup) and len(inner.exceptions) == 1:
            inner = inner.exceptions[0]
        if debug:
            traceback.print_exception(exc)
        message, code = describe(inner)
        print(f"esper-cmds: error: {_redact(message, args)}", file=sys.stderr)
        return code
    finally:
        SESSION.close()
    return int(result or 0)


def _reader_left() -> int:
    """stdout's reader went away (``| head``): stop quietly, unless a send was cut short."""
    # Python would complain again when it flushes stdout at exit.
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if SESSION.journal is not None:
        print(
            "esper-cmds: stdout was closed mid-send; the journal is safe. Finish with:\n"
            f"  esper-cmds resume {SESSION.journal}",
            file=sys.stderr,
        )
        return ExitCode.FAILED
    return ExitCode.OK


def _interrupted() -> None:
    if SESSION.journal is not None:
        print(
            f"\nesper-cmds: interrupted; the journal is safe. Finish the send with:\n"
            f"  esper-cmds resume {SESSION.journal}",
            file=sys.stderr,
        )
    elif SESSION.watching is not None:
        print(
            "\nesper-cmds: interrupted; every request was sent. Watch them again with:\n"
            f"  esper-cmds resume {SESSION.watching} --allow-complete --watch",
            file=sys.stderr,
        )
    else:
        print("\nesper-cmds: interrupted", file=sys.stderr)
    logging.getLogger("esper_cmds").debug("interrupted")
