"""``esper-sim`` and ``esper-cmds simulator``: the simulator's command line, or how to install it.

Strictly private. Imports neither cyclopts nor rich, so ``esper-sim`` needs only the
``[simulator]`` extra.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]

HINT = "the simulator needs its extra: pip install 'esper-cmds[simulator]'"


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the simulator, or print one line saying how to install it."""
    try:
        from ..simulator.__main__ import main as serve
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in ("starlette", "uvicorn"):
            print(f"esper-sim: {HINT}", file=sys.stderr)
            return 2
        raise
    return serve(argv)
