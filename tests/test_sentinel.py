"""The redis driver through Redis Sentinel: a real primary, a replica and three sentinels.

The client is given only the sentinels and the master's name; it finds the master itself.
Failovers under load are in ``test_sentinel_failover.py`` (slow).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from servers import SENTINEL_SERVICE, RedisServer, SentinelGroup, ServerBinary

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


@pytest.mark.slow
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


# -- reads from replicas (read_from_replicas) ------------------------------------------------


def _calls(server: RedisServer, command: str) -> int:
    """How many times ``server`` has run ``command`` (INFO commandstats), 0 if never."""
    stats = server.info("commandstats").get(f"cmdstat_{command}", "")
    fields = dict(part.split("=") for part in stats.split(",") if "=" in part)
    return int(fields.get("calls", 0))


def _master_and_replica(group: SentinelGroup) -> tuple[RedisServer, RedisServer]:
    master = group.wait_until_ready()  # a failover test may have swapped them
    (replica,) = [server for server in group.servers.values() if server is not master]
    return master, replica


@pytest.mark.parametrize("auto_pipeline", [True, False])
async def test_reads_go_to_the_replica_and_writes_to_the_master(
    group: SentinelGroup, auto_pipeline: bool
) -> None:
    master, replica = _master_and_replica(group)
    gets = (_calls(master, "get"), _calls(replica, "get"))
    hgets = (_calls(master, "hgetall"), _calls(replica, "hgetall"))
    sets = _calls(master, "set")
    async with AsyncClient.from_url(
        sentinel_url(group), read_from_replicas=True, auto_pipeline=auto_pipeline
    ) as kv:
        await kv.set("s:replica", "v")
        # Right after the write the replica may not have it yet: only the routing is checked.
        for _ in range(5):
            assert await kv.get("s:replica") in ("v", None)
        await asyncio.gather(*(kv.get("s:replica") for _ in range(5)))
        await kv.hgetall("s:replica:h")
    assert _calls(replica, "get") - gets[1] == 10
    assert _calls(master, "get") == gets[0]
    assert _calls(replica, "hgetall") - hgets[1] == 1
    assert _calls(master, "hgetall") == hgets[0]
    assert _calls(master, "set") - sets == 1  # the write, on the master


async def test_without_read_from_replicas_reads_go_to_the_master(group: SentinelGroup) -> None:
    master, replica = _master_and_replica(group)
    gets = (_calls(master, "get"), _calls(replica, "get"))
    async with AsyncClient.from_url(sentinel_url(group)) as kv:
        for _ in range(3):
            await kv.get("s:replica")
    assert _calls(master, "get") - gets[0] == 3
    assert _calls(replica, "get") == gets[1]


async def _no_local(*_: object) -> None:
    raise AssertionError("the memory driver is not used here")


async def test_batches_scripts_and_ping_stay_on_the_master(group: SentinelGroup) -> None:
    from aiokv import Script

    master, replica = _master_and_replica(group)
    gets = (_calls(master, "get"), _calls(replica, "get"))
    pings = _calls(replica, "ping")
    evals = _calls(replica, "evalsha") + _calls(replica, "eval")
    script = Script(lua="return redis.call('GET', KEYS[1])", local=_no_local)
    async with AsyncClient.from_url(sentinel_url(group), read_from_replicas=True) as kv:
        await kv.pipeline().get("s:batch").get("s:batch").execute()
        await kv.pipeline(transaction=True).get("s:batch").execute()
        assert await kv.ping() is True
        await kv.run_script(script, keys=["s:batch"])
    # Two in the pipeline, one in the transaction, one the script runs (counted too).
    assert _calls(master, "get") - gets[0] == 4
    assert _calls(replica, "get") == gets[1]
    assert _calls(replica, "ping") == pings
    assert _calls(replica, "evalsha") + _calls(replica, "eval") == evals


def test_read_from_replicas_is_refused_without_sentinel(monkeypatch: pytest.MonkeyPatch) -> None:
    from aiokv._settings import KVSettings

    with pytest.raises(ValueError, match="REDIS_READ_FROM_REPLICAS applies to Sentinel only"):
        KVSettings(driver="redis", read_from_replicas=True)
    monkeypatch.setenv("REDIS_READ_FROM_REPLICAS", "true")
    with pytest.raises(ValueError, match=r"REDIS_READ_FROM_REPLICAS .*REDIS_SENTINELS"):
        KVSettings(driver="redis", url="redis://127.0.0.1:6379/0")
    settings = KVSettings(driver="redis", sentinels="127.0.0.1:1", sentinel_master="m")
    assert settings.read_from_replicas is True


async def _until_reported_down(group: SentinelGroup, server: RedisServer) -> None:
    """Wait (up to 60 s) until every sentinel reports ``server`` down or no longer lists it."""
    for _ in range(600):
        listed = set()
        for sentinel in group.sentinels:
            for entry in sentinel.command("SENTINEL", "REPLICAS", SENTINEL_SERVICE) or []:
                words = [w.decode() if isinstance(w, bytes) else str(w) for w in entry]
                fields = dict(zip(words[::2], words[1::2], strict=False))
                if fields.get("port") == str(server.port) and "s_down" not in fields["flags"]:
                    listed.add(sentinel.port)
        if not listed:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the sentinels still report {server!r} up")


@pytest.mark.slow
async def test_reads_fall_back_to_the_master_when_no_replica_answers(
    server_binary: ServerBinary,
) -> None:
    """The replica stops: first the sentinels still list it (its port refuses the connection),
    then they report it down; either way the reads are answered by the master."""
    with SentinelGroup(server_binary) as own:
        master, replica = _master_and_replica(own)
        async with AsyncClient.from_url(sentinel_url(own), read_from_replicas=True) as kv:
            await kv.get("s:fallback")
            assert _calls(replica, "get") == 1
            replica.stop()
            before = _calls(master, "get")
            for _ in range(3):
                assert await kv.get("s:fallback") is None
            assert _calls(master, "get") - before == 3
            await _until_reported_down(own, replica)
            for _ in range(3):
                assert await kv.get("s:fallback") is None
            assert _calls(master, "get") - before == 6
