"""A pool of workers on a queue that loses nothing: ``kv.queue(name)``.

Producers ``put`` jobs; each worker ``get``s one (it moves to a processing list atomically),
does the work, then ``ack``s it. A job that fails is ``nack``ed and retried; a job whose
worker dies before acking comes back after the visibility timeout. Delivery is at least once,
so a handler must be safe to run twice for one job (here: a set of sent ids).

Run it with::

    python examples/worker_pool.py
"""

from __future__ import annotations

import asyncio
import json

from aiokv import AsyncClient, Queue


async def send_email(kv: AsyncClient, job: dict[str, str]) -> None:
    # Idempotent: a job delivered twice sends once.
    if await kv.sadd("emails:sent", job["id"]):
        await asyncio.sleep(0.001)  # the real work


async def worker(kv: AsyncClient, queue: Queue, name: str, log: list[str]) -> None:
    attempts: dict[str, int] = {}
    while (job := await queue.get(timeout=0.2)) is not None:
        payload = json.loads(job.data)
        attempts[payload["id"]] = attempts.get(payload["id"], 0) + 1
        if payload["id"] == "3" and attempts["3"] == 1:
            log.append(f"{name}: job 3 failed once, nack: it goes back to the front")
            await job.nack()
            continue
        await send_email(kv, payload)
        await job.ack()
        log.append(f"{name}: sent {payload['id']}")


async def main() -> None:
    async with AsyncClient(key_prefix="example:worker_pool:") as kv:
        queue = kv.queue("emails", visibility_timeout=30)
        for n in range(10):
            await queue.put(json.dumps({"id": str(n), "to": f"user{n}@example.com"}))
        print("queued:", await queue.size())

        log: list[str] = []
        await asyncio.gather(*(worker(kv, queue, f"worker-{i}", log) for i in range(3)))
        print(f"{sum('sent' in line for line in log)} jobs done; for instance:")
        for line in log[:4]:
            print("  " + line)
        print("left in the queue:", await queue.size(), "in progress:", await queue.in_progress())
        print("sent:", sorted(await kv.smembers("emails:sent"), key=int))

        # A worker that dies mid-job (here: never acks) loses nothing.
        crashy = kv.queue("reports", visibility_timeout=0.2)
        await crashy.put("monthly")
        taken = await crashy.get()
        assert taken is not None
        print("a worker took", taken.data, "and died without acking...")
        again = await crashy.get(timeout=2)
        assert again is not None
        print("...so after the visibility timeout it came back:", again.data)
        await again.ack()

        await kv.delete("emails:sent")
        await queue.clear()


if __name__ == "__main__":
    asyncio.run(main())
