"""ACL users (``username`` + ``password``) on every topology: one server, TLS, Sentinel.

A command the user may not run raises PermissionDeniedError (NOPERM); a wrong password is a
KVConnectionError naming the variables to check, not retried.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from servers import SENTINEL_SERVICE, RedisServer, SentinelGroup, ServerBinary, make_tls_files

from aiokv import AsyncClient, KVConnectionError, PermissionDeniedError

USER, PASSWORD = "aiokv-app", "app-S3cret"
RULES = ("~app:*", "+@read", "+@write", "-flushdb", "+ping", "+role", "+client")


def add_user(server: RedisServer, *rules: str) -> None:
    server.command("ACL", "SETUSER", USER, "reset", "on", f">{PASSWORD}", *rules)


@pytest.fixture(scope="module")
def acl_server(server_binary: ServerBinary) -> Iterator[RedisServer]:
    with RedisServer(server_binary) as server:
        add_user(server, *RULES)
        yield server


async def check_user(kv: AsyncClient) -> None:
    await kv.set("app:k", "v")
    assert await kv.get("app:k") == "v"
    with pytest.raises(PermissionDeniedError, match="NOPERM"):
        await kv.set("other:k", "v")  # a key outside ~app:*
    with pytest.raises(PermissionDeniedError, match="NOPERM"):
        await kv.flushdb()


async def test_an_acl_user_on_one_server(acl_server: RedisServer) -> None:
    async with AsyncClient(
        driver="redis",
        host=acl_server.host,
        port=acl_server.port,
        username=USER,
        password=PASSWORD,
    ) as kv:
        await check_user(kv)


async def test_an_acl_user_from_the_environment(
    acl_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Not REDIS_URL: a URL stands for the whole address, credentials included.
    monkeypatch.setenv("KV_DRIVER", "redis")
    monkeypatch.setenv("REDIS_HOST", acl_server.host)
    monkeypatch.setenv("REDIS_PORT", str(acl_server.port))
    monkeypatch.setenv("REDIS_USERNAME", USER)
    monkeypatch.setenv("REDIS_PASSWORD", PASSWORD)
    async with AsyncClient() as kv:
        assert PASSWORD not in repr(kv)
        await check_user(kv)


async def test_a_wrong_password_is_a_connection_error_naming_the_variables(
    acl_server: RedisServer,
) -> None:
    async with AsyncClient(
        driver="redis",
        host=acl_server.host,
        port=acl_server.port,
        username=USER,
        password="wrong",
        retry_attempts=3,
    ) as kv:
        with pytest.raises(KVConnectionError, match="REDIS_USERNAME / REDIS_PASSWORD") as caught:
            await kv.get("app:k")
    assert "wrong" not in str(caught.value)


async def test_an_acl_user_over_tls(
    server_binary: ServerBinary, tmp_path_factory: pytest.TempPathFactory
) -> None:
    files = make_tls_files(tmp_path_factory.mktemp("acl-tls"))
    with RedisServer(server_binary, tls=files) as server:
        add_user(server, *RULES)
        url = f"rediss://{USER}:{PASSWORD}@localhost:{server.port}/0"
        async with AsyncClient.from_url(url, tls_ca_certs=files.ca_file) as kv:
            await check_user(kv)


@pytest.mark.slow
async def test_an_acl_user_through_sentinel(server_binary: ServerBinary) -> None:
    # ACL users are not replicated: each data server gets its own.
    with SentinelGroup(server_binary) as group:
        for server in group.servers.values():
            add_user(server, *RULES)
        where = ",".join(group.sentinel_addresses)
        url = f"redis+sentinel://{USER}:{PASSWORD}@{where}/{SENTINEL_SERVICE}/0"
        async with AsyncClient.from_url(url) as kv:
            await check_user(kv)
            assert group.master().command("GET", "app:k") == b"v"


@pytest.mark.slow
async def test_an_acl_user_without_role_still_reaches_the_master(
    server_binary: ServerBinary,
) -> None:
    """ROLE is how a new connection checks it reached the master; a user who may not run it
    is let through (READONLY replies still catch a demoted master)."""
    with SentinelGroup(server_binary) as group:
        for server in group.servers.values():
            add_user(server, "~app:*", "+get", "+set", "+client")
        async with AsyncClient(
            driver="redis",
            sentinels=group.sentinel_addresses,
            sentinel_master=SENTINEL_SERVICE,
            username=USER,
            password=PASSWORD,
        ) as kv:
            await kv.set("app:k", "v")
            assert await kv.get("app:k") == "v"
