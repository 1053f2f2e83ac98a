"""The near cache (``near_cache_max_keys``) against real servers, and faults from the TCP proxy.

Each correctness rule of the near cache has its test here: reads are served locally after the
first; another client's write is seen once its invalidation arrives; a write racing a read
never leaves a stale entry; a dropped connection or a restarted server empties the cache; a
local copy never outlives the key's TTL on the server; memory is bounded; the client's own
writes (commands, pipelines, transactions, scripts) are seen at once. The differential test's
programs run with the near cache on and must get the memory driver's replies.

"Served locally" is checked by counting the requests that pass through the proxy, never by
timing. Waits are bounded by BOUND so that a hang fails instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from faultproxy import FaultProxy
from hypothesis import HealthCheck, given, settings
from servers import RedisServer, ServerBinary
from test_differential import EXAMPLES, Pair, Step, program_st

from aiokv import AsyncClient, KVSettings, Script
from aiokv.drivers._near_cache import NearCache, NearCachedDriver
from aiokv.drivers._near_cluster import ClusterNearCache
from aiokv.drivers._near_tracking import TrackingConnection
from aiokv.drivers._slots import key_slot
from aiokv.observability import NearCacheStats

BOUND = 30.0


@pytest.fixture(scope="module")
def server(server_binary: ServerBinary) -> Iterator[RedisServer]:
    with RedisServer(server_binary) as server:
        yield server


@pytest.fixture
async def proxy(server: RedisServer) -> AsyncIterator[FaultProxy]:
    server.command("FLUSHDB")
    async with FaultProxy(server.address) as proxy:
        yield proxy


def near_client(url: str, **overrides: Any) -> AsyncClient:
    options: dict[str, Any] = {
        "driver": "redis",
        "url": url,
        "near_cache_max_keys": 1000,
        "retry_backoff_base": 0.01,
        "retry_backoff_cap": 0.05,
        **overrides,
    }
    return AsyncClient(**options)


@pytest.fixture
async def kv(proxy: FaultProxy) -> AsyncIterator[AsyncClient]:
    """A near-cached client whose every connection goes through the proxy."""
    async with near_client(proxy.url()) as client:
        yield client


@pytest.fixture
async def other(server: RedisServer) -> AsyncIterator[AsyncClient]:
    """Another client, straight to the server."""
    async with AsyncClient(driver="redis", url=server.url) as client:
        yield client


def stats(kv: AsyncClient) -> NearCacheStats:
    near = kv.stats().near_cache
    assert near is not None
    return near


def cache_of(kv: AsyncClient) -> NearCache:
    driver = kv._driver
    assert isinstance(driver, NearCachedDriver)
    return driver.near


def tracker_of(kv: AsyncClient, key: str) -> TrackingConnection:
    """The tracking connection that reads ``key`` (a cluster has one per primary)."""
    near = cache_of(kv)
    if isinstance(near, ClusterNearCache):
        cluster = near.driver._cluster
        assert cluster is not None
        node = near.driver._node(cluster, key_slot(key))
        assert node is not None
        return near.trackers[node.name]
    return near.trackers[""]


async def until(predicate: Callable[[], Awaitable[bool] | bool], what: str) -> None:
    deadline = time.monotonic() + BOUND
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, f"still not {what} after {BOUND} s"
        await asyncio.sleep(0.005)


# -- reads served locally ------------------------------------------------------------------------


async def test_a_read_is_served_locally_after_the_first(kv: AsyncClient, proxy: FaultProxy) -> None:
    await kv.set("k", "v")
    assert await kv.get("k") == "v"
    sent = proxy.count("GET")
    assert [await kv.get("k") for _ in range(5)] == ["v"] * 5
    assert proxy.count("GET") == sent
    near = stats(kv)
    assert (near.hits, near.misses, near.keys) == (5, 1, 1)


READS: list[tuple[str, tuple[Any, ...], Any]] = [
    ("get", ("s",), "text"),
    ("get_bytes", ("s",), b"text"),
    ("strlen", ("s",), 4),
    ("exists", ("s",), 1),
    ("exists", ("nothing",), 0),
    ("get", ("nothing",), None),
    ("hget", ("h", "f"), "1"),
    ("hget", ("h", "missing"), None),
    ("hgetall", ("h",), {"f": "1", "g": "2"}),
    ("hexists", ("h", "g"), True),
    ("hlen", ("h",), 2),
    ("smembers", ("set",), {"a", "b"}),
    ("sismember", ("set", "a"), True),
    ("scard", ("set",), 2),
    ("lrange", ("list", 0, -1), ["x", "y"]),
    ("llen", ("list",), 2),
]


@pytest.mark.parametrize(("method", "args", "expected"), READS, ids=[r[0] for r in READS])
async def test_each_tracked_read_is_served_locally(
    kv: AsyncClient, proxy: FaultProxy, method: str, args: tuple[Any, ...], expected: Any
) -> None:
    await kv.set("s", "text")
    await kv.hset("h", mapping={"f": "1", "g": "2"})
    await kv.sadd("set", "a", "b")
    await kv.rpush("list", "x", "y")
    read = getattr(kv, method)
    assert await read(*args) == expected
    sent = len(proxy.commands)
    assert await read(*args) == expected
    assert len(proxy.commands) == sent, proxy.commands[sent:]
    assert stats(kv).hits == 1


async def test_hits_are_copies(kv: AsyncClient) -> None:
    await kv.hset("h", "f", "1")
    await kv.sadd("set", "a")
    await kv.rpush("list", "x")
    for read, mutate in (
        (lambda: kv.hgetall("h"), lambda d: d.clear()),
        (lambda: kv.smembers("set"), lambda s: s.add("zz")),
        (lambda: kv.lrange("list", 0, -1), lambda lst: lst.append("zz")),
    ):
        first = await read()
        expected = type(first)(first)
        mutate(first)
        hit = await read()
        assert hit == expected
        mutate(hit)
        assert await read() == expected


async def test_errors_and_multi_key_exists_go_to_the_server(
    kv: AsyncClient, proxy: FaultProxy
) -> None:
    await kv.rpush("list", "x")
    await kv.set("s", "v")
    for _ in range(2):
        with pytest.raises(Exception, match="WRONGTYPE"):
            await kv.get("list")
    assert await kv.exists("s", "list", "s", "none") == 3
    assert await kv.exists("s", "list", "s", "none") == 3
    assert proxy.count("EXISTS") == 2
    assert stats(kv).keys == 0


# -- writes --------------------------------------------------------------------------------------


async def test_own_writes_are_seen_at_once(kv: AsyncClient) -> None:
    await kv.set("k", "1")
    assert await kv.get("k") == "1"
    await kv.set("k", "2")
    assert await kv.get("k") == "2"
    await kv.incr("k")
    assert await kv.get("k") == "3"
    await kv.hset("h", "f", "1")
    assert await kv.hget("h", "f") == "1"
    await kv.hset("h", "f", "2")
    assert await kv.hgetall("h") == {"f": "2"}
    assert await kv.hget("h", "f") == "2"
    await kv.sadd("set", "a")
    assert await kv.smembers("set") == {"a"}
    await kv.srem("set", "a")
    assert await kv.smembers("set") == set()
    assert await kv.exists("k") == 1
    await kv.delete("k")
    assert await kv.exists("k") == 0
    assert await kv.get("k") is None
    await kv.set("{r}a", "x")  # one hash slot, for a cluster
    assert await kv.get("{r}b") is None
    await kv.rename("{r}a", "{r}b")  # two keys: both dropped
    assert (await kv.get("{r}a"), await kv.get("{r}b")) == (None, "x")


async def test_batches_transactions_and_scripts_drop_their_keys(kv: AsyncClient) -> None:
    await kv.set("k", "1")
    assert await kv.get("k") == "1"
    p = kv.pipeline()
    p.set("k", "2")
    p.get("k")
    assert await p.execute() == [True, "2"]
    assert await kv.get("k") == "2"
    t = kv.pipeline(transaction=True)
    t.set("k", "3")
    await t.execute()
    assert await kv.get("k") == "3"

    async def bump(tx: Any) -> None:
        value = int(await tx.get("k"))
        tx.multi()
        tx.set("k", str(value + 1))

    await kv.transaction(bump, "k")
    assert await kv.get("k") == "4"
    script = Script("return redis.call('SET', KEYS[1], ARGV[1])", local=_server_only)
    await kv.run_script(script, ["k"], ["5"])
    assert await kv.get("k") == "5"
    await kv.flushdb()
    assert await kv.get("k") is None


async def _server_only(driver: Any, keys: Any, args: Any) -> Any:
    raise AssertionError("the memory driver's side of a script: not run here")


async def test_a_write_racing_a_read_of_the_same_client(kv: AsyncClient) -> None:
    for i in range(200):
        await asyncio.gather(kv.get("k"), kv.set("k", str(i)), kv.get("k"))
        assert await kv.get("k") == str(i)


async def test_a_read_sent_during_an_own_write_is_not_kept_after_it(
    kv: AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read sent after a write dropped its key, but run by the server before the write.

    Its reply (the old value) is read after the write returned, and the invalidation behind
    it is held back: only the write's second drop (when it returns) keeps it out.
    """
    if not kv.settings.auto_pipeline:
        pytest.skip("the ordering is arranged through the multiplexed connection's buffer")
    await kv.get("{k}warm")  # k's tracking connection is open (k's node, on a cluster)
    tracker = tracker_of(kv, "k")
    received = tracker.data_received
    exercised = 0
    for i in range(30):
        await kv.set("k", f"old{i}")
        held: list[bytes] = []
        monkeypatch.setattr(tracker, "data_received", held.append)
        # The shared connection (of k's node) is busy: the SET waits.
        ping = asyncio.ensure_future(kv.ttl("{k}"))
        await asyncio.sleep(0)
        # The write's task runs first (it drops k, and its SET waits for the end of the step),
        # then the read's (written at once, on the tracking connection).
        write = asyncio.ensure_future(kv.set("k", f"new{i}"))
        read = asyncio.ensure_future(kv.get("k"))
        await asyncio.wait_for(asyncio.gather(ping, write), BOUND)
        await until(lambda held=held: b":-1\r\n" in b"".join(held), "the replies")
        data = b"".join(held)
        cut = data.find(b":-1\r\n") + 5
        received(data[:cut])  # the replies, not what follows (the invalidation)
        value = await asyncio.wait_for(read, BOUND)
        if value == f"old{i}":  # the server ran the GET first; the write has returned
            exercised += 1
            assert "k" not in cache_of(kv).held, "the old value was kept after the write"
        monkeypatch.setattr(tracker, "data_received", received)
        received(b"".join(held)[cut:])
        await until(lambda i=i: _is(kv.get("k"), f"new{i}"), "seeing the write")
    assert exercised > 0, "the server never ran the read before the write"


