"""The redis driver through Redis Sentinel: a real primary, a replica and three sentinels.

The client is given only the sentinels and the master's name; it finds the master itself.
Failovers under load are in ``test_sentinel_failover.py`` (slow).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from servers import SENTINEL_SERVICE, SentinelGroup, ServerBinary

from aiokv import AsyncClient, KVConnectionError


@pytest.fixture(scope="module")
def group(server_binary: ServerBinary) -> Iterator[SentinelGroup]:
    with SentinelGroup(server_binary) as started:
        yield started


def sentinel_url(group: SentinelGroup, db: int = 0) -> str:
    return f"redis+sentinel://{','.join(group.sentinel_addresses)}/{SENTINEL_SERVICE}/{db}"


async def test_the_client_finds_the_master_from_the_sentinels(group: SentinelGroup) -> None:
    async with AsyncClient.from_url(sentinel_url(group)) as kv:
        await kv.set("s:k", "v")
        assert await kv.get("s:k") == "v"
    master = group.master()
    assert master.command("GET", "s:k") == b"v"  # written on the master itself


async def test_sentinel_settings_from_the_environment(
    group: SentinelGroup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KV_DRIVER", "redis")
    monkeypatch.setenv("REDIS_SENTINELS", ",".join(group.sentinel_addresses))
    monkeypatch.setenv("REDIS_SENTINEL_MASTER", SENTINEL_SERVICE)
    monkeypatch.setenv("REDIS_DB", "3")
    async with AsyncClient() as kv:
        await kv.set("s:env", "db3")
        assert await kv.get("s:env") == "db3"
    assert group.master().command("SELECT", "3") == "OK"


async def test_a_dead_sentinel_in_the_list_is_skipped(group: SentinelGroup) -> None:
    # The first address listed answers nothing (a closed port); the others do.
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{sock.getsockname()[1]}"
    async with AsyncClient(
        driver="redis",
        sentinels=[dead, *group.sentinel_addresses],
        sentinel_master=SENTINEL_SERVICE,
    ) as kv:
        assert await kv.ping() is True


async def test_an_unknown_master_name_fails_with_a_connection_error(group: SentinelGroup) -> None:
    async with AsyncClient(
        driver="redis",
        sentinels=group.sentinel_addresses,
        sentinel_master="no-such-master",
        retry_attempts=0,
    ) as kv:
        with pytest.raises(KVConnectionError, match="no-such-master"):
            await kv.get("k")


async def test_the_client_follows_a_failover_that_left_the_old_master_running(
    group: SentinelGroup,
) -> None:
    """SENTINEL FAILOVER promotes the replica while the old master keeps running (no broken
    connection tells the client). Once the sentinels report the new master, the client's
    writes land there, each applied once."""
    async with AsyncClient.from_url(sentinel_url(group)) as kv:
        assert await kv.ping() is True
        old = group.master()
        group.sentinels[0].command("SENTINEL", "FAILOVER", SENTINEL_SERVICE)
        new = group.wait_for_new_master(old)
        group.wait_until_ready()  # the old master is a replica of the new one now
        # The sentinels closed the client's connections to the demoted master; a read finds
        # that out and is retried (a write would have raised OutcomeUnknownError).
        assert await kv.ping() is True
        await kv.delete("s:n")
        acked = [await kv.incr("s:n") for _ in range(30)]
        assert acked == list(range(1, 31))
        assert new.command("GET", "s:n") == b"30"
        assert new.info("replication")["role"] == "master"


def test_refused_by_replica_only_when_nothing_can_have_been_applied() -> None:
    from redis import exceptions as rexc

    from aiokv._settings import KVSettings
    from aiokv.drivers._redis_sentinel import SentinelConnection, Sentinels, refused_by_replica

    settings = KVSettings(driver="redis", sentinels="127.0.0.1:1", sentinel_master="m")
    conn = SentinelConnection(sentinels=Sentinels(settings))
    readonly = rexc.ReadOnlyError("You can't write against a read only replica.")
    execabort = rexc.ExecAbortError("Transaction discarded because of previous errors.")
    assert refused_by_replica(conn, [readonly])
    assert refused_by_replica(conn, [readonly, readonly])
    assert refused_by_replica(conn, ["OK", readonly, execabort])  # MULTI, queued, EXEC
    assert not refused_by_replica(conn, [b"value", readonly])  # a read was answered
    assert not refused_by_replica(conn, [1])
    assert not refused_by_replica(conn, [])
