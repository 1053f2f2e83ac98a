"""The near cache on the cluster driver, against a real Redis Cluster.

The tests of ``test_near_cache.py`` that need no proxy run here again, imported, on a
near-cached cluster client (pytest resolves their ``kv`` and ``other`` fixtures in this
module). The others have a variant here: "served locally" is counted with the nodes' own
``INFO commandstats``, a lost connection is the node closing it (``CLIENT KILL``), a silent
node is ``CLIENT PAUSE``, and a held invalidation is held in the tracking connection's reader.
Then the cluster's own rules: each miss read on the node of its key's slot, any node's
invalidations, any node's lost connection emptying the whole cache, and a slot moved to
another node (``MOVED``, on a cluster of this module's own).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis
from conftest import CLUSTER_TARGET
from hypothesis import HealthCheck, given, settings
from servers import RedisCluster, RedisServer, ServerBinary
from test_differential import EXAMPLES, Pair, Step, program_st
from test_near_cache import (  # noqa: F401  (collected here: the same tests on a cluster)
    BOUND,
    READS,
    _is,
    cache_of,
    stats,
    test_a_read_sent_during_an_own_write_is_not_kept_after_it,
    test_a_write_racing_a_read_never_leaves_a_stale_entry,
    test_a_write_racing_a_read_of_the_same_client,
    test_another_clients_write_is_seen_once_invalidated,
    test_batches_transactions_and_scripts_drop_their_keys,
    test_expiry_and_deletion_on_the_server_invalidate,
    test_hits_are_copies,
    test_own_writes_are_seen_at_once,
    tracker_of,
    until,
)

from aiokv import AsyncClient
from aiokv.drivers._near_cache import NearCachedDriver
from aiokv.drivers._near_cluster import ClusterNearCache
from aiokv.drivers._near_tracking import TrackingConnection
from aiokv.drivers._slots import key_slot


def near_client(cluster: RedisCluster, **overrides: Any) -> AsyncClient:
    options: dict[str, Any] = {
        "driver": "cluster",
        "url": cluster.url,
        "near_cache_max_keys": 1000,
        "retry_backoff_base": 0.01,
        "retry_backoff_cap": 0.05,
        **overrides,
    }
    return AsyncClient(**options)


@pytest.fixture
async def kv(redis_cluster: RedisCluster) -> AsyncIterator[AsyncClient]:
    redis_cluster.flushall()
    async with near_client(redis_cluster) as client:
        assert isinstance(cache_of(client), ClusterNearCache)
        await client.ping()  # the topology is loaded: the first read is tracked already
        yield client


@pytest.fixture
async def other(redis_cluster: RedisCluster) -> AsyncIterator[AsyncClient]:
    """Another client of the cluster, without a near cache."""
    async with AsyncClient(driver="cluster", url=redis_cluster.url) as client:
        yield client


def calls(cluster: RedisCluster, command: str) -> int:
    """How many times the primaries ran ``command`` (their INFO commandstats)."""
    total = 0
    for node in cluster.current_primaries():
        line = node.info("commandstats").get(f"cmdstat_{command.lower()}", "calls=0")
        total += int(line.split(",")[0].removeprefix("calls="))
    return total


def calls_on(node: RedisServer, command: str) -> int:
    line = node.info("commandstats").get(f"cmdstat_{command.lower()}", "calls=0")
    return int(line.split(",")[0].removeprefix("calls="))


def kill_tracking(node: RedisServer, tracker: TrackingConnection) -> int:
    """Close, on the server side, ``tracker``'s connection to ``node`` (a tracking one, flag
    ``t``); another client's, as the module's differential client, is left alone."""
    assert tracker.transport is not None
    host, port = tracker.transport.get_extra_info("sockname")[:2]
    listing = node.command("CLIENT", "LIST")
    assert isinstance(listing, bytes)
    killed = 0
    for line in listing.decode().splitlines():
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        if "t" in fields.get("flags", "") and fields.get("addr") == f"{host}:{port}":
            node.command("CLIENT", "KILL", "ID", fields["id"])
            killed += 1
    return killed


def keys_per_node(cluster: RedisCluster, count: int = 2) -> dict[int, list[str]]:
    """``count`` keys served by each primary, by port."""
    found: dict[int, list[str]] = {node.port: [] for node in cluster.current_primaries()}
    i = 0
    while any(len(keys) < count for keys in found.values()):
        key = f"key:{i}"
        port = cluster.primary_of(key).port
        if len(found[port]) < count:
            found[port].append(key)
        i += 1
    return found


# -- reads served locally ------------------------------------------------------------------------


async def test_a_read_is_served_locally_after_the_first(
    kv: AsyncClient, redis_cluster: RedisCluster
) -> None:
    await kv.set("k", "v")
    assert await kv.get("k") == "v"
    sent = calls(redis_cluster, "GET")
    assert [await kv.get("k") for _ in range(5)] == ["v"] * 5
    assert calls(redis_cluster, "GET") == sent
    near = stats(kv)
    assert (near.hits, near.misses, near.keys) == (5, 1, 1)


@pytest.mark.parametrize(("method", "args", "expected"), READS, ids=[r[0] for r in READS])
async def test_each_tracked_read_is_served_locally(
    kv: AsyncClient, redis_cluster: RedisCluster, method: str, args: tuple[Any, ...], expected: Any
) -> None:
    await kv.set("s", "text")
    await kv.hset("h", mapping={"f": "1", "g": "2"})
    await kv.sadd("set", "a", "b")
    await kv.rpush("list", "x", "y")
    read = getattr(kv, method)
    assert await read(*args) == expected
    command = method.upper().removesuffix("_BYTES")
    sent = calls(redis_cluster, command)
    assert await read(*args) == expected
    assert calls(redis_cluster, command) == sent
    assert stats(kv).hits == 1


async def test_errors_and_multi_key_exists_go_to_the_server(
    kv: AsyncClient, redis_cluster: RedisCluster
) -> None:
    await kv.rpush("list", "x")
    await kv.set("s", "v")
    for _ in range(2):
        with pytest.raises(Exception, match="WRONGTYPE"):
            await kv.get("list")
    before = calls(redis_cluster, "EXISTS")
    assert await kv.exists("s", "list", "s", "none") == 3
    assert await kv.exists("s", "list", "s", "none") == 3
    assert calls(redis_cluster, "EXISTS") > before + 1  # split by slot, each time
    assert stats(kv).keys == 0


# -- the cluster's own rules ---------------------------------------------------------------------


async def test_each_miss_is_read_on_the_node_of_its_slot(
    kv: AsyncClient, other: AsyncClient, redis_cluster: RedisCluster
) -> None:
    per_node = keys_per_node(redis_cluster)
    for keys in per_node.values():
        for key in keys:
            await other.set(key, f"{key}=1")
    near = cache_of(kv)
    for port, keys in per_node.items():
        node = next(n for n in redis_cluster.nodes if n.port == port)
        before = calls_on(node, "GET")
        for key in keys:
            assert await kv.get(key) == f"{key}=1"
            assert await kv.get(key) == f"{key}=1"
        assert calls_on(node, "GET") == before + len(keys)  # the misses, read on this node
    names = {f"127.0.0.1:{port}" for port in per_node}
    assert set(near.trackers) == names
    assert stats(kv).keys == sum(len(keys) for keys in per_node.values())
    # Invalidations from every node drop their keys.
    for keys in per_node.values():
        for key in keys:
            await other.set(key, f"{key}=2")
    for keys in per_node.values():
        for key in keys:
            await until(lambda key=key: _is(kv.get(key), f"{key}=2"), f"seeing {key}=2")
    assert stats(kv).invalidations >= len(names) * 2


async def test_a_lost_node_connection_empties_the_whole_cache(
    kv: AsyncClient, other: AsyncClient, redis_cluster: RedisCluster
) -> None:
    per_node = keys_per_node(redis_cluster, 1)
    keys = [key for keys in per_node.values() for key in keys]
    for key in keys:
        await other.set(key, "1")
        assert await kv.get(key) == "1"
    near = cache_of(kv)
    assert stats(kv).keys == len(keys)
    lost_key = keys[0]
    tracker = tracker_of(kv, lost_key)
    lost_name = tracker.address
    node = redis_cluster.primary_of(lost_key)
    near.retry_at[lost_name] = float("inf")  # that node's connection will not be reopened...
    flushes = stats(kv).flushes
    assert kill_tracking(node, tracker) == 1
    await until(lambda: lost_name not in near.trackers, "losing the tracking connection")
    assert stats(kv).flushes > flushes
    assert stats(kv).keys == 0  # the other nodes' keys too
    for i in range(3):  # ...so its keys are read on the server each time, and none is kept
        await other.set(lost_key, str(i))
        assert await kv.get(lost_key) == str(i)
    assert lost_key not in near.held
    for key in keys[1:]:  # the other nodes' keys are kept again
        assert await kv.get(key) == "1"
        assert key in near.held
    near.retry_at.clear()
    assert await kv.get(lost_key) == "2"
    assert lost_key in near.held
    await other.set(lost_key, "3")
    await until(lambda: _is(kv.get(lost_key), "3"), "seeing the write after the reconnection")


async def test_a_silent_node_empties_the_cache(
    other: AsyncClient, redis_cluster: RedisCluster
) -> None:
    """A node that answers nothing (CLIENT PAUSE) and closes nothing: the heartbeat's timeout."""
    redis_cluster.flushall()
    async with near_client(redis_cluster, socket_timeout=0.3) as kv:
        await kv.ping()  # the topology is loaded: the first read is tracked
        await other.set("k", "1")
        assert await kv.get("k") == "1"
        flushes = stats(kv).flushes
        node = redis_cluster.primary_of("k")
        node.command("CLIENT", "PAUSE", 1500, "ALL")
        try:
            await until(lambda: stats(kv).flushes > flushes, "timing the connection out")
            assert stats(kv).keys == 0
        finally:
            node.command("CLIENT", "UNPAUSE")
        await other.set("k", "2")
        await until(lambda: _is(kv.get("k"), "2"), "reading k again")


