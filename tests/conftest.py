"""Fixtures shared by the whole suite: real servers and a client per driver.

Every behavioural test takes ``kv`` and runs twice: on the memory driver and on the redis driver
against a real server that this suite starts on a free loopback port (see ``servers.py``).

The suite ignores the caller's settings: ``KV_*`` and ``REDIS_*`` variables are removed before
collection, and tests run in an empty directory, so no ``.env`` file is read (a test that wants
one writes it and changes into its own directory).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from servers import RedisServer, ServerBinary, describe, find_server_binary

from aiokv import AsyncClient

#: Prefixes of the variables KVSettings reads; AIOKV_* (the harness's own) are kept.
SETTINGS_PREFIXES = ("KV_", "REDIS_")
_REMOVED = pytest.StashKey[list[str]]()
_CWD = pytest.StashKey[tuple[str, str]]()


def pytest_configure(config: pytest.Config) -> None:
    """Before collection: drop the caller's settings and move to an empty directory."""
    removed = sorted(name for name in os.environ if name.startswith(SETTINGS_PREFIXES))
    for name in removed:
        del os.environ[name]
    config.stash[_REMOVED] = removed
    # pydantic-settings reads `.env` from the current directory, so no test may start in one
    # that has it; test modules build settings at import time too, hence not a fixture.
    empty = tempfile.mkdtemp(prefix="aiokv-tests-cwd-")
    config.stash[_CWD] = (os.getcwd(), empty)
    os.chdir(empty)


def pytest_unconfigure(config: pytest.Config) -> None:
    back, empty = config.stash[_CWD]
    os.chdir(back)
    shutil.rmtree(empty, ignore_errors=True)


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = []
    removed = config.stash.get(_REMOVED, [])
    if removed:
        lines.append(f"aiokv tests: ignoring {', '.join(removed)} from the environment")
    try:
        lines.append(describe(find_server_binary()))
    except Exception as exc:  # the header must not hide the real error, which fixtures raise
        lines.append(f"aiokv tests: no server binary: {exc}")
    return lines


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
