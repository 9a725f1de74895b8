"""Shared test configuration.

Async tests that must run on both event loops use ``@pytest.mark.anyio`` and the `anyio_backend`
fixture below; asyncio-only tests use ``@pytest.mark.asyncio`` (pytest-asyncio, strict mode).
"""

from __future__ import annotations

import pytest


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every ``@pytest.mark.anyio`` test on asyncio and on trio."""
    return str(request.param)
