"""A work queue on a list: producers LPUSH jobs, workers RPOP them (first in, first out).

Each RPOP hands a job to exactly one worker. Jobs are JSON; a worker polls when the queue is
empty. (For jobs that must survive a worker crash, use a broker with acknowledgements.)

Run it with::

    python examples/queues.py
"""

from __future__ import annotations

import asyncio
import json

from aiokv import AsyncClient

QUEUE = "jobs:email"


async def producer(kv: AsyncClient, count: int) -> None:
    for n in range(count):
        await kv.lpush(QUEUE, json.dumps({"to": f"user{n}@example.com", "template": "welcome"}))


async def worker(kv: AsyncClient, name: str, done: list[str], total: int) -> None:
    while len(done) < total:
        raw = await kv.rpop(QUEUE)
        if raw is None:
            await asyncio.sleep(0.01)  # empty: poll again shortly
            continue
        job = json.loads(raw)
        done.append(f"{name} sent {job['template']} to {job['to']}")


async def main() -> None:
    async with AsyncClient(key_prefix="example:queues:") as kv:
        done: list[str] = []
        workers = [asyncio.create_task(worker(kv, f"worker-{i}", done, 12)) for i in range(3)]
        await producer(kv, 12)
        await asyncio.gather(*workers)  # they stop once the 12 jobs are done

        print(f"{len(done)} jobs done, each once:")
        for line in done[:4]:
            print("  " + line)
        print("  ...")

        # Batch pops take up to N jobs in one round trip.
        await kv.lpush(QUEUE, "a", "b", "c")
        print("rpop(QUEUE, 2) ->", await kv.rpop(QUEUE, 2))

        await kv.flushdb()


if __name__ == "__main__":
    asyncio.run(main())
