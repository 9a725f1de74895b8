"""``esper-cmds`` and ``python -m esper_cmds``: the command line (the ``[cli]`` extra)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]

HINT = "the command line needs its extra: pip install 'esper-cmds[cli]'"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line, or print one line saying how to install it."""
    try:
        from ._cli import _app  # noqa: F401 - imports cyclopts and rich, or says how to
        from ._cli._main import run
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in ("cyclopts", "rich"):
            print(f"esper-cmds: {HINT}", file=sys.stderr)
            return 2
        raise
    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
