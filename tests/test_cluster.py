"""The cluster driver on a real Redis Cluster (3 primaries, 3 replicas, started by the suite),
and the memory driver's cluster slot checks.

Routing is checked against the servers themselves: a key the client wrote must be on the node
that serves its slot, as that node answers it on a plain connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from servers import RedisCluster, RedisServer

from aiokv import (
    AsyncClient,
    CrossSlotError,
    KVSettings,
    OutcomeUnknownError,
    RateLimiter,
    Script,
    SessionStore,
    cached,
)
from aiokv.drivers._slots import key_slot

# Keys on each of the three primaries (slots 0-5460, 5461-10922, 10923-16383 at the start).
KEYS = [f"key:{n}" for n in range(30)]


@pytest.fixture
async def ckv(redis_cluster: RedisCluster) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(url=redis_cluster.url) as client:
        await client.flushdb()
        yield client


def _value_on_node(cluster: RedisCluster, key: str) -> Any:
    return cluster.primary_of(key).command("GET", key)


# -- slots and routing ---------------------------------------------------------------------------


def test_key_slot_agrees_with_the_server(redis_cluster: RedisCluster) -> None:
    node = redis_cluster.nodes[0]
    for key in [
        *KEYS,
        "",
        "{user:1}:cart",
        "{user:1}:orders",
        "a{}b",
        "{}{x}",
        "x{y",
        "é",
        "\udcff",
    ]:
        assert key_slot(key) == node.command(
            "CLUSTER", "KEYSLOT", key.encode("utf-8", "surrogateescape")
        ), key
    assert key_slot("{user:1}:cart") == key_slot("{user:1}:orders") == key_slot("user:1")


async def test_each_key_is_written_on_the_node_serving_its_slot(
    ckv: AsyncClient, redis_cluster: RedisCluster
) -> None:
    owners = set()
    for key in KEYS:
        assert await ckv.set(key, key.upper())
        assert _value_on_node(redis_cluster, key) == key.upper().encode()
        owners.add(redis_cluster.primary_of(key).port)
        assert await ckv.get(key) == key.upper()
    assert len(owners) == 3  # the keys really are spread over every primary


# -- multi-key commands: split by slot, merged in argument order ---------------------------------


async def test_delete_and_exists_span_every_node(ckv: AsyncClient) -> None:
    for key in KEYS[:10]:
        await ckv.set(key, 1)
    assert await ckv.exists(*KEYS[:10], "missing", KEYS[0]) == 11  # duplicates count, as in Redis
    assert await ckv.delete(*KEYS[:5], "missing", KEYS[0]) == 5  # a key counts once
    assert await ckv.exists(*KEYS[:10]) == 5
    assert [key for key in KEYS[:10] if await ckv.exists(key)] == KEYS[5:10]


async def test_a_pipeline_is_grouped_by_node_and_answers_in_order(ckv: AsyncClient) -> None:
    p = ckv.pipeline()
    for n, key in enumerate(KEYS):
        p.set(key, n)
    p.delete(*KEYS[:6])
    p.exists(*KEYS)
    for key in KEYS:
        p.get(key)
    p.sinterstore("d", "s1", "s2")  # atomic across slots: refused in place
    p.dbsize()
    replies = await p.execute(raise_on_error=False)
    assert replies[: len(KEYS)] == [True] * len(KEYS)
    assert replies[len(KEYS)] == 6
    assert replies[len(KEYS) + 1] == len(KEYS) - 6
    gets = replies[len(KEYS) + 2 : 2 * len(KEYS) + 2]
    assert gets == [None] * 6 + [str(n) for n in range(6, len(KEYS))]
    assert isinstance(replies[-2], CrossSlotError)
    assert replies[-1] == len(KEYS) - 6


# -- atomic operations across slots: CrossSlotError, hash tags as the way out ---------------------


async def test_atomic_operations_across_slots_are_refused(ckv: AsyncClient) -> None:
    assert key_slot("s1") != key_slot("s2")
    with pytest.raises(CrossSlotError, match=r"hash tag.*\{user:1\}:cart"):
        await ckv.sinterstore("dest", "s1", "s2")
    with pytest.raises(CrossSlotError):
        await ckv.smove("s1", "s2", "m")
    with pytest.raises(CrossSlotError):
        await ckv.lmove("l1", "l2", "LEFT", "RIGHT")
    p = ckv.pipeline(transaction=True)
    p.set("a", 1).set("b", 2)
    with pytest.raises(CrossSlotError):
        await p.execute()
    assert await ckv.exists("a", "b") == 0  # nothing was sent

    async def body(tx: Any) -> None:
        tx.multi()
        tx.set("a", 1)

    with pytest.raises(CrossSlotError):
        await ckv.transaction(body, "b")
    with pytest.raises(CrossSlotError):
        await ckv.transaction(body, "a", "b")
    with pytest.raises(CrossSlotError):
        await ckv.run_script(INCR_BOTH, ["a", "b"])
    assert await ckv.exists("a", "b") == 0


INCR_BOTH = Script(
    lua="return {redis.call('INCR', KEYS[1]), redis.call('INCR', KEYS[2])}",
    local=lambda driver, keys, args: _incr_both(driver, keys),
)


async def _incr_both(driver: Any, keys: Any) -> list[int]:
    return [await driver.incrby(keys[0], 1), await driver.incrby(keys[1], 1)]


async def test_hash_tagged_keys_run_atomically(ckv: AsyncClient) -> None:
    await ckv.sadd("{u1}:s1", "x", "y")
    await ckv.sadd("{u1}:s2", "y", "z")
    assert await ckv.sinterstore("{u1}:both", "{u1}:s1", "{u1}:s2") == 1
    p = ckv.pipeline(transaction=True)
    p.incr("{u1}:a").incr("{u1}:b").smembers("{u1}:both")
    assert await p.execute() == [1, 1, {"y"}]

    async def body(tx: Any) -> None:
        value = int(await tx.get("{u1}:a") or 0)
        tx.multi()
        tx.set("{u1}:b", value + 10)

    assert await ckv.transaction(body, "{u1}:a") == [True]
    assert await ckv.get("{u1}:b") == "11"
    assert await ckv.run_script(INCR_BOTH, ["{u1}:a", "{u1}:b"]) == [2, 12]


async def test_scripts_fall_back_to_eval_on_every_node(
    ckv: AsyncClient, redis_cluster: RedisCluster
) -> None:
    for node in redis_cluster.current_primaries():
        node.command("SCRIPT", "FLUSH")
    for key in KEYS[:9]:
        assert await ckv.run_script(INCR_BOTH, [f"{{{key}}}a", f"{{{key}}}b"]) == [1, 1]


# -- walks and whole-database commands cover every primary ----------------------------------------


async def test_walks_and_counts_cover_every_primary(
    ckv: AsyncClient, redis_cluster: RedisCluster
) -> None:
    for key in KEYS:
        await ckv.set(key, 1)
    assert sorted(await ckv.keys()) == sorted(KEYS)
    assert sorted([key async for key in ckv.scan_iter("key:1*", count=2)]) == sorted(
        key for key in KEYS if key.startswith("key:1")
    )
    assert await ckv.dbsize() == len(KEYS)
    assert sum(
        int(str(node.command("DBSIZE"))) for node in redis_cluster.current_primaries()
    ) == len(KEYS)
    assert await ckv.delete_matching("key:2*") == 11  # key:2 and key:20 to key:29
    assert await ckv.dbsize() == len(KEYS) - 11
    await ckv.flushdb()
    assert all(node.command("DBSIZE") == 0 for node in redis_cluster.current_primaries())


async def test_a_key_prefix_limits_the_walks_to_its_keys(
    ckv: AsyncClient, redis_cluster: RedisCluster
) -> None:
    for key in KEYS:
        await ckv.set(key, 1)
    async with AsyncClient(url=redis_cluster.url, key_prefix="app:") as app:
        for key in KEYS[:12]:
            await app.set(key, 2)
        assert sorted(await app.keys()) == sorted(KEYS[:12])
        assert await app.dbsize() == 12
        await app.flushdb()
        assert await app.dbsize() == 0
    assert await ckv.dbsize() == len(KEYS)  # the keys outside the prefix are still there


# -- topology changes: MOVED and ASK --------------------------------------------------------------


def _node_id(node: RedisServer) -> str:
    raw = node.command("CLUSTER", "MYID")
    return raw.decode() if isinstance(raw, bytes) else str(raw)


async def test_a_migrating_then_moved_slot_is_followed(
    ckv: AsyncClient, redis_cluster: RedisCluster
) -> None:
    key, fresh = "{migrating}:old", "{migrating}:new"
    slot = key_slot(key)
    await ckv.set(key, "before")
    source = redis_cluster.primary_of(key)
    target = next(n for n in redis_cluster.current_primaries() if n is not source)
    source_id, target_id = _node_id(source), _node_id(target)
    target.command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
    source.command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
    try:
        # A key the source no longer has is answered with ASK: written on the target.
        assert await ckv.set(fresh, "asked")
        assert await ckv.get(key) == "before"  # still on the source
        source.command("MIGRATE", target.host, target.port, "", 0, 5000, "KEYS", key)
        assert await ckv.get(key) == "before"  # ASK again, now from the target
    finally:
        for node in redis_cluster.current_primaries():
            node.command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
    # The slot moved: the client's table still names the source, which answers MOVED.
    assert await ckv.get(key) == "before"
    assert await ckv.get(fresh) == "asked"
    assert target.command("GET", fresh) == b"asked"  # it was written on the importing node
    assert await ckv.incr("{migrating}:n") == 1
    assert target.command("GET", "{migrating}:n") == b"1"


# -- at most once ---------------------------------------------------------------------------------


async def test_a_write_whose_connection_dies_is_not_sent_again(
    ckv: AsyncClient, redis_cluster: RedisCluster
) -> None:
    key = "once"
    node = redis_cluster.primary_of(key)
    await ckv.ping()
    node.command("CLIENT", "PAUSE", 1500, "WRITE")  # the INCR waits in the server
    try:
        pending = asyncio.ensure_future(ckv.incr(key))
        while node.info("clients").get("blocked_clients", "0") == "0":  # noqa: ASYNC110
            await asyncio.sleep(0.01)  # until it is sent, and held
        await asyncio.to_thread(node.command, "CLIENT", "KILL", "TYPE", "normal")
        with pytest.raises(OutcomeUnknownError):
            await pending
    finally:
        node.command("CLIENT", "UNPAUSE")
    # A re-sent INCR would have run once the pause ended; the killed one never ran.
    assert await ckv.get(key) is None


# -- the patterns, unchanged, on a cluster --------------------------------------------------------


async def test_patterns_work_on_a_cluster(ckv: AsyncClient) -> None:
    limiter = RateLimiter(ckv, limit=3, window=60)
    assert [(await limiter.hit("user")).allowed for _ in range(4)] == [True, True, True, False]
    async with ckv.lock("job", ttl=5):
        assert await ckv.exists("lock:job") == 1
    assert await ckv.exists("lock:job") == 0
    sessions = SessionStore(ckv, ttl=60)
    sid = await sessions.create({"user": 1})
    assert await sessions.get(sid) == {"user": 1}
    assert await sessions.update(sid, {"user": 2})
    assert await sessions.get(sid) == {"user": 2}
    assert await sessions.destroy(sid)
    calls = []

    def compute() -> int:
        calls.append(1)
        return 42

    assert await ckv.get_or_set("answer", compute) == 42
    assert await ckv.get_or_set("answer", compute) == 42
    assert len(calls) == 1

    @cached(ckv, key="square:{n}", ttl=60)
    async def square(n: int) -> int:
        calls.append(n)
        return n * n

    assert [await square(n) for n in (2, 3, 2, 3)] == [4, 9, 4, 9]
    assert calls == [1, 2, 3]


# -- the memory driver checks slots when asked ----------------------------------------------------


@pytest.fixture
async def slotted() -> AsyncIterator[AsyncClient]:
    async with AsyncClient(driver="memory", memory_cluster_slots=True) as client:
        yield client


async def test_memory_driver_refuses_what_a_cluster_refuses(slotted: AsyncClient) -> None:
    with pytest.raises(CrossSlotError, match="hash tag"):
        await slotted.sinterstore("dest", "s1", "s2")
    with pytest.raises(CrossSlotError):
        await slotted.lmove("l1", "l2", "LEFT", "RIGHT")
    p = slotted.pipeline(transaction=True)
    p.set("a", 1).set("b", 2)
    with pytest.raises(CrossSlotError):
        await p.execute()
    with pytest.raises(CrossSlotError):
        await slotted.run_script(INCR_BOTH, ["a", "b"])

    async def body(tx: Any) -> None:
        await tx.get("b")

    with pytest.raises(CrossSlotError):
        await slotted.transaction(body, "a")
    assert await slotted.exists("a", "b") == 0
    # What a cluster client splits by slot stays allowed, and hash tags make the rest work.
    await slotted.set("a", 1)
    await slotted.set("b", 1)
    assert await slotted.delete("a", "b", "c") == 2
    assert await slotted.run_script(INCR_BOTH, ["{t}a", "{t}b"]) == [1, 1]
    p = slotted.pipeline()
    p.set("x", 1).sinterstore("d", "s1", "s2").set("y", 1)
    replies = await p.execute(raise_on_error=False)
    assert replies[0] is True
    assert isinstance(replies[1], CrossSlotError)
    assert replies[2] is True


async def test_memory_driver_checks_no_slots_by_default() -> None:
    async with AsyncClient(driver="memory") as kv:
        assert await kv.sinterstore("dest", "s1", "s2") == 0
        assert await kv.run_script(INCR_BOTH, ["a", "b"]) == [1, 1]


def test_memory_cluster_slots_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KV_MEMORY_CLUSTER_SLOTS", "true")
    assert KVSettings().memory_cluster_slots is True


# -- settings ------------------------------------------------------------------------------------


def test_cluster_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KV_DRIVER", "REDIS_URL", "REDIS_CLUSTER_NODES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REDIS_CLUSTER_NODES", "10.0.0.1:7000, 10.0.0.2:7001")
    settings = KVSettings()
    assert settings.driver == "cluster"
    assert settings.cluster_nodes == ["10.0.0.1:7000", "10.0.0.2:7001"]
    monkeypatch.delenv("REDIS_CLUSTER_NODES")
    url = KVSettings(url="rediss+cluster://u:secret@h1:7000,[::1]:7001")
    assert url.driver == "cluster"
    assert url.cluster_nodes == ["h1:7000", "::1:7001"]
    assert "secret" not in url.masked_url
    with pytest.raises(ValueError, match="database 0"):
        KVSettings(url="redis+cluster://h1:7000/3")
    with pytest.raises(ValueError, match="port"):
        KVSettings(cluster_nodes=["h1:notaport"])
