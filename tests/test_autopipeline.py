"""Auto-pipelining on the redis driver (``aiokv/drivers/_redis_mux.py``), against a real server.

Commands of concurrent tasks share one multiplexed connection and are written together; each
caller gets its own reply, an error reply reaches only its caller, a cancelled caller's reply
is read and dropped, ``socket_timeout`` bounds each wait, and a connection that fails fails the
commands it carried (a write is never re-sent) and is replaced. Faults come from the TCP proxy
in ``faultproxy.py``; the heavy cancellation storm is marked slow.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from faultproxy import FaultProxy
from servers import RedisServer, ServerBinary
from test_redis_cancellation import KEYS, needs_cancelling

from aiokv import (
    AsyncClient,
    ClientClosedError,
    KVSettings,
    KVTimeoutError,
    OutcomeUnknownError,
    WrongTypeError,
)
from aiokv.drivers._redis_mux import Mux

BOUND = 30.0  # every wait here is bounded by this, so a hang fails instead


@pytest.fixture(scope="module")
def server(server_binary: ServerBinary) -> Iterator[RedisServer]:
    with RedisServer(server_binary) as server:
        yield server


@pytest.fixture
async def proxy(server: RedisServer) -> AsyncIterator[FaultProxy]:
    server.command("FLUSHDB")
    async with FaultProxy(server.address) as proxy:
        yield proxy


def client(proxy: FaultProxy, **overrides: Any) -> AsyncClient:
    options: dict[str, Any] = {
        "url": proxy.url(),
        "auto_pipeline": True,
        "retry_backoff_base": 0.01,
        "retry_backoff_cap": 0.05,
        **overrides,
    }
    return AsyncClient(**options)


def mux_of(kv: AsyncClient) -> Mux:
    mux = kv._driver._mux  # type: ignore[attr-defined]
    assert isinstance(mux, Mux)
    return mux


def count_writes(kv: AsyncClient, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the number of commands in each write on the (open) multiplexed connection."""
    sizes: list[int] = []
    transport = mux_of(kv).lanes[0].transport
    assert transport is not None
    write = transport.write

    def counted(data: bytes | bytearray | memoryview) -> None:
        sizes.append(bytes(data).count(b"\r\n$3\r\nGET\r\n"))
        write(data)

    monkeypatch.setattr(transport, "write", counted)
    return sizes


def test_on_by_default_and_a_setting_turns_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    assert KVSettings(driver="redis").auto_pipeline is True
    assert KVSettings(driver="redis").multiplexed_connections == 1
    monkeypatch.setenv("REDIS_AUTO_PIPELINE", "0")
    monkeypatch.setenv("REDIS_MULTIPLEXED_CONNECTIONS", "3")
    settings = KVSettings(driver="redis")
    assert settings.auto_pipeline is False
    assert settings.multiplexed_connections == 3


async def test_off_means_no_multiplexed_connection(proxy: FaultProxy) -> None:
    async with client(proxy, auto_pipeline=False) as kv:
        assert kv._driver._mux is None  # type: ignore[attr-defined]
        assert await asyncio.gather(*(kv.set(f"k{i}", "v") for i in range(20))) == [True] * 20


