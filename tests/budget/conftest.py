"""A real Redis for the shared-budget tests."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from ._redis_server import RedisServer, redis_server


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    """One redis-server per test module (tests use distinct API keys, so distinct budgets)."""
    with redis_server() as server:
        yield server


@pytest.fixture
def lone_redis() -> Iterator[RedisServer]:
    """A redis-server of the test's own, which it may stop.

    coredis 6.9 leaves the anyio memory streams of a connection that failed to connect for the
    garbage collector, which warns (`ResourceWarning`); they are collected here, inside the test
    module's warning filter, so the warning cannot surface in some later, unrelated test.
    """
    with redis_server() as server:
        yield server
    gc.collect()
