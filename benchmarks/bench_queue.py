"""``queue``: blocking-queue throughput, jobs/s through ``kv.queue`` vs a raw redis-py loop.

One producer task puts N jobs while W worker tasks take and acknowledge them, all in one
process, against a ``redis-server`` the benchmark starts (and stops) itself:

  * aiokv queue (redis): ``put`` / ``get`` / ``ack`` (LPUSH; a script that moves the job and
    writes its lease, or BLMOVE when the queue is empty; a script that removes it);
  * redis.asyncio BLMOVE loop: LPUSH / BLMOVE pending -> processing / LREM (an ack without
    leases, so a crashed worker's job stays stuck: the work aiokv's queue does on top);
  * aiokv queue (memory): the same workload on the memory driver, for reference.

Rounds are interleaved across contenders; the median is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ._common import banner, fmt_rate, fmt_ratio, median, render_table, spread_pct, write_json
from ._redis_server import RedisServer, ServerUnavailable, redis_server


async def _aiokv_queue(url: str | None, jobs: int, workers: int) -> float:
    from aiokv import AsyncClient

    options: dict[str, Any] = (
        {"driver": "memory"}
        if url is None
        else {"driver": "redis", "url": url, "max_connections": workers + 2}
    )
    async with AsyncClient(**options) as kv:
        await kv.flushdb()
        queue = kv.queue("bench")
        done = 0

        async def produce() -> None:
            for n in range(jobs):
                await queue.put(str(n))

        async def work() -> None:
            nonlocal done
            while done < jobs:
                job = await queue.get(timeout=0.05)
                if job is not None:
                    await job.ack()
                    done += 1

        start = time.perf_counter()
        await asyncio.gather(produce(), *(work() for _ in range(workers)))
        elapsed = time.perf_counter() - start
        assert done == jobs
        assert await queue.in_progress() == 0
        await kv.flushdb()
        return jobs / elapsed


async def _redis_py_loop(url: str, jobs: int, workers: int) -> float:
    import redis.asyncio as redis

    r = redis.Redis.from_url(url, max_connections=workers + 2)
    try:
        await r.flushdb()
        done = 0

        async def produce() -> None:
            for n in range(jobs):
                await r.lpush("raw:pending", str(n))

        async def work() -> None:
            nonlocal done
            while done < jobs:
                job = await r.blmove("raw:pending", "raw:processing", 0.05, "RIGHT", "LEFT")
                if job is not None:
                    await r.lrem("raw:processing", -1, job)
                    done += 1

        start = time.perf_counter()
        await asyncio.gather(produce(), *(work() for _ in range(workers)))
        elapsed = time.perf_counter() - start
        assert done == jobs
        assert await r.llen("raw:processing") == 0
        await r.flushdb()
        return jobs / elapsed
    finally:
        await r.aclose()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs per round")
    parser.add_argument("--workers", type=int, default=4, help="worker tasks")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")


def run(args: argparse.Namespace) -> int:
    try:
        with redis_server() as server:
            results = asyncio.run(_measure(server, args.jobs, args.workers, args.rounds))
    except ServerUnavailable as exc:
        print(f"queue benchmark skipped: {exc}")
        return 0
    print(banner(f"blocking queue: {args.jobs} jobs, {args.workers} workers, {args.rounds} rounds"))
    base = median(results["redis.asyncio BLMOVE loop"])
    rows = [
        [
            name,
            fmt_rate(median(rates)),
            f"{spread_pct(rates):.0f}%",
            fmt_ratio(median(rates) / base),
        ]
        for name, rates in results.items()
    ]
    print(render_table(["contender", "jobs/s (median)", "spread", "vs raw BLMOVE"], rows))
    if args.json is not None:
        payload = {
            "jobs": args.jobs,
            "workers": args.workers,
            "rounds": args.rounds,
            "server": server.version,
            "jobs_per_sec": results,
        }
        print("wrote", write_json("queue", payload, args.json or None))
    return 0


async def _measure(
    server: RedisServer, jobs: int, workers: int, rounds: int
) -> dict[str, list[float]]:
    contenders: dict[str, Callable[[], Awaitable[float]]] = {
        "aiokv queue (redis)": lambda: _aiokv_queue(server.url, jobs, workers),
        "redis.asyncio BLMOVE loop": lambda: _redis_py_loop(server.url, jobs, workers),
        "aiokv queue (memory)": lambda: _aiokv_queue(None, jobs, workers),
    }
    results: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, measure in contenders.items():
            results[name].append(await measure())
    return results
