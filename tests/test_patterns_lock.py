"""Locks: exclusion between tasks, clients and processes; token-checked release; timeouts."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import anyio
import pytest
from servers import RedisServer

from aiokv import (
    AsyncClient,
    InvalidArgumentError,
    KVError,
    Lock,
    LockError,
    LockNotOwnedError,
)
from aiokv.patterns.lock import ACQUIRE

REPO = Path(__file__).resolve().parent.parent


async def test_held_while_inside(kv: AsyncClient) -> None:
    lock = kv.lock("report", ttl=10)
    assert isinstance(lock, Lock)
    assert not lock.held
    async with lock:
        assert lock.held
        token = await kv.get("lock:report")
        assert token is not None
        assert len(token) == 32
        assert 9_000 < await kv.pttl("lock:report") <= 10_000
    assert not lock.held
    assert await kv.exists("lock:report") == 0


async def test_excludes_tasks(kv: AsyncClient) -> None:
    inside = 0
    most = 0
    order: list[int] = []

    async def worker(n: int) -> None:
        nonlocal inside, most
        async with kv.lock("section", ttl=5):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.003)
            order.append(n)
            inside -= 1

    await asyncio.gather(*(worker(n) for n in range(20)))
    assert most == 1
    assert sorted(order) == list(range(20))


async def test_protects_a_read_modify_write(kv: AsyncClient) -> None:
    await kv.set("n", 0)

    async def bump() -> None:
        async with kv.lock("n", ttl=5):
            value = int(await kv.get("n") or 0)
            await asyncio.sleep(0.001)
            await kv.set("n", value + 1)

    await asyncio.gather(*(bump() for _ in range(20)))
    assert await kv.get("n") == "20"


async def test_excludes_clients(make_client: Callable[..., AsyncClient], driver: str) -> None:
    if driver == "memory":
        pytest.skip("memory clients never share a store")
    async with make_client() as a, make_client() as b:
        await a.flushdb()
        async with a.lock("x", ttl=5):
            with pytest.raises(LockError):
                await b.lock("x", blocking_timeout=0).acquire()
        async with b.lock("x", blocking_timeout=0):
            pass


async def test_blocking_timeout_zero_tries_once(kv: AsyncClient) -> None:
    async with kv.lock("x"):
        started = time.monotonic()
        with pytest.raises(LockError, match="'x' is held by another owner") as caught:
            async with kv.lock("x", blocking_timeout=0):
                pytest.fail("acquired a held lock")
        assert time.monotonic() - started < 2  # no waiting: the lock stays held
    assert isinstance(caught.value, KVError)
    assert not isinstance(caught.value, LockNotOwnedError)


async def test_blocking_timeout_waits_then_gives_up(kv: AsyncClient) -> None:
    async with kv.lock("x"):
        started = time.monotonic()
        with pytest.raises(LockError, match=r"gave up after 0\.15s"):
            await kv.lock("x", blocking_timeout=0.15).acquire()
        assert 0.14 < time.monotonic() - started < 3  # the upper bound only catches a hang


async def test_waits_for_the_holder(kv: AsyncClient) -> None:
    holder = kv.lock("x")
    await holder.acquire()

    async def release_soon() -> None:
        await asyncio.sleep(0.05)
        await holder.release()

    releaser = asyncio.create_task(release_soon())
    started = time.monotonic()
    async with kv.lock("x", blocking_timeout=timedelta(seconds=5)):
        assert time.monotonic() - started >= 0.04
    await releaser


async def test_expired_lock_can_be_taken_and_is_not_released_by_its_old_owner(
    kv: AsyncClient,
) -> None:
    old = kv.lock("x", ttl=0.05)
    await old.acquire()
    await asyncio.sleep(0.08)
    new = kv.lock("x", ttl=10, blocking_timeout=0)
    await new.acquire()
    with pytest.raises(LockNotOwnedError, match="expired"):
        await old.release()
    assert new.held
    assert await kv.exists("lock:x") == 1  # the new owner's lock survived
    await new.release()


async def test_leaving_after_the_ttl_ran_out_raises(kv: AsyncClient) -> None:
    with pytest.raises(LockNotOwnedError, match="raise the ttl or call extend"):
        async with kv.lock("x", ttl=0.03):
            await asyncio.sleep(0.06)


async def test_the_bodys_error_wins_over_a_lost_lock(kv: AsyncClient) -> None:
    async def expire_then_fail() -> None:
        async with kv.lock("x", ttl=0.03):
            await asyncio.sleep(0.06)
            raise LookupError("from the body")

    with pytest.raises(LookupError, match="from the body"):
        await expire_then_fail()


async def test_release_on_error(kv: AsyncClient) -> None:
    with pytest.raises(RuntimeError):
        async with kv.lock("x"):
            raise RuntimeError("boom")
    assert await kv.exists("lock:x") == 0


async def test_release_checks_the_token(kv: AsyncClient) -> None:
    lock = kv.lock("x")
    await lock.acquire()
    await kv.set("lock:x", "someone else's token")
    with pytest.raises(LockNotOwnedError):
        await lock.release()
    assert await kv.get("lock:x") == "someone else's token"


async def test_acquire_step_is_idempotent_for_its_own_token(kv: AsyncClient) -> None:
    # A SET retried after a dropped connection finds its own token: that is success.
    assert await kv.run_script(ACQUIRE, ["lock:x"], ["mine", 5000]) == 1
    assert await kv.run_script(ACQUIRE, ["lock:x"], ["mine", 8000]) == 1
    assert 7_000 < await kv.pttl("lock:x") <= 8_000
    assert await kv.run_script(ACQUIRE, ["lock:x"], ["theirs", 5000]) == 0
    assert await kv.get("lock:x") == "mine"


async def test_extend(kv: AsyncClient) -> None:
    async with kv.lock("x", ttl=10) as lock:
        await lock.extend(30)
        assert 29_000 < await kv.pttl("lock:x") <= 30_000
        await lock.extend()  # back to the lock's own ttl
        assert 9_000 < await kv.pttl("lock:x") <= 10_000
        with pytest.raises(InvalidArgumentError):
            await lock.extend(0)


async def test_extend_after_expiry_raises(kv: AsyncClient) -> None:
    lock = kv.lock("x", ttl=0.03)
    await lock.acquire()
    await asyncio.sleep(0.06)
    with pytest.raises(LockNotOwnedError):
        await lock.extend()
    assert not lock.held


async def test_release_or_extend_without_holding(kv: AsyncClient) -> None:
    lock = kv.lock("x")
    with pytest.raises(LockNotOwnedError, match="not held"):
        await lock.release()
    with pytest.raises(LockNotOwnedError, match="not held"):
        await lock.extend()


async def test_not_reentrant(kv: AsyncClient) -> None:
    async with kv.lock("x") as lock:
        with pytest.raises(LockError, match="not reentrant"):
            await lock.acquire()


async def test_reusable_after_release(kv: AsyncClient) -> None:
    lock = kv.lock("x")
    async with lock:
        first = await kv.get("lock:x")
    async with lock:
        assert await kv.get("lock:x") != first


async def test_cancelled_body_releases(kv: AsyncClient) -> None:
    entered = asyncio.Event()

    async def hold() -> None:
        async with kv.lock("x", ttl=30):
            entered.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(hold())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await kv.exists("lock:x") == 0


async def test_cancelled_waiter_leaves_no_trace(kv: AsyncClient) -> None:
    if (
        sys.version_info < (3, 11)
        and kv.settings.driver == "redis"
        and not (kv.settings.auto_pipeline)
    ):
        # redis-py's pooled connections can swallow a cancellation on 3.10, which has no
        # Task.cancelling() to detect it (README: "The redis driver"); the shared connection
        # of auto-pipelining is aiokv's own and delivers it.
        pytest.skip("pooled redis-py connections can swallow a cancellation on Python 3.10")
    async with kv.lock("x") as holder:
        token = await kv.get("lock:x")
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(kv.lock("x").acquire(), timeout=0.05)
        assert holder.held
        assert await kv.get("lock:x") == token


async def test_under_a_key_prefix(make_client: Callable[..., AsyncClient]) -> None:
    async with make_client(key_prefix="app:") as kv:
        await kv.flushdb()
        async with kv.lock("x"):
            assert await kv.keys() == ["lock:x"]
        assert await kv.keys() == []


@pytest.mark.parametrize(
    ("ttl", "blocking_timeout"), [(0, None), (-1, None), (timedelta(0), None), (1, -0.5)]
)
def test_invalid_arguments(ttl: float, blocking_timeout: float | None) -> None:
    with pytest.raises(InvalidArgumentError):
        AsyncClient().lock("x", ttl=ttl, blocking_timeout=blocking_timeout)


def test_under_trio() -> None:
    async def main() -> int:
        inside = most = 0
        async with AsyncClient() as kv:

            async def worker() -> None:
                nonlocal inside, most
                async with kv.lock("x", ttl=5):
                    inside += 1
                    most = max(most, inside)
                    await anyio.sleep(0.002)
                    inside -= 1

            async with anyio.create_task_group() as tg:
                for _ in range(10):
                    tg.start_soon(worker)
        return most

    assert anyio.run(main, backend="trio") == 1


_WORKER = textwrap.dedent(
    """
    import asyncio, sys
    from aiokv import AsyncClient

    async def main(url: str) -> None:
        async with AsyncClient(driver="redis", url=url) as kv:
            for _ in range(5):
                async with kv.lock("counter", ttl=10):
                    value = int(await kv.get("counter") or 0)
                    await asyncio.sleep(0.01)  # a read-modify-write that would lose updates
                    await kv.set("counter", value + 1)

    asyncio.run(main(sys.argv[1]))
    """
)


@pytest.mark.slow
def test_excludes_processes(redis_server: RedisServer, tmp_path: Path) -> None:
    redis_server.command("FLUSHDB")
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, redis_server.url],
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,  # not REPO, whose `.env` would reach the workers
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        for _ in range(3)
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err
    assert redis_server.command("GET", "counter") == b"15"
    assert redis_server.command("EXISTS", "lock:counter") == 0