async def test_commands_of_one_loop_step_are_written_together(
    proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with client(proxy) as kv:
        await kv.set("warm", "up")  # opens the multiplexed connection
        sizes = count_writes(kv, monkeypatch)
        values = await asyncio.gather(*(kv.get("warm") for _ in range(100)))
        assert values == ["up"] * 100
        # The first finds the connection idle and goes at once; the 99 others, issued in the
        # same loop step while a reply was outstanding, go in one write.
        assert sizes == [1, 99]
        sizes.clear()
        for _ in range(3):  # one caller: each command written at once, alone
            assert await kv.get("warm") == "up"
        assert sizes == [1, 1, 1]
        assert proxy.open == 1


async def test_each_caller_gets_its_own_reply(proxy: FaultProxy) -> None:
    async with client(proxy) as kv:

        async def worker(i: int) -> list[str]:
            wrong = []
            for j in range(5):
                await kv.set(f"k{i}", f"{i}:{j}")
                got = await kv.get(f"k{i}")
                if got != f"{i}:{j}":
                    wrong.append(f"k{i} -> {got!r}")
            return wrong

        results = await asyncio.gather(*(worker(i) for i in range(1000)))
        assert [w for ws in results for w in ws] == []
        assert proxy.opened == 1  # all on the one multiplexed connection


async def test_an_error_reply_reaches_only_its_caller(proxy: FaultProxy) -> None:
    async with client(proxy) as kv:
        await kv.set("s", "text")
        results = await asyncio.gather(
            kv.get("s"), kv.lpush("s", "x"), kv.incr("n"), kv.incr("s"), kv.get("s"),
            return_exceptions=True,
        )  # fmt: skip
        assert results[0] == "text"
        assert isinstance(results[1], WrongTypeError)
        assert results[2] == 1
        assert isinstance(results[3], Exception)
        assert "not an integer" in str(results[3])
        assert results[4] == "text"


async def test_a_cancelled_callers_reply_is_dropped(proxy: FaultProxy) -> None:
    async with client(proxy) as kv:
        await kv.set("a", "A")
        await kv.set("b", "B")
        proxy.delay(0.05)
        first = asyncio.ensure_future(kv.get("a"))
        await asyncio.sleep(0.01)  # written; its reply is on the way
        assert proxy.count("GET") == 1
        first.cancel()
        second = asyncio.ensure_future(kv.get("b"))
        with pytest.raises(asyncio.CancelledError):
            await first
        assert await second == "B"  # not "A"
        proxy.delay(0)
        assert await kv.get("a") == "A"
        assert proxy.opened == 1  # the connection was kept: the dropped reply was read


async def test_a_command_cancelled_before_its_write_is_never_sent(
    proxy: FaultProxy, server: RedisServer
) -> None:
    async with client(proxy) as kv:
        await kv.ping()
        proxy.delay(0.05)
        first = asyncio.ensure_future(kv.incr("sent"))
        await asyncio.sleep(0.01)  # written, reply outstanding: the next one waits in the buffer
        queued = asyncio.ensure_future(kv.incr("unsent"))
        await asyncio.sleep(0)  # the task runs and queues its command...
        queued.cancel()  # ...which is cancelled before the end of the step writes the buffer
        with pytest.raises(asyncio.CancelledError):
            await queued
        assert await first == 1
        proxy.delay(0)
        assert await kv.incr("sent") == 2
    assert server.command("GET", "unsent") is None
    assert b"unsent" not in [word for command in proxy.commands for word in command]


async def test_socket_timeout_fails_the_commands_of_the_connection_then_recovers(
    proxy: FaultProxy,
) -> None:
    async with client(proxy, socket_timeout=0.2) as kv:
        await kv.set("k", "v")
        proxy.hold(requests=False)  # the commands run; their replies never come
        started = time.monotonic()
        results = await asyncio.gather(
            *(kv.get("k") for _ in range(10)), kv.incr("n"), return_exceptions=True
        )
        assert time.monotonic() - started < BOUND
        assert all(isinstance(r, KVTimeoutError) for r in results), results
        proxy.release()
        assert await kv.get("k") == "v"  # on a fresh connection
        assert proxy.opened == 2


async def test_a_reset_fails_writes_as_unknown_and_retries_reads(
    proxy: FaultProxy, server: RedisServer
) -> None:
    async with client(proxy) as kv:
        await kv.set("k", "v")
        proxy.delay(0.02)
        proxy.reset_after_forward(match="INCRBY")
        results = await asyncio.gather(
            *(kv.get("k") for _ in range(5)), kv.incr("n"), *(kv.get("k") for _ in range(5)),
            return_exceptions=True,
        )  # fmt: skip
        assert results[:5] + results[6:] == ["v"] * 10  # the reads were retried
        assert isinstance(results[5], OutcomeUnknownError)
        proxy.delay(0)
        assert server.command("GET", "n") == b"1"  # applied once, never re-sent
        assert await kv.incr("n") == 2


async def test_aclose_fails_commands_in_flight_and_sends_nothing_after(
    proxy: FaultProxy,
) -> None:
    kv = client(proxy)
    await kv.ping()
    proxy.hold(requests=False)
    in_flight = [asyncio.ensure_future(kv.incr(f"n{i}")) for i in range(20)]
    await asyncio.sleep(0.05)
    await kv.aclose()
    sent = len(proxy.commands)
    done, pending = await asyncio.wait(in_flight, timeout=BOUND)
    assert not pending
    assert all(isinstance(t.exception(), ClientClosedError) for t in done)
    proxy.release()
    await asyncio.sleep(0.1)
    assert len(proxy.commands) == sent
    assert await proxy.wait_all_closed()


async def test_pipelines_and_transactions_keep_pooled_connections(proxy: FaultProxy) -> None:
    async with client(proxy) as kv:

        async def transaction(i: int) -> list[Any]:
            async with kv.pipeline(transaction=True) as p:
                p.incr(f"t{i}")
                p.get(f"t{i}")
            return p.replies

        gets = [kv.get("x") for _ in range(50)]
        results = await asyncio.gather(*gets, *(transaction(i) for i in range(5)))
        assert results[:50] == [None] * 50
        assert results[50:] == [[1, "1"]] * 5


async def test_several_multiplexed_connections_share_the_load(proxy: FaultProxy) -> None:
    async with client(proxy, multiplexed_connections=3) as kv:
        await asyncio.gather(*(kv.incr("n") for _ in range(300)))
        assert await kv.get("n") == "300"
        assert 1 <= proxy.opened <= 3


async def test_the_connection_is_replaced_after_the_server_closes_it(
    proxy: FaultProxy,
) -> None:
    async with client(proxy) as kv:
        await kv.set("k", "v")
        proxy.drop_all()
        await asyncio.sleep(0.05)  # the client sees the reset while idle
        assert await asyncio.gather(*(kv.get("k") for _ in range(10))) == ["v"] * 10
        assert proxy.opened == 2


async def check_once(kv: AsyncClient, rng: random.Random, wrong: list[str]) -> None:
    """Read a random key and maybe rewrite it; record any reply that belongs to another."""
    i = rng.randrange(KEYS)
    value = await kv.get(f"k{i}")
    if value != f"v{i}":
        wrong.append(f"get k{i} -> {value!r}")
    if rng.random() < 0.3 and await kv.set(f"k{i}", f"v{i}") is not True:
        wrong.append(f"set k{i} -> not True")
    if rng.random() < 0.2:
        n = await kv.incrby(f"n{i}", 0)  # another command's reply would not read as 0
        if n != 0:
            wrong.append(f"incrby n{i} 0 -> {n!r}")


@needs_cancelling
@pytest.mark.slow
async def test_cancellation_storm_with_a_thousand_tasks_reads_no_wrong_reply(
    server: RedisServer, proxy: FaultProxy
) -> None:
    """10,000 random cancellations while 1,000 tasks read and write through a delaying proxy.

    Each task runs one check at a time under a random timeout of up to ``limit``, about the
    time a round trip takes with 1,000 tasks sharing the connection: the cancellations land
    before the write, between write and reply, and between commands of one check.
    """
    rng = random.Random(31)
    wrong: list[str] = []
    cancelled = completed = 0
    for i in range(KEYS):
        server.command("SET", f"k{i}", f"v{i}")
    reached = asyncio.Event()
    target = 0

    async def worker(kv: AsyncClient, limit: float) -> None:
        nonlocal cancelled, completed
        while True:
            try:
                async with asyncio.timeout(rng.random() * limit):  # type: ignore[attr-defined,unused-ignore]
                    await check_once(kv, rng, wrong)
            except TimeoutError:
                cancelled += 1
                if cancelled >= target:
                    reached.set()
            else:
                completed += 1

    async with client(proxy) as kv:
        for r, (delay, limit) in enumerate(((0, 0.05), (0.0005, 0.08), (0.002, 0.12))):
            proxy.delay(delay)
            target = (r + 1) * 10_000 // 3
            reached.clear()
            workers = [asyncio.ensure_future(worker(kv, limit)) for _ in range(1000)]
            await asyncio.wait_for(reached.wait(), BOUND * 4)
            for task in workers:
                task.cancel()
            await asyncio.wait(workers, timeout=BOUND)
        proxy.delay(0)
        for i in range(KEYS):
            value = await kv.get(f"k{i}")
            if value != f"v{i}":
                wrong.append(f"at the end: get k{i} -> {value!r}")
    print(f"{cancelled} cancellations, {completed} checks completed")
    assert cancelled >= 10_000
    assert completed >= 10_000  # the tasks did work between their cancellations
    assert wrong == []
    assert await proxy.wait_all_closed()
