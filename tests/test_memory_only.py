"""Behaviour only the memory driver has: active expiry, eviction, trio, task hygiene."""

from __future__ import annotations

import asyncio
import gc
import random

import anyio
import pytest

from aiokv import AsyncClient, DriverUnavailableError, OutOfMemoryError
from aiokv.drivers.memory import MemoryDriver


def _driver(kv: AsyncClient) -> MemoryDriver:
    driver = kv._driver
    assert isinstance(driver, MemoryDriver)
    return driver


async def test_reaper_reclaims_keys_nobody_touches() -> None:
    async with AsyncClient(memory_reaper_interval=0.02) as kv:
        for i in range(500):
            await kv.set(f"gone:{i}", "v", ttl=0.05)
        await kv.set("kept", "v", ttl=60)
        await kv.set("plain", "v")
        assert await kv.dbsize() == 502
        # Reclaimed once its one-second bucket has passed: within ~2 s, without any lookup.
        for _ in range(100):
            if await kv.dbsize() == 2:
                break
            await asyncio.sleep(0.05)
        assert sorted(await kv.keys()) == ["kept", "plain"]
        assert 59 <= await kv.ttl("kept") <= 60


async def test_reaper_respects_changed_deadlines() -> None:
    async with AsyncClient(memory_reaper_interval=0.02) as kv:
        await kv.set("extended", "v", ttl=0.05)
        await kv.expire("extended", 60)
        await kv.set("persisted", "v", ttl=0.05)
        await kv.persist("persisted")
        await kv.set("overwritten", "v", ttl=0.05)
        await kv.set("overwritten", "v2")
        await asyncio.sleep(1.5)
        assert _driver(kv).reap(1.0) is False
        assert sorted(await kv.keys()) == ["extended", "overwritten", "persisted"]


async def test_reaper_yields_under_a_mass_expiry() -> None:
    # The background reaper sleeps for an hour after its first pass; the test drives it.
    async with AsyncClient(memory_reaper_interval=3600) as kv:
        driver = _driver(kv)
        for i in range(50_000):
            await kv.set(f"k{i}", "v", ttl=0.001)
        await asyncio.sleep(1.1)
        slices = 1
        while driver.reap(0.0005):
            slices += 1
        # 50,000 deletions do not fit in 0.5 ms: the work was cut into several slices.
        assert slices >= 2
        assert await kv.dbsize() == 0


async def test_aclose_cancels_the_reaper() -> None:
    before = {t for t in asyncio.all_tasks() if not t.done()}
    kv = AsyncClient()
    await kv.set("k", "v")
    started = {t for t in asyncio.all_tasks() if not t.done()} - before
    assert len(started) == 1
    await kv.aclose()
    await asyncio.sleep(0)
    assert all(t.done() for t in started)


def test_runs_under_trio() -> None:
    async def main() -> list[str]:
        async with AsyncClient() as kv:
            await kv.set("a", "1", ttl=0.01)
            await kv.incr("n")
            await anyio.sleep(0.05)
            return sorted(await kv.keys())

    assert anyio.run(main, backend="trio") == ["n"]


def test_lazy_open_under_trio_says_what_to_do() -> None:
    async def main() -> None:
        kv = AsyncClient()
        await kv.get("a")

    with pytest.raises(DriverUnavailableError, match="async with"):
        anyio.run(main, backend="trio")


def test_redis_driver_under_trio_is_refused() -> None:
    async def main() -> None:
        async with AsyncClient(driver="redis"):
            pass

    with pytest.raises(DriverUnavailableError, match="trio"):
        anyio.run(main, backend="trio")


async def test_noeviction_refuses_new_keys_but_allows_overwrites() -> None:
    async with AsyncClient(memory_max_keys=3) as kv:
        for key in "abc":
            await kv.set(key, "v")
        with pytest.raises(OutOfMemoryError, match="KV_MEMORY_MAX_KEYS"):
            await kv.set("d", "v")
        with pytest.raises(OutOfMemoryError):
            await kv.lpush("list", "x")
        assert await kv.set("a", "new") is True
        await kv.delete("b")
        assert await kv.set("d", "v") is True
        assert await kv.dbsize() == 3


@pytest.mark.parametrize(
    "policy", ["allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru", "volatile-ttl"]
)
async def test_eviction_keeps_the_bound(policy: str) -> None:
    async with AsyncClient(memory_max_keys=100, memory_eviction_policy=policy) as kv:
        for i in range(1000):
            await kv.set(f"k{i}", "v", ttl=600 + i)
            if i % 10 == 0:
                await kv.get("k0")
        assert await kv.dbsize() == 100


async def test_lru_evicts_cold_keys_first() -> None:
    async with AsyncClient(memory_max_keys=50, memory_eviction_policy="allkeys-lru") as kv:
        evictor = _driver(kv)._evictor
        assert evictor is not None
        evictor.rng.seed(0)  # a sample of "hot" five times over would evict it (1 in 50**5)
        await kv.set("hot", "v")
        for i in range(2000):
            await kv.set(f"cold:{i}", "v")
            await kv.get("hot")
        # Sampled LRU: the key read after every write is never the least recently used.
        assert await kv.get("hot") == "v"


async def test_volatile_policy_without_volatile_keys_refuses() -> None:
    async with AsyncClient(memory_max_keys=2, memory_eviction_policy="volatile-lru") as kv:
        await kv.set("a", "v")
        await kv.set("b", "v")
        with pytest.raises(OutOfMemoryError, match="TTL"):
            await kv.set("c", "v")


class _EveryKey(random.Random):
    """A sample source that walks the key index in turn: a sample of 5 sees up to 5 keys."""

    def __init__(self) -> None:
        super().__init__()
        self.turn = -1

    def randrange(self, start: int, *args: object, **kwargs: object) -> int:
        self.turn += 1
        return self.turn % start


async def test_volatile_ttl_evicts_the_nearest_expiry() -> None:
    async with AsyncClient(memory_max_keys=3, memory_eviction_policy="volatile-ttl") as kv:
        evictor = _driver(kv)._evictor
        assert evictor is not None
        # Redis samples too: with a random sample, "soon" is missed 1 time in 32.
        evictor.rng = _EveryKey()
        await kv.set("soon", "v", ttl=10)
        await kv.set("later", "v", ttl=1000)
        await kv.set("never", "v")
        await kv.set("new", "v")
        assert sorted(await kv.keys()) == ["later", "never", "new"]


async def test_evictor_forgets_expired_and_deleted_keys() -> None:
    async with AsyncClient(memory_max_keys=10, memory_reaper_interval=0.02) as kv:
        for i in range(10):
            await kv.set(f"t{i}", "v", ttl=0.01)
        await asyncio.sleep(1.2)
        for i in range(10):
            await kv.set(f"n{i}", "v")
        assert await kv.dbsize() == 10


async def test_no_task_left_after_gc() -> None:
    async with AsyncClient() as kv:
        await kv.set("k", "v")
    gc.collect()
    await asyncio.sleep(0)
    names = [t.get_coro().__qualname__ for t in asyncio.all_tasks() if not t.done()]
    assert not [n for n in names if "reap" in n]
