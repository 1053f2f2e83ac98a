"""BZPOPMIN and BZPOPMAX on both drivers: replies, fairness, wake-ups by every command that
creates a sorted set, timeouts, transactions and cancellation.

As in ``test_blocking.py``, waiters are started one at a time and each is seen blocked before
the next starts, so "the first blocked" is known.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable

import pytest
from test_blocking import Blocked, blocked, start_blocked, until

from aiokv import AsyncClient, InvalidArgumentError, TransactionAbortedError, WrongTypeError

__all__ = ["blocked"]  # the fixture, shared with test_blocking.py


@pytest.mark.one_slot  # several keys in one atomic pop: one slot on a cluster
async def test_pops_at_once_when_a_sorted_set_has_members(kv: AsyncClient) -> None:
    await kv.zadd("b", {"x": 1, "y": 2, "z": 3})
    await kv.zadd("c", {"w": -1.5})
    assert await kv.bzpopmin(["a", "b", "c"], 1) == ("b", "x", 1.0)
    assert await kv.bzpopmax(["a", "b", "c"], 1) == ("b", "z", 3.0)
    assert await kv.bzpopmax("c", 0) == ("c", "w", -1.5)
    assert await kv.exists("c") == 0  # gone with its last member
    assert await kv.bzpopmin("b", 0) == ("b", "y", 2.0)
    assert await kv.exists("b") == 0


async def test_ties_and_infinite_scores(kv: AsyncClient) -> None:
    await kv.zadd("z", {"b": 1, "a": 1, "lo": -math.inf, "hi": math.inf})
    assert await kv.bzpopmin("z", 1) == ("z", "lo", -math.inf)
    assert await kv.bzpopmax("z", 1) == ("z", "hi", math.inf)
    assert await kv.bzpopmin("z", 1) == ("z", "a", 1.0)  # a tie goes by member bytes
    assert await kv.bzpopmax("z", 1) == ("z", "b", 1.0)


@pytest.mark.one_slot  # several keys in one atomic pop: one slot on a cluster
async def test_timeout_returns_none(kv: AsyncClient) -> None:
    assert await kv.bzpopmin(["a", "b"], 0.05) is None
    assert await kv.bzpopmax("a", 0.05) is None
    assert await kv.exists("a", "b") == 0


@pytest.mark.one_slot  # several keys in one atomic pop: one slot on a cluster
async def test_wrong_type(kv: AsyncClient) -> None:
    await kv.rpush("l", "x")
    with pytest.raises(WrongTypeError):
        await kv.bzpopmin(["l", "missing"], 0.05)
    await kv.zadd("z", {"m": 1})
    assert await kv.bzpopmax(["z", "l"], 0.05) == ("z", "m", 1.0)  # a set found first wins
    assert await kv.lrange("l", 0, -1) == ["x"]


async def test_bad_arguments(kv: AsyncClient) -> None:
    with pytest.raises(InvalidArgumentError):
        kv.bzpopmin("a", -1)
    with pytest.raises(InvalidArgumentError):
        kv.bzpopmax([], 1)
    with pytest.raises(InvalidArgumentError):
        kv.bzpopmin("a", math.inf)
    with pytest.raises(TypeError):
        kv.bzpopmax("a", "1")  # type: ignore[arg-type]


@pytest.mark.one_slot  # several keys in one atomic pop: one slot on a cluster
async def test_first_blocked_is_first_served(kv: AsyncClient, blocked: Blocked) -> None:
    first = await start_blocked(blocked, kv.bzpopmin("z", 0), before=0)
    second = await start_blocked(blocked, kv.bzpopmax(["other", "z"], 0), before=1)
    third = await start_blocked(blocked, kv.bzpopmin("z", 0), before=2)

    assert await kv.zadd("z", {"a": 1, "b": 2}) == 2
    assert await first == ("z", "a", 1.0)
    assert await second == ("z", "b", 2.0)
    # The add served exactly the waiters it could: the third still waits, the set is gone.
    await until(lambda: blocked() == 1)
    assert not third.done()
    assert await kv.exists("z") == 0

    await kv.zadd("z", {"c": 3})
    assert await third == ("z", "c", 3.0)
    assert blocked() == 0


@pytest.mark.one_slot  # several keys in one atomic pop: one slot on a cluster
async def test_a_waiter_on_several_keys_is_served_by_any(kv: AsyncClient, blocked: Blocked) -> None:
    waiter = await start_blocked(blocked, kv.bzpopmax(["a", "b"], 0), before=0)
    await kv.zadd("b", {"x": 1, "y": 2})
    assert await waiter == ("b", "y", 2.0)
    assert await kv.zrange("b", 0, -1) == ["x"]
    assert blocked() == 0  # it left the queue of "a" too


async def test_zincrby_wakes_a_waiter(kv: AsyncClient, blocked: Blocked) -> None:
    waiter = await start_blocked(blocked, kv.bzpopmin("z", 0), before=0)
    assert await kv.zincrby("z", 2.5, "m") == 2.5
    assert await waiter == ("z", "m", 2.5)
    assert await kv.exists("z") == 0


@pytest.mark.parametrize("store", ["zunionstore", "zinterstore", "zdiffstore"])
async def test_a_store_command_wakes_a_waiter(
    kv: AsyncClient, blocked: Blocked, store: str
) -> None:
    await kv.zadd("{t}src", {"m": 4, "n": 5})
    waiter = await start_blocked(blocked, kv.bzpopmax("{t}dst", 0), before=0)
    assert await getattr(kv, store)("{t}dst", "{t}src") == 2
    assert await waiter == ("{t}dst", "n", 5.0)
    assert await kv.zrange("{t}dst", 0, -1, withscores=True) == [("m", 4.0)]


@pytest.mark.parametrize("how", ["rename", "copy"])
async def test_moving_a_sorted_set_to_the_key_wakes_a_waiter(
    kv: AsyncClient, blocked: Blocked, how: str
) -> None:
    await kv.zadd("{t}src", {"m": 1})
    waiter = await start_blocked(blocked, kv.bzpopmin("{t}dst", 0), before=0)
    await getattr(kv, how)("{t}src", "{t}dst")
    assert await waiter == ("{t}dst", "m", 1.0)
    assert await kv.exists("{t}dst") == 0
    assert await kv.exists("{t}src") == (1 if how == "copy" else 0)


async def test_moving_a_list_to_the_key_wakes_a_list_waiter(
    kv: AsyncClient, blocked: Blocked
) -> None:
    await kv.rpush("{t}src", "x")
    waiter = await start_blocked(blocked, kv.blpop("{t}dst", 0), before=0)
    await kv.rename("{t}src", "{t}dst")
    assert await waiter == ("{t}dst", "x")


async def test_a_waiter_for_the_other_type_waits_on(kv: AsyncClient, blocked: Blocked) -> None:
    zset_waiter = await start_blocked(blocked, kv.bzpopmin("k", 0), before=0)
    list_waiter = await start_blocked(blocked, kv.blpop("k", 0), before=1)
    await kv.rpush("k", "x")  # the first blocked wants a sorted set: it is passed over
    assert await list_waiter == ("k", "x")
    await until(lambda: blocked() == 1)
    assert not zset_waiter.done()
    await kv.zadd("k", {"m": 1})
    assert await zset_waiter == ("k", "m", 1.0)


async def test_in_a_transaction_they_answer_at_once(kv: AsyncClient) -> None:
    async with kv.pipeline(transaction=True) as tx:
        tx.bzpopmin("{t}empty", 0).bzpopmax(["{t}empty", "{t}z"], 0)
        tx.zadd("{t}z", {"a": 1, "b": 2}).bzpopmax("{t}z", 0).bzpopmin(["{t}empty", "{t}z"], 0)
    assert tx.replies == [None, None, 2, ("{t}z", "b", 2.0), ("{t}z", "a", 1.0)]
    assert await kv.exists("{t}z") == 0


async def test_a_plain_pipeline_refuses_them(kv: AsyncClient) -> None:
    p = kv.pipeline().set("k", "v")
    with pytest.raises(InvalidArgumentError, match="blocks its connection"):
        p.bzpopmin("z", 0)
    assert await p.get("k").execute() == [True, "v"]


async def test_waiters_are_served_after_the_transaction(kv: AsyncClient, blocked: Blocked) -> None:
    waiter = await start_blocked(blocked, kv.bzpopmin("z", 0), before=0)
    async with kv.pipeline(transaction=True) as tx:
        tx.zadd("z", {"b": 2}).zcard("z").zadd("z", {"a": 1})
    assert tx.replies == [1, 1, 1]  # the waiter was not served in the middle
    assert await waiter == ("z", "a", 1.0)
    assert await kv.zrange("z", 0, -1) == ["b"]


async def test_a_cancelled_waiter_takes_nothing(kv: AsyncClient, blocked: Blocked) -> None:
    doomed = await start_blocked(blocked, kv.bzpopmin("z", 0), before=0)
    waiting = await start_blocked(blocked, kv.bzpopmin("z", 0), before=1)
    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed
    await until(lambda: blocked() == 1)  # the server reads the closed connection first
    await kv.zadd("z", {"a": 1, "b": 2})
    assert await waiting == ("z", "a", 1.0)
    assert await kv.zrange("z", 0, -1, withscores=True) == [("b", 2.0)]


async def test_a_timed_out_waiter_takes_nothing(kv: AsyncClient, blocked: Blocked) -> None:
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(kv.bzpopmax("z", 0), 0.05)
    await until(lambda: blocked() == 0)
    await kv.zadd("z", {"a": 1})
    assert await kv.zrange("z", 0, -1) == ["a"]


@pytest.mark.one_slot  # several keys in one atomic pop: one slot on a cluster
async def test_prefix_is_taken_off_the_key(make_client: Callable[..., AsyncClient]) -> None:
    async with make_client(key_prefix="{app}:") as kv:
        await kv.zadd("z", {"m": 7})
        assert await kv.bzpopmax(["y", "z"], 1) == ("z", "m", 7.0)
        with pytest.raises(TransactionAbortedError):
            await kv.pipeline(transaction=True).bzpopmin("z", 0).execute()
        await kv.flushdb()


# -- memory driver: a waiter cancelled after it was served ----------------------------------


async def test_memory_waiter_cancelled_after_being_served_puts_the_member_back() -> None:
    async with AsyncClient(driver="memory") as kv:
        first = asyncio.ensure_future(kv.bzpopmin("z", 0))
        second = asyncio.ensure_future(kv.bzpopmin("z", 0))
        await until(lambda: len(kv._driver._blocked.get("z", ())) == 2)  # type: ignore[union-attr]
        await kv.zadd("z", {"m": 2.5})  # handed to the first waiter in this very step...
        first.cancel()  # ...which is cancelled before it could return it
        with pytest.raises(asyncio.CancelledError):
            await first
        assert await second == ("z", "m", 2.5)  # given back with its score, and served on
        assert await kv.exists("z") == 0


async def test_memory_give_back_keeps_a_member_added_again() -> None:
    async with AsyncClient(driver="memory") as kv:
        waiter = asyncio.ensure_future(kv.bzpopmax("z", 0))
        await until(lambda: "z" in kv._driver._blocked)  # type: ignore[union-attr]
        await kv.zadd("z", {"m": 1})
        await kv.zadd("z", {"m": 9, "n": 0})  # same step: the waiter has not run yet
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert await kv.zrange("z", 0, -1, withscores=True) == [("n", 0.0), ("m", 9.0)]


async def test_memory_waiters_wait_without_polling() -> None:
    async with AsyncClient(driver="memory", memory_reaper_interval=60) as kv:
        waiters = [asyncio.ensure_future(kv.bzpopmin(f"z{i}", 0)) for i in range(20)]
        await until(lambda: len(kv._driver._blocked) == 20)  # type: ignore[union-attr]
        await asyncio.sleep(0)
        assert len(asyncio.get_running_loop()._ready) == 0  # type: ignore[attr-defined]
        for i in range(20):
            await kv.zadd(f"z{i}", {"m": i})
        assert await asyncio.gather(*waiters) == [(f"z{i}", "m", float(i)) for i in range(20)]
