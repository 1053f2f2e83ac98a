"""Auto-pipelining on the cluster driver (a :class:`Mux` per node), on a real Redis Cluster.

Concurrent commands to one node go out in one write on that node's shared connection; each
caller gets its own reply; a cancelled caller's reply is read and dropped; ``socket_timeout``
bounds each wait; a node whose connection dies fails exactly the commands it carried (a write
is never re-sent, a read is), and the other nodes' commands are untouched. Faults come from
the nodes themselves: ``CLIENT PAUSE ... WRITE`` holds a write in the server (and every reply
after it on that connection), ``CLIENT KILL`` breaks the connections.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from servers import RedisCluster, RedisServer

from aiokv import (
    AsyncClient,
    ClientClosedError,
    KVTimeoutError,
    OutcomeUnknownError,
    WrongTypeError,
)
from aiokv.drivers._cluster_mux import NodeMuxes
from aiokv.drivers.cluster import ClusterDriver

KEYS = [f"key:{n}" for n in range(30)]  # on every primary


def client(cluster: RedisCluster, **overrides: Any) -> AsyncClient:
    options: dict[str, Any] = {
        "url": cluster.url,
        "auto_pipeline": True,
        "retry_backoff_base": 0.01,
        "retry_backoff_cap": 0.05,
        **overrides,
    }
    return AsyncClient(**options)


@pytest.fixture
async def ckv(redis_cluster: RedisCluster) -> AsyncIterator[AsyncClient]:
    async with client(redis_cluster) as kv:
        await kv.flushdb()
        yield kv


def muxes_of(kv: AsyncClient) -> NodeMuxes:
    driver = kv._driver
    assert isinstance(driver, ClusterDriver)
    muxes = driver._muxes
    assert isinstance(muxes, NodeMuxes)
    return muxes


def count_writes(kv: AsyncClient, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[int]]:
    """Record, per node, the number of GETs in each write on its (open) shared connection."""
    sizes: dict[str, list[int]] = {}
    for name, mux in muxes_of(kv).items():
        transport = mux.lanes[0].transport
        assert transport is not None
        write = transport.write
        counts = sizes[name] = []

        def counted(data: Any, write: Any = write, counts: list[int] = counts) -> None:
            counts.append(bytes(data).count(b"\r\n$3\r\nGET\r\n"))
            write(data)

        monkeypatch.setattr(transport, "write", counted)
    return sizes


@contextmanager
def writes_paused(*nodes: RedisServer) -> Iterator[None]:
    """Hold every write in ``nodes`` (and every reply after it on the same connection)."""
    for node in nodes:
        node.command("CLIENT", "PAUSE", 10000, "WRITE")
    try:
        yield
    finally:
        for node in nodes:
            node.command("CLIENT", "UNPAUSE")


async def until_blocked(node: RedisServer, count: int = 1) -> None:
    while int(node.info("clients").get("blocked_clients", "0")) < count:  # noqa: ASYNC110
        await asyncio.sleep(0.01)


def test_on_by_default_and_off_by_the_setting(
    redis_cluster: RedisCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDIS_AUTO_PIPELINE", raising=False)  # AIOKV_TEST_AUTO_PIPELINE's
    assert ClusterDriver(AsyncClient(url=redis_cluster.url).settings)._auto is True
    off = AsyncClient(url=redis_cluster.url, auto_pipeline=False)
    assert ClusterDriver(off.settings)._auto is False


async def test_off_means_no_multiplexed_connections(redis_cluster: RedisCluster) -> None:
    async with client(redis_cluster, auto_pipeline=False) as kv:
        assert await asyncio.gather(*(kv.set(key, "v") for key in KEYS)) == [True] * len(KEYS)
        assert await asyncio.gather(*(kv.get(key) for key in KEYS)) == ["v"] * len(KEYS)
        assert kv._driver._muxes is None  # type: ignore[attr-defined]


async def test_commands_to_one_node_in_one_loop_step_are_written_together(
    ckv: AsyncClient, redis_cluster: RedisCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in KEYS:
        await ckv.set(key, key)  # opens every primary's shared connection
    sizes = count_writes(ckv, monkeypatch)
    assert len(sizes) == 3
    keys = KEYS * 4
    assert await asyncio.gather(*(ckv.get(key) for key in keys)) == keys
    per_node: dict[str, int] = {}
    for key in keys:
        node = redis_cluster.primary_of(key)
        name = f"{node.host}:{node.port}"
        per_node[name] = per_node.get(name, 0) + 1
    # On each node the first GET finds the connection idle and goes at once; the others,
    # issued in the same loop step while its reply was outstanding, go in one write.
    assert sizes == {name: [1, count - 1] for name, count in per_node.items()}
    for counts in sizes.values():
        counts.clear()
    for key in KEYS[:3]:  # one caller: each command written at once, alone
        assert await ckv.get(key) == key
    assert sorted(n for counts in sizes.values() for n in counts) == [1, 1, 1]


async def test_each_caller_gets_its_own_reply(ckv: AsyncClient) -> None:
    async def worker(i: int) -> list[str]:
        wrong = []
        for j in range(5):
            await ckv.set(f"k{i}", f"{i}:{j}")
            got = await ckv.get(f"k{i}")
            if got != f"{i}:{j}":
                wrong.append(f"k{i} -> {got!r}")
        return wrong

    results = await asyncio.gather(*(worker(i) for i in range(500)))
    assert [w for ws in results for w in ws] == []
    assert all(len(mux.lanes) == 1 for mux in muxes_of(ckv).values())


async def test_an_error_reply_reaches_only_its_caller(ckv: AsyncClient) -> None:
    await ckv.set("{t}:s", "text")
    results = await asyncio.gather(
        ckv.get("{t}:s"), ckv.lpush("{t}:s", "x"), ckv.incr("{t}:n"), ckv.incr("{t}:s"),
        ckv.get("{t}:s"), return_exceptions=True,
    )  # fmt: skip
    assert results[0] == "text"
    assert isinstance(results[1], WrongTypeError)
    assert results[2] == 1
    assert isinstance(results[3], Exception)
    assert "not an integer" in str(results[3])
    assert results[4] == "text"


async def test_a_cancelled_callers_reply_is_dropped(
    ckv: AsyncClient, redis_cluster: RedisCluster
) -> None:
    await ckv.set("{c}:b", "B")
    node = redis_cluster.primary_of("{c}:b")
    with writes_paused(node):
        held = asyncio.ensure_future(ckv.incr("{c}:n"))  # written, held in the server
        await until_blocked(node)
        held.cancel()
        with pytest.raises(asyncio.CancelledError):
            await held
        # Its reply is still due on the connection, ahead of this one.
        later = asyncio.ensure_future(ckv.get("{c}:b"))
        await asyncio.sleep(0.05)
    assert await later == "B"  # not the INCR's reply
    assert await ckv.get("{c}:n") == "1"  # it was sent, so it ran: once


async def test_a_command_cancelled_before_its_write_is_never_sent(
    ckv: AsyncClient, redis_cluster: RedisCluster
) -> None:
    await ckv.ping()
    node = redis_cluster.primary_of("{q}")
    with writes_paused(node):
        first = asyncio.ensure_future(ckv.incr("{q}:sent"))
        await until_blocked(node)  # written, reply outstanding: the next one waits its turn
        queued = asyncio.ensure_future(ckv.incr("{q}:unsent"))
        await asyncio.sleep(0)  # the task runs and queues its command...
        queued.cancel()  # ...which is cancelled before the end of the step writes the buffer
        with pytest.raises(asyncio.CancelledError):
            await queued
    assert await first == 1
    assert await ckv.incr("{q}:sent") == 2
    assert node.command("GET", "{q}:unsent") is None


async def test_a_dead_connection_fails_exactly_its_commands(
    ckv: AsyncClient, redis_cluster: RedisCluster
) -> None:
    await ckv.set("{a}:k", "va")
    node = redis_cluster.primary_of("{a}")
    other = next(n for n in redis_cluster.current_primaries() if n is not node)
    other_key = next(key for key in KEYS if redis_cluster.primary_of(key) is other)
    with writes_paused(node, other):
        write = asyncio.ensure_future(ckv.incr("{a}:n"))
        reads = [asyncio.ensure_future(ckv.get("{a}:k")) for _ in range(5)]
        elsewhere = asyncio.ensure_future(ckv.incr(other_key))
        await until_blocked(node)
        await until_blocked(other)
        await asyncio.sleep(0.05)  # the reads are written behind the held write
        await asyncio.to_thread(node.command, "CLIENT", "KILL", "TYPE", "normal")
        with pytest.raises(OutcomeUnknownError):
            await write
        assert await asyncio.gather(*reads) == ["va"] * 5  # reads are sent again
        assert not elsewhere.done()  # the other node's connection was not touched
    assert await elsewhere == 1
    # The killed INCR never ran (its client was gone when the pause ended), and it was not
    # sent again: a re-sent one would have made it 1.
    assert await ckv.get("{a}:n") is None


async def test_socket_timeout_bounds_each_caller_then_recovers(
    redis_cluster: RedisCluster,
) -> None:
    async with client(redis_cluster, socket_timeout=0.3) as kv:
        await kv.flushdb()
        await kv.set("{s}:k", "v")
        node = redis_cluster.primary_of("{s}")
        with writes_paused(node):
            results = await asyncio.gather(
                kv.incr("{s}:n"), *(kv.get("{s}:k") for _ in range(5)), return_exceptions=True
            )
            assert all(isinstance(r, KVTimeoutError) for r in results), results
        assert await kv.get("{s}:k") == "v"  # on a fresh connection


async def test_aclose_fails_commands_in_flight(redis_cluster: RedisCluster) -> None:
    kv = client(redis_cluster)
    await kv.ping()
    node = redis_cluster.primary_of("{z}")
    with writes_paused(node):
        in_flight = [asyncio.ensure_future(kv.incr(f"{{z}}:n{i}")) for i in range(10)]
        await until_blocked(node)
        await kv.aclose()
        done, pending = await asyncio.wait(in_flight, timeout=30)
    assert not pending
    assert all(isinstance(t.exception(), ClientClosedError) for t in done)


async def test_pipelines_and_transactions_keep_pooled_connections(ckv: AsyncClient) -> None:
    async def transaction(i: int) -> list[Any]:
        async with ckv.pipeline(transaction=True) as p:
            p.incr(f"{{t{i}}}:n")
            p.get(f"{{t{i}}}:n")
        return p.replies

    results = await asyncio.gather(
        *(ckv.get(key) for key in KEYS), *(transaction(i) for i in range(5))
    )
    assert results[: len(KEYS)] == [None] * len(KEYS)
    assert results[len(KEYS) :] == [[1, "1"]] * 5


async def test_the_muxes_of_nodes_gone_from_the_topology_are_closed(
    ckv: AsyncClient,
) -> None:
    await asyncio.gather(*(ckv.get(key) for key in KEYS))
    muxes = muxes_of(ckv)
    names = set(muxes)
    assert len(names) == 3
    gone = sorted(names)[0]
    mux = muxes[gone]
    muxes.prune(names - {gone})
    assert set(muxes) == names - {gone}
    assert mux.closed
    assert await asyncio.gather(*(ckv.get(key) for key in KEYS)) == [None] * len(KEYS)
    assert set(muxes) == names  # made again on first use
