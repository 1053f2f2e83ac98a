"""kv.queue: a work queue that loses nothing, on both drivers; the SIGKILL test in the slow
session runs four worker processes against a real server and kills one mid-job."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from servers import RedisServer

from aiokv import AsyncClient, InvalidArgumentError, Job

ROOT = Path(__file__).resolve().parents[1]


async def test_put_get_ack_in_order(kv: AsyncClient) -> None:
    q = kv.queue("emails")
    ids = [await q.put(f"job-{n}") for n in range(3)]
    assert await q.size() == 3
    jobs = [await q.get(0) for _ in range(3)]
    assert all(isinstance(job, Job) for job in jobs)
    assert [job.data for job in jobs if job] == ["job-0", "job-1", "job-2"]
    assert [job.id for job in jobs if job] == ids
    assert await q.size() == 0
    assert await q.in_progress() == 3
    for job in jobs:
        assert job is not None
        assert await job.ack() is True
        assert await job.ack() is False  # idempotent
        assert await job.nack() is False
    assert await q.in_progress() == 0
    assert await kv.keys("*") == []  # an acked job leaves nothing behind


async def test_get_on_an_empty_queue(kv: AsyncClient) -> None:
    q = kv.queue("empty")
    assert await q.get(0) is None
    assert await q.get(0.05) is None
    with pytest.raises(InvalidArgumentError):
        await q.get(-1)


async def test_a_blocked_get_is_woken_by_put(kv: AsyncClient) -> None:
    q = kv.queue("wake")
    getter = asyncio.ensure_future(q.get())
    await asyncio.sleep(0.05)
    await q.put("hello")
    job = await getter
    assert job is not None
    assert job.data == "hello"
    assert await q.in_progress() == 1
    assert await job.ack()


async def test_nack_puts_the_job_back_in_front(kv: AsyncClient) -> None:
    q = kv.queue("retry")
    await q.put("first")
    await q.put("second")
    job = await q.get(0)
    assert job is not None
    assert job.data == "first"
    assert await job.nack() is True
    again = await q.get(0)
    assert again is not None
    assert (again.id, again.data) == (job.id, "first")
    await again.ack()
    await q.clear()


async def test_a_job_not_acked_in_time_comes_back(kv: AsyncClient) -> None:
    q = kv.queue("slow", visibility_timeout=0.2)
    await q.put("x")
    job = await q.get(0)
    assert job is not None
    await asyncio.sleep(0.3)  # the worker "died": no ack within the visibility timeout
    again = await q.get(1)
    assert again is not None
    assert again.id == job.id
    assert await again.ack() is True
    assert await job.ack() is False  # the late ack finds it gone
    assert await kv.keys("*") == []


async def test_extend_keeps_the_job(kv: AsyncClient) -> None:
    q = kv.queue("long", visibility_timeout=0.3)
    await q.put("x")
    job = await q.get(0)
    assert job is not None
    for _ in range(3):
        await asyncio.sleep(0.15)
        assert await job.extend() is True
        assert await q.get(0) is None  # still leased to us
    assert await job.ack() is True
    assert await job.extend() is False


async def test_a_lost_take_reply_is_recovered(kv: AsyncClient) -> None:
    """A BLMOVE whose reply never arrived (cancelled in flight, connection lost) leaves the job
    in processing without a lease: the reaper gives it one, then returns it."""
    q = kv.queue("lost", visibility_timeout=0.2)
    await q.put("x")
    await kv.lmove("queue:{lost}:pending", "queue:{lost}:processing", "RIGHT", "LEFT")
    assert await q.get(0) is None  # the reaper leased it
    await asyncio.sleep(0.3)
    job = await q.get(1)
    assert job is not None
    assert job.data == "x"
    await job.ack()
    assert await kv.keys("*") == []


async def test_cancelled_gets_lose_nothing(kv: AsyncClient) -> None:
    q = kv.queue("cancel", visibility_timeout=0.2)
    for _ in range(5):
        getter = asyncio.ensure_future(q.get())
        await asyncio.sleep(0.02)
        getter.cancel()
        await asyncio.gather(getter, return_exceptions=True)
    await q.put("x")
    await asyncio.sleep(0.05)
    found = None
    for _ in range(20):
        found = await q.get(0.1)
        if found is not None:
            break
    assert found is not None
    assert found.data == "x"
    await found.ack()


async def test_many_workers_take_each_job_once(kv: AsyncClient) -> None:
    q = kv.queue("many")
    for n in range(100):
        await q.put(str(n))
    done: list[str] = []

    async def worker() -> None:
        while (job := await q.get(0)) is not None:
            done.append(job.data)
            await job.ack()

    await asyncio.gather(*(worker() for _ in range(5)))
    assert sorted(done, key=int) == [str(n) for n in range(100)]


async def test_bytes_and_unicode(kv: AsyncClient) -> None:
    q = kv.queue("text")
    await q.put("é ✓")
    await q.put(b"raw")
    a, b = await q.get(0), await q.get(0)
    assert a is not None
    assert b is not None
    assert (a.data, b.data) == ("é ✓", "raw")
    await q.clear()


def test_bad_arguments() -> None:
    kv = AsyncClient(driver="memory")
    with pytest.raises(InvalidArgumentError):
        kv.queue("")
    with pytest.raises(InvalidArgumentError):
        kv.queue("q", visibility_timeout=0)


_WORKER = textwrap.dedent(
    """
    import asyncio, sys
    from aiokv import AsyncClient

    async def main(url: str, victim: bool) -> None:
        async with AsyncClient(driver="redis", url=url) as kv:
            q = kv.queue("work", visibility_timeout=1.0)
            taken = 0
            while True:
                job = await q.get(0.5)
                if job is None:
                    continue
                taken += 1
                if victim and taken == 3:
                    await kv.set("victim:holding", job.data)
                    await asyncio.sleep(3600)  # mid-job: the test kills us here
                await kv.sadd("done", job.data)
                await asyncio.sleep(0.002)
                await job.ack()

    asyncio.run(main(sys.argv[1], sys.argv[2] == "victim"))
    """
)


@pytest.mark.slow
async def test_sigkill_of_a_worker_loses_no_job(redis_server: RedisServer, tmp_path: Path) -> None:
    jobs = 300
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    async with AsyncClient(driver="redis", url=redis_server.url) as kv:
        await kv.flushdb()
        q = kv.queue("work", visibility_timeout=1.0)
        for n in range(jobs):
            await q.put(str(n))
        workers = [
            subprocess.Popen(  # noqa: ASYNC220 (started once, never waited on in the loop)
                [sys.executable, str(script), redis_server.url, "victim" if i == 0 else "plain"],
                env=env,
                cwd=tmp_path,
            )
            for i in range(4)
        ]
        try:
            while (held := await kv.get("victim:holding")) is None:
                assert all(w.poll() is None for w in workers), "a worker died on its own"
                await asyncio.sleep(0.01)
            os.kill(workers[0].pid, signal.SIGKILL)
            workers[0].wait()
            for _ in range(6000):  # up to about a minute; usually a few seconds
                if await kv.scard("done") == jobs and await q.in_progress() == 0:
                    break
                assert all(w.poll() is None for w in workers[1:]), "a worker died on its own"
                await asyncio.sleep(0.01)
            done = await kv.smembers("done")
            assert done == {str(n) for n in range(jobs)}  # every job, the held one included
            assert held in done
            assert await q.size() == 0
            assert await q.in_progress() == 0
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
                worker.wait()
        await kv.flushdb()