async def test_a_local_copy_never_outlives_the_server_ttl(
    kv: AsyncClient, other: AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await other.set("k", "v", ttl=0.3)
    assert await kv.get("k") == "v"
    assert await kv.get("k") == "v"  # kept
    tracker = tracker_of(kv, "k")
    held: list[bytes] = []
    monkeypatch.setattr(tracker, "data_received", held.append)  # no invalidation comes in
    await asyncio.sleep(0.4)
    read = asyncio.ensure_future(kv.get("k"))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not read.done(), "the expired copy was served locally"
    monkeypatch.undo()
    for chunk in held:
        tracker.data_received(chunk)
    assert await asyncio.wait_for(read, BOUND) is None


async def test_memory_is_bounded(redis_cluster: RedisCluster) -> None:
    redis_cluster.flushall()
    async with near_client(redis_cluster, near_cache_max_keys=10) as kv:
        for i in range(50):
            await kv.set(f"k{i}", str(i))
        for _ in range(2):
            for i in range(50):
                assert await kv.get(f"k{i}") == str(i)
                assert stats(kv).keys <= 10
        hits = stats(kv).hits
        for i in range(40, 50):
            assert await kv.get(f"k{i}") == str(i)
        assert stats(kv).hits == hits + 10
        assert stats(kv).evictions == 90


async def test_prefixes_track_by_broadcast_on_every_node(
    other: AsyncClient, redis_cluster: RedisCluster
) -> None:
    redis_cluster.flushall()
    async with near_client(redis_cluster, near_cache_prefixes=("user:",)) as kv:
        await kv.ping()
        per_node = keys_per_node(redis_cluster, 1)
        users = [f"user:{i}" for i in range(12)]
        for key in users:
            await other.set(key, "a")
        await other.set("page:1", "b")
        before = calls(redis_cluster, "GET")
        for _ in range(3):
            for key in users:
                assert await kv.get(key) == "a"
            assert await kv.get("page:1") == "b"
        assert calls(redis_cluster, "GET") == before + len(users) + 3
        assert len(cache_of(kv).trackers) == len(per_node)  # users on every node
        for key in users:
            await other.set(key, "c")
        for key in users:
            await until(lambda key=key: _is(kv.get(key), "c"), "seeing the broadcast")


async def test_a_refused_tracking_turns_the_near_cache_off(redis_cluster: RedisCluster) -> None:
    redis_cluster.flushall()
    nodes = [node for node in redis_cluster.nodes if node.is_running]
    for node in nodes:
        node.command("ACL", "SETUSER", "nc", "on", ">pw", "~*", "&*", "+@all", "-client")
    try:
        url = redis_cluster.url.replace("://", "://nc:pw@", 1)
        async with near_client(redis_cluster, url=url) as kv:
            await kv.set("k", "v")
            before = calls(redis_cluster, "GET")
            assert [await kv.get("k") for _ in range(3)] == ["v"] * 3
            assert calls(redis_cluster, "GET") == before + 3
            assert stats(kv).keys == 0
    finally:
        for node in nodes:
            node.command("ACL", "DELUSER", "nc")


# -- a slot moved to another node ----------------------------------------------------------------


@pytest.fixture(scope="module")
def small_cluster(server_binary: ServerBinary) -> Iterator[RedisCluster]:
    """Two primaries, no replicas: this module's own, for moving slots."""
    with RedisCluster(server_binary, primaries=2, replicas=0) as cluster:
        yield cluster


def node_id(node: RedisServer) -> str:
    reply = node.command("CLUSTER", "MYID")
    assert isinstance(reply, bytes)
    return reply.decode()


def move_slot(cluster: RedisCluster, slot: int, target: RedisServer) -> None:
    """Move ``slot`` and its keys to ``target``, as ``redis-cli --cluster reshard`` does."""
    source = cluster.node_of_slot(slot)
    if source is target:
        return
    target.command("CLUSTER", "SETSLOT", slot, "IMPORTING", node_id(source))
    source.command("CLUSTER", "SETSLOT", slot, "MIGRATING", node_id(target))
    while True:
        keys = source.command("CLUSTER", "GETKEYSINSLOT", slot, 100)
        assert isinstance(keys, list)
        if not keys:
            break
        source.command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *keys)
    for node in cluster.nodes:
        node.command("CLUSTER", "SETSLOT", slot, "NODE", node_id(target))
    deadline = time.monotonic() + BOUND  # a bound on a hang, not a timing assertion
    while not all(_owner(node, slot) == target.port for node in cluster.nodes):
        assert time.monotonic() < deadline, f"the nodes never agreed on slot {slot}"
        time.sleep(0.01)