# -- other clients' writes -----------------------------------------------------------------------


async def test_another_clients_write_is_seen_once_invalidated(
    kv: AsyncClient, other: AsyncClient
) -> None:
    for i in range(20):
        await other.set("k", str(i))
        await until(lambda i=i: _is(kv.get("k"), str(i)), f"seeing k={i}")
        assert await kv.get("k") == str(i)  # kept again, and right
    near = stats(kv)
    assert near.invalidations >= 19
    assert near.hits >= 1


async def _is(read: Awaitable[Any], expected: Any) -> bool:
    return await read == expected


async def test_expiry_and_deletion_on_the_server_invalidate(
    kv: AsyncClient, other: AsyncClient
) -> None:
    await other.set("k", "v")
    await other.hset("h", "f", "v")
    assert await kv.get("k") == "v"
    assert await kv.hget("h", "f") == "v"
    await other.delete("k", "h")
    await until(lambda: _is(kv.get("k"), None), "seeing the deletion")
    await until(lambda: _is(kv.hget("h", "f"), None), "seeing the hash deletion")
    await other.flushdb()
    assert await kv.get("k") is None


async def test_a_write_racing_a_read_never_leaves_a_stale_entry(
    kv: AsyncClient, other: AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The invalidation is read after the read's reply, before the reply is kept.

    What the tracking connection receives is held back until the server has answered the GET
    (old value) and then pushed the invalidation of the racing SET; both are then handed over
    one chunk after the other in the same loop step, so the reader's coroutine resumes only
    after the invalidation was read. Without the fill token it would keep the old value.
    """
    await kv.get("{k}warm")  # k's tracking connection is open (k's node, on a cluster)
    tracker = tracker_of(kv, "k")
    received = tracker.data_received
    held: list[bytes] = []
    monkeypatch.setattr(tracker, "data_received", held.append)
    for i in range(5):
        await other.set("k", f"old{i}")
        read = asyncio.ensure_future(kv.get("k"))
        await until(lambda i=i: f"old{i}".encode() in b"".join(held), "the GET's reply")
        await other.set("k", f"new{i}")
        await until(lambda: b"invalidate" in b"".join(held), "the invalidation")
        chunks, held[:] = list(held), []
        for chunk in chunks:
            received(chunk)
        assert await asyncio.wait_for(read, BOUND) == f"old{i}"  # it ran before the SET
        assert "k" not in cache_of(kv).held
        # the next read (replies flowing again) is a miss that gets the new value
        monkeypatch.setattr(tracker, "data_received", received)
        assert await kv.get("k") == f"new{i}"
        assert await kv.get("k") == f"new{i}"
        await other.delete("k")
        await until(lambda: "k" not in cache_of(kv).held, "invalidating k")
        monkeypatch.setattr(tracker, "data_received", held.append)


async def test_a_write_racing_a_read_through_the_proxy(
    kv: AsyncClient, other: AsyncClient, proxy: FaultProxy
) -> None:
    """The same race with the replies held by the proxy: k ends up right within one delay."""
    for i in range(10):
        await kv.get("warm")
        await other.set("k", f"old{i}")
        await until(lambda: "k" not in cache_of(kv).held, "invalidating the last round's k")
        gets = proxy.count("GET")
        proxy.hold(requests=False, replies=True)
        read = asyncio.ensure_future(kv.get("k"))
        await until(lambda gets=gets: proxy.count("GET") > gets, "forwarding the GET")
        await other.set("k", f"new{i}")  # the server pushes an invalidation (held)
        proxy.release()
        assert await asyncio.wait_for(read, BOUND) in (f"old{i}", f"new{i}")
        await until(lambda i=i: _is(kv.get("k"), f"new{i}"), f"seeing new{i}")
        assert await kv.get("k") == f"new{i}"


# -- lost tracking -------------------------------------------------------------------------------


async def test_a_dropped_connection_empties_the_cache(
    kv: AsyncClient, other: AsyncClient, proxy: FaultProxy
) -> None:
    await other.set("k", "1")
    assert await kv.get("k") == "1"
    assert await kv.get("k") == "1"
    flushes = stats(kv).flushes
    proxy.hold(replies=True, requests=False)  # the invalidation below is never delivered
    await other.set("k", "2")
    proxy.drop_all()
    proxy.heal()
    await until(lambda: stats(kv).flushes > flushes, "emptying the cache")
    assert stats(kv).keys == 0
    assert await kv.get("k") == "2"
    assert await kv.get("k") == "2"
    assert stats(kv).hits >= 2  # tracking is back: reads are kept again


async def test_nothing_is_kept_until_tracking_is_back(
    kv: AsyncClient, other: AsyncClient, proxy: FaultProxy
) -> None:
    await other.set("k", "1")
    assert await kv.get("k") == "1"
    near = cache_of(kv)
    near.retry_at[""] = float("inf")  # the tracking connection will not be reopened...
    proxy.drop_all()
    await until(lambda: not near.trackers, "losing the tracking connection")
    for i in range(3):  # ...so every read goes to the server, and none is kept
        await other.set("k", str(i))
        assert await kv.get("k") == str(i)
    assert stats(kv).keys == 0
    near.retry_at.clear()
    assert await kv.get("k") == "2"
    assert stats(kv).keys == 1


async def test_a_server_restart_empties_the_cache(server_binary: ServerBinary) -> None:
    with RedisServer(server_binary) as server:
        async with near_client(server.url) as kv:
            await kv.set("k", "before")
            assert await kv.get("k") == "before"
            flushes = stats(kv).flushes
            server.restart()  # no persistence: the key is gone
            await until(lambda: stats(kv).flushes > flushes, "noticing the restart")
            assert await kv.get("k") is None
            await kv.set("k", "after")
            assert await kv.get("k") == "after"
            assert await kv.get("k") == "after"


async def test_a_silent_server_empties_the_cache(other: AsyncClient, proxy: FaultProxy) -> None:
    """A partition that closes nothing: the heartbeat's timeout empties the cache."""
    async with near_client(proxy.url(), socket_timeout=0.3) as kv:
        await other.set("k", "1")
        assert await kv.get("k") == "1"
        flushes = stats(kv).flushes
        proxy.hold()  # nothing flows either way, nothing is closed
        await other.set("k", "2")
        await until(lambda: stats(kv).flushes > flushes, "timing the tracking connection out")
        proxy.heal()
        assert await kv.get("k") == "2"


# -- TTL, age, memory ----------------------------------------------------------------------------


async def test_a_local_copy_never_outlives_the_server_ttl(
    kv: AsyncClient, other: AsyncClient, proxy: FaultProxy
) -> None:
    await other.set("k", "v", ttl=0.3)
    assert await kv.get("k") == "v"
    assert await kv.get("k") == "v"  # kept
    proxy.hold(requests=False, replies=True)  # no invalidation can come in
    await asyncio.sleep(0.4)
    read = asyncio.ensure_future(kv.get("k"))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not read.done(), "the expired copy was served locally"
    proxy.release()
    assert await asyncio.wait_for(read, BOUND) is None


async def test_deadlines_follow_the_server_ttl_and_near_cache_ttl(proxy: FaultProxy) -> None:
    async with near_client(proxy.url(), near_cache_ttl=50) as kv:
        await kv.set("short", "v", ttl=10)
        await kv.set("long", "v", ttl=1000)
        await kv.set("none", "v")
        before = time.monotonic()
        for key in ("short", "long", "none"):
            assert await kv.get(key) == "v"
        after = time.monotonic()
        near = cache_of(kv)
        deadlines = {key: store[(key,)][1] for store in near.stores for key in ("short",
                     "long", "none") if (key,) in store}  # fmt: skip
        assert before + 9 < deadlines["short"] <= after + 10
        assert before + 49 < deadlines["long"] <= after + 50
        assert before + 49 < deadlines["none"] <= after + 50


async def test_memory_is_bounded(proxy: FaultProxy) -> None:
    async with near_client(proxy.url(), near_cache_max_keys=10) as kv:
        await kv.mset({f"k{i}": str(i) for i in range(50)})
        for _ in range(2):
            for i in range(50):
                assert await kv.get(f"k{i}") == str(i)
                assert stats(kv).keys <= 10
        # the ten most recent keys, read again, are hits
        hits = stats(kv).hits
        for i in range(40, 50):
            assert await kv.get(f"k{i}") == str(i)
        assert stats(kv).hits == hits + 10
        assert stats(kv).evictions == 90


async def test_recently_read_keys_survive_eviction(proxy: FaultProxy) -> None:
    async with near_client(proxy.url(), near_cache_max_keys=4) as kv:
        await kv.mset({f"k{i}": str(i) for i in range(10)})
        for i in range(4):
            await kv.get(f"k{i}")
        await kv.get("k0")  # used: it gets a second chance
        await kv.get("k5")  # full: evicts k1, the oldest unused
        hits = stats(kv).hits
        await kv.get("k0")
        assert stats(kv).hits == hits + 1
        await kv.get("k1")
        assert stats(kv).hits == hits + 1


# -- prefixes, settings, cancellation, refusal ---------------------------------------------------


async def test_prefixes_track_by_broadcast(proxy: FaultProxy, other: AsyncClient) -> None:
    async with near_client(proxy.url(), near_cache_prefixes=("user:",)) as kv:
        await other.set("user:1", "a")
        await other.set("page:1", "b")
        for _ in range(3):
            assert await kv.get("user:1") == "a"
            assert await kv.get("page:1") == "b"
        assert proxy.count("GET") == 4  # user:1 once, page:1 each time
        assert any(c[:4] == (b"CLIENT", b"TRACKING", b"ON", b"BCAST") for c in proxy.commands)
        await other.set("user:1", "c")
        await until(lambda: _is(kv.get("user:1"), "c"), "seeing the broadcast invalidation")


async def test_prefixes_are_under_the_key_prefix(proxy: FaultProxy, other: AsyncClient) -> None:
    async with near_client(proxy.url(), key_prefix="app:", near_cache_prefixes=("user:",)) as kv:
        await other.set("app:user:1", "a")
        assert await kv.get("user:1") == "a"
        assert await kv.get("user:1") == "a"
        assert stats(kv).hits == 1
        assert any(b"app:user:" in c for c in proxy.commands)


async def test_a_cancelled_read_keeps_nothing_wrong(
    kv: AsyncClient, other: AsyncClient, proxy: FaultProxy
) -> None:
    await kv.get("warm")
    await other.set("k", "1")
    proxy.hold(requests=False, replies=True)
    read = asyncio.ensure_future(kv.get("k"))
    await until(lambda: proxy.count("GET") >= 2, "forwarding the GET")
    read.cancel()
    await other.set("k", "2")
    proxy.release()
    with pytest.raises(asyncio.CancelledError):
        await read
    assert await kv.get("k") == "2"
    assert await kv.get("k") == "2"
    assert not cache_of(kv).filling


async def test_a_refused_tracking_turns_the_near_cache_off(
    server: RedisServer, proxy: FaultProxy
) -> None:
    server.command("ACL", "SETUSER", "nc", "on", ">pw", "~*", "&*", "+@all", "-client")
    try:
        url = f"redis://nc:pw@127.0.0.1:{proxy.port}/0"
        async with near_client(url) as kv:
            await kv.set("k", "v")
            assert [await kv.get("k") for _ in range(3)] == ["v"] * 3
            assert proxy.count("GET") == 3
            assert stats(kv).keys == 0
    finally:
        server.command("ACL", "DELUSER", "nc")


def test_a_client_moved_to_another_loop_starts_afresh(server: RedisServer) -> None:
    kv = near_client(server.url)
    other = AsyncClient(driver="redis", url=server.url)

    async def first() -> None:
        await kv.set("k", "1")
        assert await kv.get("k") == "1"
        assert await kv.get("k") == "1"

    async def second() -> None:
        await other.set("k", "2")  # no loop is reading the old tracking connection
        assert await kv.get("k") == "2"
        assert await kv.get("k") == "2"
        await kv.aclose()
        await other.aclose()

    asyncio.run(first())
    asyncio.run(second())


def test_settings() -> None:
    s = KVSettings(driver="redis", near_cache_max_keys=10, near_cache_prefixes="a:, b:")
    assert s.near_cache_prefixes == ("a:", "b:")
    assert KVSettings().near_cache_max_keys is None
    with pytest.raises(ValueError, match="KV_NEAR_CACHE_MAX_KEYS"):
        KVSettings(near_cache_ttl=5)
    with pytest.raises(ValueError, match="KV_NEAR_CACHE_MAX_KEYS"):
        KVSettings(near_cache_prefixes=("a",))
    on_cluster = KVSettings(driver="cluster", cluster_nodes="127.0.0.1:7000", near_cache_max_keys=5)
    assert on_cluster.near_cache_max_keys == 5
    with pytest.raises(ValueError, match="near_cache_max_keys"):
        KVSettings(near_cache_max_keys=0)
    with pytest.raises(ValueError, match="non-empty"):
        KVSettings(near_cache_max_keys=5, near_cache_prefixes=["a", ""])


async def test_stats_without_the_near_cache(server: RedisServer) -> None:
    async with AsyncClient(driver="redis", url=server.url) as kv:
        await kv.get("k")
        assert kv.stats().near_cache is None
    assert AsyncClient(driver="memory", near_cache_max_keys=5).stats().near_cache is None


async def test_counters_reach_opentelemetry(server: RedisServer) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider

    from aiokv.observability import instrument

    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    tracers = TracerProvider(shutdown_on_exit=False)
    kv = near_client(server.url)
    instrument(kv, tracer_provider=tracers, meter_provider=meters)
    try:
        async with kv:
            await kv.set("k", "v")
            for _ in range(3):
                assert await kv.get("k") == "v"
            assert stats(kv) == NearCacheStats(2, 1, 0, 0, 0, 1)
            data = reader.get_metrics_data()
            assert data is not None
            points = {
                metric.name: [getattr(p, "value", None) for p in metric.data.data_points]
                for resource in data.resource_metrics
                for scope in resource.scope_metrics
                for metric in scope.metrics
            }
            assert points["aiokv.near_cache.hits"] == [2]
            assert points["aiokv.near_cache.misses"] == [1]
            assert points["aiokv.near_cache.keys"] == [1]
            assert points["aiokv.near_cache.flushes"] == [0]
    finally:
        tracers.shutdown()
        meters.shutdown()


# -- the differential test, near cache on --------------------------------------------------------


@pytest.fixture(scope="module")
def near_pair(server: RedisServer) -> Iterator[Pair]:
    clients = Pair(server, near_cache_max_keys=8)
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
    """Every program gets the memory driver's replies from a near-cached redis client."""
    assert isinstance(near_pair.redis._driver, NearCachedDriver)
    near_pair.run(near_pair.check(program))
