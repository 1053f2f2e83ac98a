"""The memory driver's long jobs take turns: the reaper and keys()/scan_iter() walks.

Slices are bounded by time; the tests set the budget below zero so that every slice is as
small as it can be, which makes the interleaving deterministic (no timing assertions).
"""

from __future__ import annotations

import asyncio
import time

import anyio
import pytest

import aiokv.drivers.memory as memory
from aiokv import AsyncClient
from aiokv.drivers.memory import MemoryDriver

KEYS = 5_000
# A walk over KEYS keys in the smallest slices takes turns at least this often.
MIN_TURNS = KEYS // 1_000
# How long the reaper tests wait for a one-second bucket to fall due and empty (a guard against
# hanging, not a timing assertion).
PATIENCE = 30.0


@pytest.fixture
def tiny_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every slice of reaper or walk work ends at its first clock check."""
    monkeypatch.setattr(memory, "_REAP_BUDGET", -1.0)


def _driver(kv: AsyncClient) -> MemoryDriver:
    driver = kv._driver
    assert isinstance(driver, MemoryDriver)
    return driver


async def test_take_turn_lets_a_timer_that_fell_due_run_first() -> None:
    loop = asyncio.get_running_loop()
    ran: list[str] = []
    loop.call_at(loop.time(), ran.append, "timer")  # falls due while this "slice" runs
    await asyncio.sleep(0)
    # One checkpoint is not enough: the timer is queued behind this task.
    assert ran == []
    loop.call_at(loop.time(), ran.append, "second timer")
    await memory._take_turn()
    assert ran == ["timer", "second timer"]


async def _count_turns_during(job: asyncio.Task[object]) -> int:
    turns = 0
    while not job.done():
        turns += 1
        await asyncio.sleep(0)
    return turns


@pytest.mark.usefixtures("tiny_slices")
async def test_keys_takes_turns_with_other_tasks() -> None:
    async with AsyncClient() as kv:
        for i in range(KEYS):
            await kv.set(f"user:{i}", "v")
        job = asyncio.create_task(kv.keys("user:1*"))
        turns = await _count_turns_during(job)
        assert sorted(await job) == sorted(f"user:{i}" for i in range(KEYS) if str(i)[0] == "1")
        # The walk was cut into slices, and the other task ran after each.
        assert turns >= MIN_TURNS


@pytest.mark.usefixtures("tiny_slices")
async def test_scan_iter_takes_turns_with_other_tasks() -> None:
    async with AsyncClient() as kv:
        for i in range(KEYS):
            await kv.set(f"user:{i}", "v")

        async def walk() -> list[str]:
            return [key async for key in kv.scan_iter(count=10_000)]

        job = asyncio.create_task(walk())
        turns = await _count_turns_during(job)
        assert sorted(await job) == sorted(f"user:{i}" for i in range(KEYS))
        assert turns >= MIN_TURNS


async def test_scan_iter_hands_over_about_count_keys_per_turn() -> None:
    async with AsyncClient() as kv:
        for i in range(KEYS):
            await kv.set(f"user:{i}", "v")
        turns = 0

        async def tick() -> None:
            nonlocal turns
            while True:
                turns += 1
                await asyncio.sleep(0)

        ticker = asyncio.create_task(tick())
        await asyncio.sleep(0)
        seen_at: list[int] = [turns async for _ in kv.scan_iter(count=1)]
        ticker.cancel()
        # With count=1 every chunk of keys the walk reads is handed over, then a turn is taken.
        assert len(seen_at) == KEYS
        assert seen_at[-1] - seen_at[0] >= MIN_TURNS


@pytest.mark.usefixtures("tiny_slices")
@pytest.mark.parametrize("churn", ["same-size", "growing", "flushing"])
async def test_walk_returns_every_key_present_throughout_once(churn: str) -> None:
    """Keys created and deleted between slices: the walk neither misses nor repeats a key."""
    async with AsyncClient() as kv:
        kept = [f"keep:{i}" for i in range(KEYS)]
        for key in kept:
            await kv.set(key, "v")
        # Deleted entries leave holes in the dict that later inserts compact away.
        for i in range(KEYS):
            await kv.set(f"gone:{i}", "v")
        await kv.delete(*[f"gone:{i}" for i in range(KEYS)])
        step = 0

        async def mutate() -> None:
            nonlocal step
            while True:
                step += 1
                if churn == "same-size":  # the key count is the same at every turn
                    for j in range(200):
                        await kv.set(f"tmp:{step}:{j}", "v")
                        await kv.delete(f"tmp:{step}:{j}")
                elif churn == "growing":
                    await kv.set(f"new:{step}", "v")
                else:
                    await kv.delete(*[f"new:{i}" for i in range(step)])
                    for i in range(step + 1):
                        await kv.set(f"new:{i}", "v")
                await asyncio.sleep(0)

        mutator = asyncio.create_task(mutate())
        await asyncio.sleep(0)
        try:
            listed = await kv.keys("keep:*")
            scanned = [key async for key in kv.scan_iter("keep:*")]
        finally:
            mutator.cancel()
        assert step > 10  # the mutator did run between the slices
        assert sorted(listed) == sorted(kept)
        assert set(scanned) == set(kept)


@pytest.mark.usefixtures("tiny_slices")
async def test_flushdb_during_a_walk_ends_it_cleanly() -> None:
    async with AsyncClient() as kv:
        for i in range(KEYS):
            await kv.set(f"user:{i}", "v")
        job = asyncio.create_task(kv.keys())
        await asyncio.sleep(0)
        await kv.flushdb()
        for i in range(10):
            await kv.set(f"after:{i}", "v")
        found = await job
        assert set(found) <= {f"user:{i}" for i in range(KEYS)} | {f"after:{i}" for i in range(10)}


async def test_walk_skips_expired_keys_without_deleting_them() -> None:
    async with AsyncClient(memory_reaper_interval=3600) as kv:
        await kv.set("live", "v")
        await kv.set("dead", "v", ttl=0.01)
        await asyncio.sleep(0.05)
        assert await kv.keys() == ["live"]
        assert [key async for key in kv.scan_iter()] == ["live"]
        assert await kv.dbsize() == 2  # not reclaimed yet: no walk changes the key count


@pytest.mark.usefixtures("tiny_slices")
async def test_reaper_takes_turns_and_still_reclaims_every_key() -> None:
    async with AsyncClient(memory_reaper_interval=0.01) as kv:
        for i in range(KEYS):
            await kv.set(f"k{i}", "v", ttl=0.001)
        sizes: list[int] = []
        give_up = time.monotonic() + PATIENCE
        while (not sizes or sizes[-1]) and time.monotonic() < give_up:
            sizes.append(await kv.dbsize())
            await asyncio.sleep(0)
        assert sizes[-1] == 0
        # This task saw the key count part-way down: the reaper yielded in mid-bucket.
        assert any(0 < size < KEYS for size in sizes)


def test_walks_and_reaper_take_turns_under_trio(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_REAP_BUDGET", -1.0)

    async def main() -> tuple[int, int, list[int]]:
        async with AsyncClient(memory_reaper_interval=0.01) as kv:
            for i in range(KEYS):
                await kv.set(f"user:{i}", "v")
            turns = 0
            done = False

            async def count() -> None:
                nonlocal turns
                while not done:
                    turns += 1
                    await anyio.lowlevel.checkpoint()

            async with anyio.create_task_group() as tg:
                tg.start_soon(count)
                found = await kv.keys("user:*")
                done = True
            await kv.flushdb()
            for i in range(KEYS):
                await kv.set(f"k{i}", "v", ttl=0.001)
            sizes: list[int] = []
            give_up = time.monotonic() + PATIENCE
            while (not sizes or sizes[-1]) and time.monotonic() < give_up:
                sizes.append(await kv.dbsize())
                await anyio.lowlevel.checkpoint()
            return len(found), turns, sizes

    found, turns, sizes = anyio.run(main, backend="trio")
    assert found == KEYS
    assert turns >= 2
    assert sizes[-1] == 0
    assert any(0 < size < KEYS for size in sizes)