def _owner(node: RedisServer, slot: int) -> int | None:
    for entry in node.command("CLUSTER", "SLOTS"):  # type: ignore[union-attr]
        assert isinstance(entry, list)
        if entry[0] <= slot <= entry[1]:  # type: ignore[operator]
            return entry[2][1]  # type: ignore[index,no-any-return]
    return None


@pytest.mark.skipif(
    redis.__version__.startswith("5.0."),
    reason="redis-py 5.0 has no NodesManager.move_slot: the slot table is reloaded at the next "
    "lookup, so the count of commands on the new owner differs by one",
)
async def test_a_miss_on_a_moved_slot_follows_it(small_cluster: RedisCluster) -> None:
    small_cluster.flushall()
    slot = key_slot("moving")
    home = small_cluster.node_of_slot(slot)
    away = next(node for node in small_cluster.nodes if node is not home)
    async with (
        near_client(small_cluster) as kv,
        AsyncClient(driver="cluster", url=small_cluster.url) as other,
    ):
        try:
            stay = next(f"stay:{i}" for i in range(100) if small_cluster.primary_of(f"stay:{i}")
                        is home and key_slot(f"stay:{i}") != slot)  # fmt: skip
            await kv.ping()
            await other.set("moving", "1")
            await other.set(stay, "s")
            assert await kv.get("moving") == "1"
            assert await kv.get(stay) == "s"
            assert stats(kv).keys == 2
            move_slot(small_cluster, slot, away)
            # The old owner invalidated the key MIGRATE deleted there.
            await until(lambda: "moving" not in cache_of(kv).held, "invalidating the moved key")
            flushes = stats(kv).flushes
            before = calls_on(away, "GET")
            assert await kv.get("moving") == "1"  # MOVED on the tracking connection: followed
            assert stats(kv).flushes > flushes  # a new topology: emptied (the other key too)
            assert stay not in cache_of(kv).held
            assert calls_on(away, "GET") == before + 1
            assert await kv.get("moving") == "1"  # kept, tracked by its new node
            assert calls_on(away, "GET") == before + 1
            await other.set("moving", "2")
            await until(lambda: _is(kv.get("moving"), "2"), "the new node's invalidation")
            assert f"127.0.0.1:{away.port}" in cache_of(kv).trackers
        finally:
            move_slot(small_cluster, slot, home)


# -- the differential test, near cache on a cluster ----------------------------------------------


@pytest.fixture(scope="module")
def near_pair(request: pytest.FixtureRequest) -> Iterator[Pair]:
    # With test_differential's cluster target (AIOKV_TEST_CLUSTER=1, nox -s cluster): it runs
    # the same programs on the session's cluster, against the memory driver's slot checks.
    if not CLUSTER_TARGET:
        pytest.skip("the cluster target runs with AIOKV_TEST_CLUSTER=1, as test_differential's")
    redis_cluster: RedisCluster = request.getfixturevalue("redis_cluster")
    clients = Pair(redis_cluster, "cluster", near_cache_max_keys=8)
    try:
        yield clients
        near = clients.redis.stats().near_cache
        assert near is not None
        assert near.hits > 0, "the programs never hit the near cache"
    finally:
        clients.close()


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(program=program_st())
def test_the_near_cache_changes_no_reply(near_pair: Pair, program: list[Step]) -> None:
    """Every program gets the memory driver's replies from a near-cached cluster client."""
    assert isinstance(near_pair.redis._driver, NearCachedDriver)
    near_pair.run(near_pair.check(program))
