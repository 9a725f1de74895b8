"""No function of the library is ranked worse than radon's C, except the simulator's validator.

The validator mirrors Esper's long list of per-field rules one after another; everywhere else a
function that needs a D has grown a second job and is split (issue 12).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from radon.complexity import cc_rank, cc_visit  # type: ignore[import-untyped]

PACKAGE = Path(__file__).resolve().parent.parent / "esper_cmds"
EXEMPT = {Path("simulator/_validation.py")}
WORST_RANK = "C"


def _functions(blocks: list[Any]) -> Iterator[Any]:
    """Every function, method and closure among radon's `blocks`, at any depth, once each
    (`cc_visit` lists a class's methods both inside the class and beside it)."""
    seen: set[tuple[int, str]] = set()
    pending = list(blocks)
    while pending:
        block = pending.pop()
        if hasattr(block, "methods"):  # a class
            pending.extend([*block.methods, *block.inner_classes])
            continue
        pending.extend(block.closures)
        if (block.lineno, block.fullname) not in seen:
            seen.add((block.lineno, block.fullname))
            yield block


def _too_complex() -> list[str]:
    found: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative in EXEMPT:
            continue
        for function in _functions(cc_visit(path.read_text(encoding="utf-8"))):
            rank = cc_rank(function.complexity)
            if rank > WORST_RANK:
                found.append(
                    f"esper_cmds/{relative}:{function.lineno} {function.fullname}"
                    f" - {rank} ({function.complexity})"
                )
    return sorted(found)


def test_no_function_worse_than_c_outside_the_validator() -> None:
    too_complex = _too_complex()
    assert not too_complex, "worse than radon's C:\n" + "\n".join(too_complex)


def test_the_check_sees_the_validator() -> None:
    """The walk reaches functions at all: the exempt validator's known D+ functions show up."""
    source = (PACKAGE / "simulator" / "_validation.py").read_text(encoding="utf-8")
    ranks = {f.fullname: cc_rank(f.complexity) for f in _functions(cc_visit(source))}
    assert ranks["_check_schedule_args"] > WORST_RANK
