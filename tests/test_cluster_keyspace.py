"""The cluster driver's commands over several nodes, on a real Redis Cluster (started by the
suite): MGET/MSET/UNLINK/TOUCH split by slot, MSETNX refused across slots, SCAN steps and
RANDOMKEY over every primary, blocking pops on connections of their own, a transaction that
watches nothing, unsendable commands in batches, and the pools' stats.

What each node holds is read from the node itself on a plain connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from servers import RedisCluster, RedisServer

import aiokv
from aiokv import AsyncClient, CrossSlotError, InvalidArgumentError
from aiokv._pipeline import Transaction
from aiokv.drivers._slots import key_slot
from aiokv.observability import PoolStats

# Keys on each of the three primaries (slots 0-5460, 5461-10922, 10923-16383 at the start).
KEYS = [f"key:{n}" for n in range(30)]


@pytest.fixture
async def ckv(redis_cluster: RedisCluster) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(url=redis_cluster.url) as client:
        await client.flushdb()
        yield client


def _nodes_of(cluster: RedisCluster, keys: list[str]) -> set[int]:
    return {cluster.primary_of(key).port for key in keys}


# -- split by slot --------------------------------------------------------------------------------


async def test_mget_and_mset_span_every_node_in_argument_order(
    ckv: AsyncClient, redis_cluster: RedisCluster
) -> None:
    assert len(_nodes_of(redis_cluster, KEYS)) == 3
    assert await ckv.mset({key: key.upper() for key in KEYS}) is True
    for key in KEYS:  # each pair was written on the node serving its slot
        assert redis_cluster.primary_of(key).command("GET", key) == key.upper().encode()
    wanted = [KEYS[7], "missing", KEYS[0], KEYS[7], KEYS[29]]
    assert await ckv.mget(*wanted) == [KEYS[7].upper(), None, "KEY:0", KEYS[7].upper(), "KEY:29"]
    await ckv.delete(KEYS[3])
    await ckv.hset(KEYS[3], "f", "v")  # another type: nil, as MGET answers
    assert (await ckv.mget(KEYS[2], KEYS[3], KEYS[4]))[1] is None
    assert await ckv.touch(*KEYS[:10], "missing") == 10
    assert await ckv.unlink(*KEYS[:10], "missing") == 10
    assert await ckv.exists(*KEYS) == len(KEYS) - 10


async def test_split_commands_in_a_pipeline(ckv: AsyncClient) -> None:
    p = ckv.pipeline()
    p.mset(dict.fromkeys(KEYS, "v")).mget(*KEYS[:4]).touch(*KEYS).unlink(*KEYS[:3])
    assert await p.execute() == [True, ["v"] * 4, len(KEYS), 3]


async def test_msetnx_across_slots_is_refused_before_anything_is_sent(ckv: AsyncClient) -> None:
    assert key_slot("a") != key_slot("b")
    with pytest.raises(CrossSlotError, match="MSETNX"):
        await ckv.msetnx({"a": "1", "b": "2"})
    assert await ckv.exists("a", "b") == 0
    assert await ckv.msetnx({"{t}a": "1", "{t}b": "2"}) is True
    assert await ckv.msetnx({"{t}b": "x", "{t}c": "3"}) is False
    assert await ckv.mget("{t}a", "{t}b", "{t}c") == ["1", "2", None]


async def test_memory_driver_with_slot_checks_splits_the_same_commands() -> None:
    async with AsyncClient(driver="memory", memory_cluster_slots=True) as kv:
        assert await kv.mset({"a": "1", "b": "2"}) is True
        assert await kv.mget("a", "b", "c") == ["1", "2", None]
        assert await kv.touch("a", "b") == 2
        assert await kv.unlink("a", "b") == 2
        with pytest.raises(CrossSlotError, match="MSETNX"):
            await kv.msetnx({"a": "1", "b": "2"})


# -- SCAN and RANDOMKEY over every primary -------------------------------------------------------


async def _walk(kv: AsyncClient, **options: object) -> tuple[list[str], int]:
    found: list[str] = []
    cursor, steps = 0, 0
    while True:
        cursor, keys = await kv.scan(cursor, **options)  # type: ignore[arg-type]
        assert 0 <= cursor < 2**64
        found += keys
        steps += 1
        if cursor == 0:
            return found, steps


async def test_scan_steps_walk_every_primary(ckv: AsyncClient, redis_cluster: RedisCluster) -> None:
    assert await ckv.scan() == (0, [])
    names = [f"k{i}" for i in range(300)]
    await ckv.mset(dict.fromkeys(names, "v"))
    assert len(_nodes_of(redis_cluster, names)) == 3
    found, steps = await _walk(ckv, count=1000)
    assert sorted(set(found)) == sorted(names)
    assert steps >= 3  # one node at a time
    found, _ = await _walk(ckv, count=7, match="k1?")
    assert sorted(set(found)) == sorted(f"k{i}" for i in range(10, 20))
    await ckv.rpush("list", "x")
    assert (await _walk(ckv, type="list"))[0] == ["list"]


async def test_scan_under_a_key_prefix(redis_cluster: RedisCluster, ckv: AsyncClient) -> None:
    await ckv.mset({f"other{i}": "v" for i in range(20)})
    async with AsyncClient(url=redis_cluster.url, key_prefix="app:") as app:
        await app.mset({f"x{i}": "v" for i in range(20)})
        found, _ = await _walk(app)
        assert sorted(set(found)) == sorted(f"x{i}" for i in range(20))


async def test_randomkey_finds_a_key_on_any_node(
    ckv: AsyncClient, redis_cluster: RedisCluster
) -> None:
    assert await ckv.randomkey() is None
    await ckv.set("only", "v")  # two of the three primaries hold nothing
    assert {await ckv.randomkey() for _ in range(20)} == {"only"}
    await ckv.mset(dict.fromkeys(KEYS, "v"))
    seen = {await ckv.randomkey() for _ in range(60)}
    assert seen <= {*KEYS, "only"}
    assert len(_nodes_of(redis_cluster, [key for key in seen if key is not None])) >= 2


async def test_a_batch_cannot_queue_scan_or_randomkey(ckv: AsyncClient) -> None:
    p = ckv.pipeline()
    p.set("a", "1").scan(0).randomkey().get("a")
    replies = await p.execute(raise_on_error=False)
    assert replies[0] is True
    assert isinstance(replies[1], InvalidArgumentError)
    assert isinstance(replies[2], InvalidArgumentError)
    assert replies[3] == "1"
    tx = ckv.pipeline(transaction=True)
    tx.set("a", "2").scan(0)
    with pytest.raises(InvalidArgumentError, match="SCAN"):
        await tx.execute()
    assert await ckv.get("a") == "1"

    async def body(tx: Transaction) -> None:
        await tx.randomkey()

    with pytest.raises(InvalidArgumentError, match="RANDOMKEY"):
        await ckv.transaction(body, "a")


@pytest.mark.parametrize("where", ["cluster", "memory with slot checks"])
@pytest.mark.parametrize("name", ["dbsize", "flushdb"])
async def test_a_transaction_cannot_run_a_command_that_covers_every_primary(
    redis_cluster: RedisCluster, where: str, name: str
) -> None:
    """On one node DBSIZE would count (FLUSHDB empty) a part of the keyspace only."""
    settings: dict[str, object] = (
        {"url": redis_cluster.url}
        if where == "cluster"
        else {"driver": "memory", "memory_cluster_slots": True}
    )
    async with AsyncClient(**settings) as kv:  # type: ignore[arg-type]
        await kv.flushdb()
        await kv.mset(dict.fromkeys(KEYS, "1"))
        tx = kv.pipeline(transaction=True)
        tx.set("a", "2")
        getattr(tx, name)()
        with pytest.raises(InvalidArgumentError, match=f"{name.upper()} covers every primary"):
            await tx.execute()
        assert await kv.get("a") is None  # the transaction sent nothing

        async def body(tx: Transaction) -> None:
            await getattr(tx, name)()

        with pytest.raises(InvalidArgumentError, match=f"call kv.{name}\\(\\) outside"):
            await kv.transaction(body, "a")
        walk = kv.pipeline(transaction=True)
        walk.set("a", "3").scan(0)
        with pytest.raises(InvalidArgumentError, match="SCAN asks every primary"):
            await walk.execute()
        assert await kv.get("a") is None
        # Outside a transaction, on every primary; a plain pipeline too.
        p = kv.pipeline()
        p.dbsize()
        assert await p.execute() == [len(KEYS)]
        assert await kv.dbsize() == len(KEYS)


# -- blocking pops --------------------------------------------------------------------------------


def _blocked_clients(node: RedisServer) -> int:
    info = node.command("INFO", "clients")
    text = info.decode() if isinstance(info, bytes) else str(info)
    return next(
        int(line.split(":")[1]) for line in text.splitlines() if line.startswith("blocked_clients:")
    )


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():  # noqa: ASYNC110 (polls a server's state)
        await asyncio.sleep(0.005)


async def test_a_blocking_pop_waits_past_socket_timeout_on_its_node(
    redis_cluster: RedisCluster,
) -> None:
    async with AsyncClient(url=redis_cluster.url, socket_timeout=0.3) as kv:
        await kv.flushdb()
        node = redis_cluster.primary_of("q")
        waiter = asyncio.ensure_future(kv.blpop("q", 0))
        await _until(lambda: _blocked_clients(node) == 1 or waiter.done())
        assert not waiter.done()
        await asyncio.sleep(0.6)  # twice socket_timeout: a pooled read would have given up
        assert not waiter.done()
        await kv.rpush("q", "x")
        assert await waiter == ("q", "x")
        assert await kv.blmove("q", "{q}dst", "LEFT", "LEFT", 0.1) is None  # timed out: nil


async def test_a_cancelled_blocking_pop_takes_nothing(
    ckv: AsyncClient, redis_cluster: RedisCluster
) -> None:
    node = redis_cluster.primary_of("q")
    waiter = asyncio.ensure_future(ckv.brpop("q", 0))
    await _until(lambda: _blocked_clients(node) == 1 or waiter.done())
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await _until(lambda: _blocked_clients(node) == 0)
    await ckv.rpush("q", "x")
    assert await ckv.lrange("q", 0, -1) == ["x"]


async def test_a_blocking_pop_across_slots_is_refused(ckv: AsyncClient) -> None:
    with pytest.raises(CrossSlotError, match="BLPOP"):
        await ckv.blpop(["a", "b"], 1)


# -- transactions ---------------------------------------------------------------------------------


async def test_a_transaction_watching_nothing_runs_on_its_first_keys_node(
    ckv: AsyncClient, redis_cluster: RedisCluster
) -> None:
    keys = [KEYS[0], KEYS[1], KEYS[2], KEYS[5]]
    assert len(_nodes_of(redis_cluster, keys)) >= 2
    for key in keys:

        async def body(tx: Transaction, key: str = key) -> None:
            value = int(await tx.get(key) or 0)
            tx.multi()
            tx.set(key, value + 1)

        assert await ckv.transaction(body) == [True]
        assert redis_cluster.primary_of(key).command("GET", key) == b"1"

    async def elsewhere(tx: Transaction) -> None:
        await tx.get("a")
        tx.multi()
        tx.set("b", 1)

    with pytest.raises(CrossSlotError):
        await ckv.transaction(elsewhere)


async def test_an_unsendable_command_fails_alone_in_a_pipeline_over_every_node(
    ckv: AsyncClient,
) -> None:
    p = ckv.pipeline()
    for key in KEYS:
        p.set(key, "v")
    p.sadd(KEYS[0] + "s", "\ud800")
    replies = await p.execute(raise_on_error=False)
    assert replies[:-1] == [True] * len(KEYS)
    assert isinstance(replies[-1], aiokv.InvalidArgumentError)
    assert await ckv.exists(*KEYS) == len(KEYS)


# -- stats ----------------------------------------------------------------------------------------


async def test_stats_add_up_the_nodes_pools(redis_cluster: RedisCluster) -> None:
    kv = AsyncClient(url=redis_cluster.url, auto_pipeline=False, max_connections=5)
    assert kv.stats().pool == PoolStats(0, 0, 0, 5)  # not opened: nothing opened either
    async with kv:
        for key in KEYS:
            await kv.get(key)
        pool = kv.stats().pool
        assert pool is not None
        # Without auto-pipelining each primary's pool ran some of the GETs.
        assert pool.in_use == 0
        assert pool.idle >= 3
        assert pool.max_connections == 5
