"""Fixtures shared by the whole suite: real servers and a client per driver.

Every behavioural test takes ``kv`` and runs twice: on the memory driver and on the redis driver
against a real server that this suite starts on a free loopback port (see ``servers.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from servers import RedisServer, ServerBinary, describe, find_server_binary

from aiokv import AsyncClient


def pytest_report_header(config: pytest.Config) -> str:
    try:
        return describe(find_server_binary())
    except Exception as exc:  # the header must not hide the real error, which fixtures raise
        return f"aiokv tests: no server binary: {exc}"


@pytest.fixture(scope="session")
def server_binary() -> ServerBinary:
    return find_server_binary()


@pytest.fixture(scope="session")
def redis_server(server_binary: ServerBinary) -> Iterator[RedisServer]:
    """One real server for the session; tests isolate themselves with FLUSHDB."""
    with RedisServer(server_binary) as server:
        yield server


@pytest.fixture(params=["memory", "redis"])
def driver(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def kv_settings(driver: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    """Keyword arguments for an AsyncClient on the current driver (a real server for redis)."""
    if driver == "memory":
        return {"driver": "memory"}
    server: RedisServer = request.getfixturevalue("redis_server")
    return {"driver": "redis", "url": server.url}


@pytest.fixture
async def kv(kv_settings: dict[str, Any]) -> AsyncIterator[AsyncClient]:
    """An open client over an empty database, closed after the test."""
    async with AsyncClient(**kv_settings) as client:
        await client.flushdb()
        yield client


@pytest.fixture
def make_client(kv_settings: dict[str, Any]) -> Callable[..., AsyncClient]:
    """Build more clients on the current driver, with extra settings."""

    def make(**overrides: Any) -> AsyncClient:
        return AsyncClient(**{**kv_settings, **overrides})

    return make
