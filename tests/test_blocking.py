"""Blocking pops (BLPOP, BRPOP, BLMOVE) on both drivers: replies, fairness, wake-ups, timeouts,
transactions, and cancellation.

Waiters are started one at a time and each is seen blocked (the memory driver's waiting room,
or the server's ``blocked_clients``) before the next starts, so "the first blocked" is known.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from servers import RedisServer

from aiokv import (
    AsyncClient,
    ClientClosedError,
    InvalidArgumentError,
    TransactionAbortedError,
    WrongTypeError,
)

Blocked = Callable[[], int]


@pytest.fixture
def blocked(kv: AsyncClient, request: pytest.FixtureRequest) -> Blocked:
    """How many waiters are blocked right now."""
    if kv.settings.driver == "memory":
        room = kv._driver._blocked  # type: ignore[union-attr]
        return lambda: len({id(w) for waiters in room.values() for w in waiters})
    servers: list[RedisServer]
    if kv.settings.driver == "cluster":
        servers = request.getfixturevalue("redis_cluster").nodes
    else:
        servers = [request.getfixturevalue("redis_server")]

    def count() -> int:
        return sum(_blocked_clients(server) for server in servers)

    return count


def _blocked_clients(server: RedisServer) -> int:
    info = server.command("INFO", "clients")
    text = info.decode() if isinstance(info, bytes) else str(info)
    for line in text.splitlines():
        if line.startswith("blocked_clients:"):
            return int(line.split(":")[1])
    raise AssertionError("no blocked_clients in INFO")


async def until(condition: Callable[[], bool]) -> None:
    """Wait (no deadline assertion: the test's own timeout bounds it) until ``condition``."""
    while not condition():  # noqa: ASYNC110 (polls a state that has no event)
        await asyncio.sleep(0.005)


async def start_blocked(
    blocked: Blocked, call: Awaitable[Any], *, before: int
) -> asyncio.Task[Any]:
    task: asyncio.Task[Any] = asyncio.ensure_future(call)
    await until(lambda: blocked() == before + 1 or task.done())
    assert not task.done(), task.result()
    return task


@pytest.mark.one_slot  # see tests/conftest.py
async def test_pops_at_once_when_a_list_has_elements(kv: AsyncClient) -> None:
    await kv.rpush("b", "1", "2")
    await kv.rpush("c", "3")
    assert await kv.blpop(["a", "b", "c"], 1) == ("b", "1")
    assert await kv.brpop(["a", "c", "b"], 1) == ("c", "3")
    assert await kv.blpop("b", 0) == ("b", "2")
    assert await kv.exists("b", "c") == 0
    await kv.rpush("s", "x", "y")
    assert await kv.blmove("s", "d", "left", "RIGHT", 1) == "x"
    assert await kv.lrange("d", 0, -1) == ["x"]
    assert await kv.blmove("s", "s", "RIGHT", "LEFT", 1) == "y"  # a rotation
    assert await kv.lrange("s", 0, -1) == ["y"]


@pytest.mark.one_slot  # see tests/conftest.py
async def test_timeout_returns_none(kv: AsyncClient) -> None:
    assert await kv.blpop(["a", "b"], 0.05) is None
    assert await kv.brpop("a", 0.05) is None
    assert await kv.blmove("a", "b", "LEFT", "LEFT", 0.05) is None
    assert await kv.exists("a", "b") == 0


@pytest.mark.one_slot  # see tests/conftest.py
async def test_first_blocked_is_first_served(kv: AsyncClient, blocked: Blocked) -> None:
    first = await start_blocked(blocked, kv.blpop("q", 0), before=0)
    second = await start_blocked(blocked, kv.blpop(["other", "q"], 0), before=1)
    third = await start_blocked(blocked, kv.blpop("q", 0), before=2)

    assert await kv.rpush("q", "x", "y") == 2  # the reply counts what was pushed
    assert await first == ("q", "x")
    assert await second == ("q", "y")
    # The push served exactly the waiters it could: the third still waits, the list is empty.
    await until(lambda: blocked() == 1)
    assert not third.done()
    assert await kv.exists("q") == 0

    await kv.lpush("q", "z")
    assert await third == ("q", "z")
    assert blocked() == 0


@pytest.mark.one_slot  # see tests/conftest.py
async def test_a_waiter_on_several_keys_is_served_by_any(kv: AsyncClient, blocked: Blocked) -> None:
    waiter = await start_blocked(blocked, kv.brpop(["a", "b"], 0), before=0)
    await kv.rpush("b", "1", "2")
    assert await waiter == ("b", "2")
    assert await kv.lrange("b", 0, -1) == ["1"]
    assert blocked() == 0  # it left the queue of "a" too


@pytest.mark.one_slot  # see tests/conftest.py
async def test_blmove_waiter_moves_atomically(kv: AsyncClient, blocked: Blocked) -> None:
    waiter = await start_blocked(blocked, kv.blmove("src", "dst", "RIGHT", "LEFT", 0), before=0)
    await kv.rpush("dst", "old")
    await kv.lpush("src", "a", "b")  # src is b a; RIGHT takes a
    assert await waiter == "a"
    assert await kv.lrange("src", 0, -1) == ["b"]
    assert await kv.lrange("dst", 0, -1) == ["a", "old"]


@pytest.mark.one_slot  # see tests/conftest.py
async def test_blmove_into_a_list_others_wait_on_serves_them(
    kv: AsyncClient, blocked: Blocked
) -> None:
    mover = await start_blocked(blocked, kv.blmove("a", "b", "LEFT", "LEFT", 0), before=0)
    popper = await start_blocked(blocked, kv.blpop("b", 0), before=1)
    await kv.rpush("a", "x")
    assert await mover == "x"
    assert await popper == ("b", "x")
    assert await kv.exists("a", "b") == 0


@pytest.mark.one_slot  # see tests/conftest.py
async def test_wrong_type(kv: AsyncClient) -> None:
    await kv.set("s", "v")
    with pytest.raises(WrongTypeError):
        await kv.blpop(["s", "missing"], 0.05)
    await kv.rpush("l", "x")
    assert await kv.blpop(["l", "s"], 0.05) == ("l", "x")  # a list found first wins
    with pytest.raises(WrongTypeError):
        await kv.blmove("s", "d", "LEFT", "LEFT", 0.05)
    await kv.rpush("l", "y")
    with pytest.raises(WrongTypeError):
        await kv.blmove("l", "s", "LEFT", "LEFT", 0.05)
    assert await kv.lrange("l", 0, -1) == ["y"]


@pytest.mark.one_slot  # see tests/conftest.py
async def test_blmove_waiter_with_a_wrong_type_destination_gets_wrongtype(
    kv: AsyncClient, blocked: Blocked
) -> None:
    waiter = await start_blocked(blocked, kv.blmove("src", "dst", "LEFT", "LEFT", 0), before=0)
    await kv.set("dst", "string")
    await kv.rpush("src", "x")
    with pytest.raises(WrongTypeError):
        await waiter
    assert await kv.lrange("src", 0, -1) == ["x"]


async def test_bad_arguments(kv: AsyncClient) -> None:
    with pytest.raises(InvalidArgumentError):
        kv.blpop("a", -1)
    with pytest.raises(InvalidArgumentError):
        kv.brpop([], 1)
    with pytest.raises(InvalidArgumentError):
        kv.blmove("a", "b", "UP", "LEFT", 1)
    with pytest.raises(TypeError):
        kv.blpop("a", "1")  # type: ignore[arg-type]


async def test_in_a_transaction_they_answer_at_once(kv: AsyncClient) -> None:
    # One hash tag: a cluster runs a transaction on one slot.
    async with kv.pipeline(transaction=True) as tx:
        tx.blpop("{t}empty", 0).brpop("{t}empty", 0).blmove("{t}empty", "{t}d", "LEFT", "LEFT", 0)
        tx.rpush("{t}l", "a", "b").blpop("{t}l", 0).blmove("{t}l", "{t}d", "LEFT", "LEFT", 0)
    assert tx.replies == [None, None, None, 2, ("{t}l", "a"), "b"]


async def test_a_plain_pipeline_refuses_them(kv: AsyncClient) -> None:
    p = kv.pipeline().set("k", "v")
    with pytest.raises(InvalidArgumentError, match="blocks its connection"):
        p.blpop("l", 0)
    replies = await p.get("k").execute(raise_on_error=False)
    assert replies == [True, "v"]


async def test_waiters_are_served_after_the_transaction(kv: AsyncClient, blocked: Blocked) -> None:
    waiter = await start_blocked(blocked, kv.blpop("q", 0), before=0)
    async with kv.pipeline(transaction=True) as tx:
        tx.rpush("q", "a").llen("q").rpush("q", "b")
    assert tx.replies == [1, 1, 2]  # the waiter was not served in the middle
    assert await waiter == ("q", "a")
    assert await kv.lrange("q", 0, -1) == ["b"]


async def test_a_cancelled_waiter_takes_nothing(kv: AsyncClient, blocked: Blocked) -> None:
    doomed = await start_blocked(blocked, kv.blpop("q", 0), before=0)
    waiting = await start_blocked(blocked, kv.blpop("q", 0), before=1)
    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed
    # On a server the cancelled call closed its connection; the server unblocks it when it
    # reads the close, which the next command could overtake: wait for that first.
    await until(lambda: blocked() == 1)
    await kv.rpush("q", "x", "y")
    assert await waiting == ("q", "x")
    assert await kv.lrange("q", 0, -1) == ["y"]


async def test_a_timed_out_waiter_takes_nothing(kv: AsyncClient, blocked: Blocked) -> None:
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(kv.blpop("q", 0), 0.05)
    await until(lambda: blocked() == 0)
    await kv.rpush("q", "x")
    assert await kv.lrange("q", 0, -1) == ["x"]


async def test_a_cancellation_is_never_lost(kv: AsyncClient) -> None:
    # Cancelled at every point of its first event-loop steps, a blocking pop must end cancelled.
    # redis-py writes under asyncio.wait_for, which up to Python 3.11 drops a cancellation that
    # lands just after the write (CPython gh-86296): the pop then read its reply and returned,
    # and a queue's get() loop went on for ever. A lost one here returns None after 0.05 s.
    lost = []
    for attempt in range(300):
        task = asyncio.ensure_future(kv.blpop("nothing", timeout=0.05))
        for _ in range(attempt % 30):
            await asyncio.sleep(0)
        task.cancel()
        results = await asyncio.gather(task, return_exceptions=True)
        if not isinstance(results[0], asyncio.CancelledError):
            lost.append((attempt, results[0]))
    assert lost == []


async def test_prefix_is_taken_off_the_key(make_client: Callable[..., AsyncClient]) -> None:
    async with make_client(key_prefix="{app}:") as kv:
        await kv.rpush("q", "x")
        assert await kv.blpop(["p", "q"], 1) == ("q", "x")
        # A reply whose key must lose the prefix takes a step a batch cannot queue.
        with pytest.raises(TransactionAbortedError):
            await kv.pipeline(transaction=True).brpop("q", 0).execute()
        await kv.flushdb()


# -- memory driver: a waiter cancelled after it was served ----------------------------------


async def test_memory_waiter_cancelled_after_being_served_puts_the_element_back() -> None:
    async with AsyncClient(driver="memory") as kv:
        first = asyncio.ensure_future(kv.blpop("q", 0))
        second = asyncio.ensure_future(kv.blpop("q", 0))
        await until(lambda: len(kv._driver._blocked.get("q", ())) == 2)  # type: ignore[union-attr]
        await kv.rpush("q", "x")  # handed to the first waiter in this very step...
        first.cancel()  # ...which is cancelled before it could return it
        with pytest.raises(asyncio.CancelledError):
            await first
        assert await second == ("q", "x")  # given back, and so served to the next waiter
        assert await kv.exists("q") == 0


async def test_memory_blmove_cancelled_after_being_served_undoes_the_move() -> None:
    async with AsyncClient(driver="memory") as kv:
        mover = asyncio.ensure_future(kv.blmove("src", "dst", "LEFT", "RIGHT", 0))
        await until(lambda: "src" in kv._driver._blocked)  # type: ignore[union-attr]
        await kv.rpush("dst", "d1")
        await kv.rpush("src", "a", "b")
        assert await kv.lrange("dst", 0, -1) == ["d1", "a"]  # moved at push time
        mover.cancel()
        with pytest.raises(asyncio.CancelledError):
            await mover
        assert await kv.lrange("src", 0, -1) == ["a", "b"]
        assert await kv.lrange("dst", 0, -1) == ["d1"]


async def test_memory_waiters_wait_without_polling() -> None:
    """A blocked waiter is parked on an event: nothing runs on the loop while it waits."""
    async with AsyncClient(driver="memory", memory_reaper_interval=60) as kv:
        waiters = [asyncio.ensure_future(kv.blpop(f"q{i}", 0)) for i in range(50)]
        await until(lambda: len(kv._driver._blocked) == 50)  # type: ignore[union-attr]
        loop = asyncio.get_running_loop()
        await asyncio.sleep(0)
        assert len(loop._ready) == 0  # type: ignore[attr-defined]
        for i in range(50):
            await kv.rpush(f"q{i}", "x")
        assert await asyncio.gather(*waiters) == [(f"q{i}", "x") for i in range(50)]


async def test_memory_blocking_pop_under_trio() -> None:
    trio = pytest.importorskip("trio")
    import anyio

    async def main() -> None:
        async with AsyncClient(driver="memory") as kv:
            got: list[Any] = []
            async with anyio.create_task_group() as tg:

                async def pop() -> None:
                    got.append(await kv.blpop("q", 0))

                tg.start_soon(pop)
                while "q" not in kv._driver._blocked:  # type: ignore[union-attr]  # noqa: ASYNC110
                    await anyio.sleep(0.001)
                await kv.rpush("q", "x")
            assert got == [("q", "x")]
            assert await kv.blpop("q", 0.01) is None

    await asyncio.to_thread(trio.run, main)


# -- redis driver: own connections ------------------------------------------------------------


async def test_redis_blocking_call_does_not_hold_up_other_commands(
    redis_server: RedisServer,
) -> None:
    async with AsyncClient(
        driver="redis", url=redis_server.url, max_connections=1, pool_timeout=5
    ) as kv:
        await kv.delete("q", "k")
        waiters = [asyncio.ensure_future(kv.blpop("q", 0)) for _ in range(3)]
        for _ in range(20):  # the only pooled connection stays free for these
            await kv.set("k", "v")
            assert await kv.get("k") == "v"
        assert not any(w.done() for w in waiters)
        await kv.rpush("q", "a", "b", "c")
        assert sorted(map(str, await asyncio.gather(*waiters))) == [str(("q", x)) for x in "abc"]
        await kv.delete("k")


async def test_redis_cancelled_blocking_calls_leave_the_pools_right(
    redis_server: RedisServer,
) -> None:
    async with AsyncClient(driver="redis", url=redis_server.url, max_connections=2) as kv:
        await kv.delete("q")
        for _ in range(3):
            tasks = [asyncio.ensure_future(kv.blpop("q", 0)) for _ in range(5)]
            await asyncio.sleep(0.05)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        driver: Any = kv._driver
        assert not driver._pool._in_use_connections
        assert not driver._dedicated_pool.pool._in_use_connections
        # The dedicated connections were closed, so the server unblocked every one of them.
        await until(lambda: b"blocked_clients:0" in bytes(redis_server.command("INFO", "clients")))  # type: ignore[arg-type]
        await kv.rpush("q", "x")
        assert await kv.blpop("q", 1) == ("q", "x")


async def test_closing_the_client_ends_blocked_calls(
    make_client: Callable[..., AsyncClient],
) -> None:
    kv = make_client()
    await kv.delete("q")
    waiter = asyncio.ensure_future(kv.blpop("q", 0))
    await asyncio.sleep(0.05)
    await kv.aclose()
    with pytest.raises(ClientClosedError):
        await waiter
