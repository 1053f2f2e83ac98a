"""Cache-aside across processes and failures: lock=, stale_ttl=, stale_if_error=, refresh=,
condition=, tags= and their counters, on every driver (and several processes on one server)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from faultproxy import FaultProxy
from servers import RedisServer

from aiokv import AsyncClient, CrossSlotError, InvalidArgumentError, cached
from aiokv.observability import CacheStats
from aiokv.patterns.cache_entry import unwrap
from aiokv.patterns.cache_lock import channel_for

REPO = Path(__file__).resolve().parents[1]
BOUND = 30.0  # every wait in this module ends by then, so a hang fails instead


class Factory:
    """Counts its calls; returns the next of ``values`` (the last one for ever), or raises."""

    def __init__(self, *values: Any, error: Exception | None = None) -> None:
        self.values = list(values) or ["v"]
        self.error = error
        self.calls = 0
        self.gate: asyncio.Event | None = None
        self.started = asyncio.Event()

    async def __call__(self) -> Any:
        self.calls += 1
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        return self.values[min(self.calls, len(self.values)) - 1]


async def eventually(check: Callable[[], Any]) -> None:
    """Wait until ``await check()`` is true (background work has no other signal)."""
    deadline = time.monotonic() + BOUND
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail("the condition never came true")
        await asyncio.sleep(0.01)


# -- stale_ttl: stale-while-revalidate ---------------------------------------------------------


async def test_stale_value_is_served_while_one_task_refreshes_it(kv: AsyncClient) -> None:
    load = Factory("old", "new")
    assert await kv.get_or_set("k", load, ttl=0.3, stale_ttl=60) == "old"
    data, fresh_until = unwrap(await kv.get_bytes("k") or b"")
    assert data == b'"old"'
    assert fresh_until is not None
    assert 60_000 < await kv.pttl("k") <= 60_300  # fresh TTL + stale window: one key
    await asyncio.sleep(0.4)
    load.gate, load.started = asyncio.Event(), asyncio.Event()
    # Past the fresh TTL: the old value, at once, to every caller; one refresh in the background.
    calls = (kv.get_or_set("k", load, 0.3, stale_ttl=60) for _ in range(5))
    assert await asyncio.gather(*calls) == ["old"] * 5
    assert await kv.get_or_set("k", load, ttl=0.3, stale_ttl=60) == "old"
    await load.started.wait()
    assert load.calls == 2
    load.gate.set()

    async def refreshed() -> bool:
        return unwrap(await kv.get_bytes("k") or b"")[0] == b'"new"'

    await eventually(refreshed)
    assert load.calls == 2
    stats = kv.stats().get_or_set
    assert (stats.stale, stats.computations) == (6, 2)


async def test_past_the_stale_window_is_a_miss(kv: AsyncClient) -> None:
    load = Factory("old", "new")
    await kv.get_or_set("k", load, ttl=0.1, stale_ttl=0.1)
    await asyncio.sleep(0.3)
    assert await kv.exists("k") == 0  # the server dropped it: TTL = fresh + stale
    assert await kv.get_or_set("k", load, ttl=0.1, stale_ttl=0.1) == "new"
    assert kv.stats().get_or_set.stale == 0


async def test_a_stale_value_is_a_miss_without_stale_ttl(kv: AsyncClient) -> None:
    load = Factory("old", "new")
    await kv.get_or_set("k", load, ttl=0.1, stale_ttl=60)
    await asyncio.sleep(0.2)
    assert await kv.get_or_set("k", load, ttl=60) == "new"  # this caller accepts no stale value
    assert await kv.get("k") == '"new"'  # stored plain again


async def test_a_failed_background_refresh_is_logged_and_keeps_the_value(
    kv: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    load = Factory("old")
    await kv.get_or_set("k", load, ttl=0.1, stale_ttl=60)
    await asyncio.sleep(0.2)
    load.error = RuntimeError("database down")
    with caplog.at_level(logging.WARNING, logger="aiokv"):
        assert await kv.get_or_set("k", load, ttl=0.1, stale_ttl=60) == "old"
        await eventually(lambda: _async(len(kv._flights) == 0))
    assert "refreshing the stale value failed" in caplog.text
    assert "database down" in caplog.text
    assert await kv.get_or_set("k", load, ttl=0.1, stale_ttl=60) == "old"


async def test_closing_the_client_cancels_a_background_refresh(
    kv_settings: dict[str, Any],
) -> None:
    load = Factory("old", "new")
    async with AsyncClient(**kv_settings) as kv:
        await kv.flushdb()
        await kv.get_or_set("k", load, ttl=0.1, stale_ttl=60)
        await asyncio.sleep(0.2)
        load.gate, load.started = asyncio.Event(), asyncio.Event()  # gate never set
        await kv.get_or_set("k", load, ttl=0.1, stale_ttl=60)
        await load.started.wait()
        assert len(kv._flights) == 1
    assert len(kv._flights) == 0
    assert not kv._flights._tasks


# -- stale_if_error ------------------------------------------------------------------------------


async def test_factory_error_serves_the_last_value_and_logs_it(
    kv: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    load = Factory({"n": 1})
    await kv.get_or_set("k", load, ttl=0.1, stale_if_error=60)
    await asyncio.sleep(0.2)
    load.error = ConnectionRefusedError("database down")
    with caplog.at_level(logging.WARNING, logger="aiokv"):
        assert await kv.get_or_set("k", load, ttl=0.1, stale_if_error=60) == {"n": 1}
    [record] = [r for r in caplog.records if r.name == "aiokv"]
    assert record.levelno == logging.WARNING
    assert "serving the last value" in record.getMessage()
    assert "database down" in record.getMessage()
    assert kv.stats().get_or_set.stale_on_error == 1
    assert load.calls == 2


async def test_without_stale_if_error_the_factory_error_is_raised(kv: AsyncClient) -> None:
    load = Factory("old")
    await kv.get_or_set("k", load, ttl=0.1, stale_ttl=0.1)
    await asyncio.sleep(0.15)
    load.error = RuntimeError("database down")
    with pytest.raises(RuntimeError, match="database down"):
        await kv.get_or_set("k", load, ttl=0.1)


async def test_stale_if_error_has_a_bound(kv: AsyncClient) -> None:
    load = Factory("old")
    await kv.get_or_set("k", load, ttl=0.1, stale_if_error=0.1)
    await asyncio.sleep(0.3)
    load.error = RuntimeError("database down")
    with pytest.raises(RuntimeError, match="database down"):
        await kv.get_or_set("k", load, ttl=0.1, stale_if_error=0.1)
    with pytest.raises(RuntimeError, match="database down"):  # and nothing cached: a cold key
        await kv.get_or_set("cold", load, ttl=0.1, stale_if_error=60)


async def test_programming_errors_are_never_hidden_by_a_stale_value(kv: AsyncClient) -> None:
    await kv.get_or_set("k", lambda: [1], ttl=0.1, stale_if_error=60)
    await asyncio.sleep(0.2)
    with pytest.raises(TypeError, match="pass type="):
        await kv.get_or_set("k", lambda: (1,), ttl=0.1, stale_if_error=60)


# -- refresh= and condition= ---------------------------------------------------------------------


async def test_refresh_recomputes_a_cached_value(kv: AsyncClient) -> None:
    load = Factory(1, 2)
    assert await kv.get_or_set("k", load) == 1
    assert await kv.get_or_set("k", load, refresh=True) == 2
    assert await kv.get_or_set("k", load) == 2
    assert load.calls == 2
    assert kv.stats().get_or_set == CacheStats(hits=1, misses=2, computations=2)


async def test_condition_decides_what_is_cached(kv: AsyncClient) -> None:
    load = Factory([], [3])
    assert await kv.get_or_set("k", load, condition=bool) == []
    assert await kv.exists("k") == 0
    assert await kv.get_or_set("k", load, condition=bool) == [3]
    assert await kv.get("k") == "[3]"


# -- tags ----------------------------------------------------------------------------------------


def no_cluster(driver: str) -> None:
    if driver == "cluster":
        pytest.skip("entry and tags in several slots: test_tags_on_a_cluster_share_a_hash_tag")


async def test_tags_on_a_cluster_share_a_hash_tag(kv: AsyncClient) -> None:
    # The rule that holds on every driver: an entry and its tags share one hash tag.
    await kv.get_or_set("{c}product:1", lambda: 1, ttl=60, tags=["{c}products"])
    await kv.set_json("{c}product:2", 2, ttl=60, tags=["{c}products"])
    await kv.get_or_set("{d}other", lambda: 3, ttl=60, tags=["{d}others"])
    assert await kv.smembers("tag:{c}products") == {"{c}product:1", "{c}product:2"}
    assert await kv.invalidate_tags("{c}products", "{d}others") == 3  # one script per slot
    assert await kv.keys() == []


async def test_tags_in_another_slot_are_refused_on_a_cluster(kv: AsyncClient, driver: str) -> None:
    if driver != "cluster":
        pytest.skip("only a cluster has slots")
    with pytest.raises(CrossSlotError):
        await kv.get_or_set("product:1", lambda: 1, ttl=60, tags=["products"])
    assert await kv.exists("product:1") == 0


@pytest.mark.parametrize("where", ["memory with slot checks", "cluster"])
async def test_tags_in_another_slot_are_refused_even_with_stale_if_error(
    where: str, request: pytest.FixtureRequest
) -> None:
    # A programming error, not an outage: stale_if_error must not hide it behind the value it
    # had just computed (it did, and the entry was never stored).
    settings: dict[str, Any] = {"driver": "memory", "memory_cluster_slots": True}
    if where == "cluster":
        settings = {"url": request.getfixturevalue("redis_cluster").url}
    async with AsyncClient(**settings) as kv:
        await kv.flushdb()
        with pytest.raises(CrossSlotError):
            await kv.get_or_set("product:1", lambda: 1, ttl=60, stale_if_error=60, tags=["p"])
        with pytest.raises(CrossSlotError):
            await kv.get_or_set("product:1", lambda: 1, ttl=60, stale_if_error=60, tags=["p"])
        assert await kv.keys() == []
        assert kv.stats().get_or_set.stale_on_error == 0


async def test_invalidate_tags_drops_every_entry_with_a_tag(kv: AsyncClient, driver: str) -> None:
    no_cluster(driver)
    await kv.get_or_set("product:1", lambda: 1, ttl=60, tags=["products", "product:1"])
    await kv.get_or_set("product:2", lambda: 2, ttl=120, tags=["products"])
    await kv.set_json("promo", {"p": 1}, ttl=30, tags=["product:1"])
    await kv.set("untagged", "x")
    assert await kv.smembers("tag:products") == {"product:1", "product:2"}
    assert 119_000 < await kv.pttl("tag:products") <= 120_000  # its longest-lived entry
    assert await kv.invalidate_tags("product:1") == 2
    assert sorted(await kv.keys()) == ["product:2", "tag:products", "untagged"]
    assert await kv.invalidate_tags("products", "nothing") == 1
    assert await kv.keys() == ["untagged"]
    assert await kv.invalidate_tags() == 0
    assert kv.stats().get_or_set.invalidated == 3


async def test_an_entry_without_expiry_keeps_its_tag(kv: AsyncClient, driver: str) -> None:
    no_cluster(driver)
    await kv.get_or_set("a", lambda: 1, ttl=10, tags=["t"])
    await kv.get_or_set("b", lambda: 2, ttl=None, tags=["t"])
    assert await kv.pttl("tag:t") == -1
    await kv.get_or_set("c", lambda: 3, ttl=5, tags=["t"])
    assert await kv.pttl("tag:t") == -1  # never shortened
    assert await kv.invalidate_tags("t") == 3


async def test_tags_under_a_key_prefix(
    make_client: Callable[..., AsyncClient], driver: str
) -> None:
    no_cluster(driver)
    async with make_client(key_prefix="app:") as kv:
        await kv.flushdb()
        await kv.get_or_set("k", lambda: 1, ttl=60, tags=["t"])
        assert await kv.smembers("tag:t") == {"app:k"}  # keys as stored, as Lua sees them
        assert await kv.invalidate_tags("t") == 1
        assert await kv.exists("k") == 0


async def test_a_stale_entry_keeps_its_tags_as_long_as_it_lives(
    kv: AsyncClient, driver: str
) -> None:
    no_cluster(driver)
    await kv.get_or_set("k", lambda: 1, ttl=10, stale_ttl=50, tags=["t"])
    assert 59_000 < await kv.pttl("tag:t") <= 60_000
    assert await kv.invalidate_tags("t") == 1


def test_tags_must_be_a_list_of_str() -> None:
    kv = AsyncClient()
    with pytest.raises(TypeError, match="list of str"):
        asyncio.run(kv.get_or_set("k", lambda: 1, tags="product"))  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["ttl", "stale_ttl", "stale_if_error", "lock_timeout"])
def test_windows_must_be_positive(name: str) -> None:
    kv = AsyncClient()
    with pytest.raises(InvalidArgumentError):
        asyncio.run(kv.get_or_set("k", lambda: 1, **{name: 0}))


async def test_cached_tags_are_templates(kv: AsyncClient, driver: str) -> None:
    no_cluster(driver)
    calls: list[int] = []

    @cached(kv, ttl=60, key="product:{pid}", tags=["products", "product:{pid}"])
    async def product(pid: int) -> int:
        calls.append(pid)
        return pid * 10

    assert [await product(1), await product(2), await product(1)] == [10, 20, 10]
    assert await kv.invalidate_tags("product:1") == 1
    assert await product(1) == 10
    assert calls == [1, 2, 1]
    assert await kv.invalidate_tags("products") == 2


def test_cached_tag_templates_must_name_parameters() -> None:
    async def f(x: int) -> int:
        return x

    with pytest.raises(TypeError, match="parameter names"):
        cached(AsyncClient(), key="k:{x}", tags=["t:{y}"])(f)


async def test_cached_passes_the_options_on(kv: AsyncClient) -> None:
    results = iter([[], ["a"], ["b"]])

    @cached(kv, ttl=0.1, key="list", stale_ttl=60, condition=bool, lock=True)
    async def listing() -> list[str]:
        return next(results)

    assert await listing() == []  # not cached: condition
    assert await listing() == ["a"]
    await asyncio.sleep(0.2)
    assert await listing() == ["a"]  # stale, refreshed in the background

    async def refreshed() -> bool:
        return await kv.get_json("list") == {"aiokv.fresh_until": ANY_INT, "value": ["b"]}

    await eventually(refreshed)


class _AnyInt:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, int)


ANY_INT: Any = _AnyInt()


# -- lock=True -----------------------------------------------------------------------------------


async def test_lock_holder_frees_the_lock_and_announces_the_value(kv: AsyncClient) -> None:
    seen: list[int] = []

    async def load() -> int:
        seen.append(await kv.exists("lock:cache:k"))
        return 7

    assert await kv.get_or_set("k", load, lock=True) == 7
    assert seen == [1]  # computed under the lock
    assert await kv.exists("lock:cache:k") == 0


async def test_a_waiter_takes_the_announced_value(kv: AsyncClient) -> None:
    # Another owner holds the computation's lock: the caller waits for its message.
    load = Factory("mine")
    async with kv.lock("cache:k"):
        waiter = asyncio.create_task(kv.get_or_set("k", load, lock=True, lock_timeout=BOUND))
        channel = channel_for("", "k")
        await eventually(lambda: kv.publish(channel, '1"theirs"'))  # once it is subscribed
        assert await asyncio.wait_for(waiter, BOUND) == "theirs"
    assert load.calls == 0


async def test_a_waiter_finds_a_value_stored_before_it_subscribed(kv: AsyncClient) -> None:
    load = Factory("mine")
    async with kv.lock("cache:k"):
        await kv.set("k", '"stored"')  # what a holder stores before announcing it
        assert await kv.get_or_set("k", load, lock=True, refresh=True) == "stored"
    assert load.calls == 0


async def test_waiters_compute_anyway_past_lock_timeout(kv: AsyncClient) -> None:
    load = Factory("mine")
    async with kv.lock("cache:k", ttl=BOUND):  # a holder that never finishes
        assert await kv.get_or_set("k", load, lock=True, lock_timeout=0.2) == "mine"
    assert load.calls == 1
    assert await kv.get("k") == '"mine"'


async def test_when_the_holder_fails_a_waiter_takes_over(kv: AsyncClient) -> None:
    load = Factory("mine")
    lock = kv.lock("cache:k")
    await lock.acquire()
    waiter = asyncio.create_task(kv.get_or_set("k", load, lock=True, lock_timeout=BOUND))
    channel = channel_for("", "k")
    await lock.release()  # the holder failed: it frees the lock and says so

    async def told() -> bool:
        return waiter.done() or await kv.publish(channel, "0") > 0

    await eventually(told)
    assert await asyncio.wait_for(waiter, BOUND) == "mine"
    assert load.calls == 1


async def test_two_clients_compute_a_cold_key_once(
    driver: str, make_client: Callable[..., AsyncClient]
) -> None:
    if driver == "memory":
        pytest.skip("memory clients never share a store")
    first, second = Factory(1), Factory(2)
    first.gate = asyncio.Event()
    async with make_client() as a, make_client() as b:
        await a.flushdb()
        one = asyncio.create_task(a.get_or_set("k", first, lock=True, lock_timeout=BOUND))
        await first.started.wait()
        two = asyncio.create_task(b.get_or_set("k", second, lock=True, lock_timeout=BOUND))
        await asyncio.sleep(0.1)  # let it reach the wait; the result holds either way
        first.gate.set()
        assert await asyncio.wait_for(asyncio.gather(one, two), BOUND) == [1, 1]
    assert (first.calls, second.calls) == (1, 0)


_WORKER = textwrap.dedent(
    """
    import asyncio, json, sys, time
    from aiokv import AsyncClient

    async def main(url: str, start_at: float) -> None:
        async with AsyncClient(driver="redis", url=url) as kv:
            async def compute() -> int:
                await kv.incr("computations")
                await asyncio.sleep(0.5)
                return 42

            await kv.ping()  # connect before the start line
            await asyncio.sleep(max(0.0, start_at - time.time()))
            value = await kv.get_or_set("cold", compute, 60, lock=True, lock_timeout=20)
        print(json.dumps(value))

    asyncio.run(main(sys.argv[1], float(sys.argv[2])))
    """
)


@pytest.mark.slow
async def test_several_processes_compute_a_cold_key_once(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    redis_server.command("FLUSHDB")
    start_at = time.time() + 3.0  # every process is connected and waiting by then
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _WORKER,
            redis_server.url,
            str(start_at),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=tmp_path,  # not the checkout, whose `.env` would reach the workers
            env=env,
        )
        for _ in range(6)
    ]
    values = []
    try:
        for worker in workers:
            out, err = await asyncio.wait_for(worker.communicate(), timeout=120)
            assert worker.returncode == 0, err.decode()
            values.append(json.loads(out))
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()
    assert values == [42] * 6
    assert redis_server.command("GET", "computations") == b"1"
    assert redis_server.command("EXISTS", "lock:cache:cold") == 0


# -- the server fails ----------------------------------------------------------------------------


@pytest.fixture
async def proxy(redis_server: RedisServer) -> AsyncIterator[FaultProxy]:
    redis_server.command("FLUSHDB")
    async with FaultProxy(redis_server.address) as proxy:
        yield proxy


def through(proxy: FaultProxy) -> AsyncClient:
    return AsyncClient(
        url=proxy.url(),
        driver="redis",
        socket_timeout=0.5,
        connect_timeout=0.5,
        retry_attempts=1,
        retry_backoff_base=0.01,
        retry_backoff_cap=0.02,
    )


@pytest.mark.slow
async def test_server_out_of_reach_serves_the_last_value(
    proxy: FaultProxy, caplog: pytest.LogCaptureFixture
) -> None:
    load = Factory("v")
    async with through(proxy) as kv:
        assert await kv.get_or_set("k", load, ttl=60, stale_if_error=60) == "v"
        proxy.blackhole()
        proxy.drop_all()
        with caplog.at_level(logging.WARNING, logger="aiokv"):
            assert await kv.get_or_set("k", load, ttl=60, stale_if_error=60) == "v"
            with pytest.raises((ConnectionError, TimeoutError)):  # no last value for this key
                await kv.get_or_set("other", load, ttl=60, stale_if_error=60)
        assert "since the server failed" in caplog.text
        assert kv.stats().get_or_set.stale_on_error == 1
        assert load.calls == 1


@pytest.mark.slow
async def test_a_cache_write_whose_reply_is_lost_still_returns_the_value(
    proxy: FaultProxy,
) -> None:
    async with through(proxy) as kv:
        proxy.reset_after_forward(1, match="SET")
        assert await kv.get_or_set("k", lambda: [1], ttl=60) == [1]  # OutcomeUnknownError
        assert proxy.resets == 1
        assert await kv.get("k") == "[1]"  # it had happened


async def _async(value: bool) -> bool:
    return value
