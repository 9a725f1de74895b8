r"""Shared test configuration.

Every async test is marked ``@pytest.mark.anyio``, on the line above its ``async def`` (one
style, applied mechanically), and runs on asyncio and on trio through the `anyio_backend`
fixture below. To re-apply the style after adding tests::

    for f in $(grep -rl "async def test_" tests --include='test_*.py'); do
      sed -i -e '/^@pytest\.mark\.anyio$/d' -e '/^@pytest\.mark\.asyncio$/d' \
        -e '/^pytestmark = pytest\.mark\.anyio$/d' -e '/^    pytest\.mark\.anyio,$/d' \
        -e '/^async def test_/i @pytest.mark.anyio' "$f"
    done
    .venv/bin/ruff check --fix tests && .venv/bin/ruff format tests
"""

from __future__ import annotations

import pytest


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every ``@pytest.mark.anyio`` test on asyncio and on trio."""
    return str(request.param)
