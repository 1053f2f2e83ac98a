"""A lock across processes: only one worker rebuilds an expensive report at a time.

The others wait for the lock, then find the fresh report in the cache. Each worker here is a
task with its own ``Lock``; separate processes on one Redis server behave the same.

Run it with::

    python examples/locks.py
"""

from __future__ import annotations

import asyncio

from aiokv import AsyncClient, LockError

rebuilds = 0


async def build_report() -> dict[str, int]:
    global rebuilds
    rebuilds += 1
    await asyncio.sleep(0.1)  # an expensive computation
    return {"orders": 1234, "revenue_cents": 9_876_500}


async def get_report(kv: AsyncClient) -> dict[str, int]:
    report: dict[str, int] | None = await kv.get_json("report:daily", type=dict[str, int])
    if report is not None:
        return report
    # ttl: how long a crashed holder can block the others; blocking_timeout: how long to wait.
    async with kv.lock("report:daily", ttl=30, blocking_timeout=10):
        # Check again: whoever held the lock before us may have rebuilt it already.
        report = await kv.get_json("report:daily", type=dict[str, int])
        if report is None:
            report = await build_report()
            await kv.set_json("report:daily", report, ttl=3600)
        return report


async def main() -> None:
    async with AsyncClient(key_prefix="example:locks:") as kv:
        reports = await asyncio.gather(*(get_report(kv) for _ in range(5)))
        print(f"5 workers -> {rebuilds} rebuild; report {reports[0]}")

        # Give up instead of waiting when someone else holds the lock.
        async with kv.lock("maintenance", ttl=60):
            try:
                async with kv.lock("maintenance", blocking_timeout=0):
                    pass
            except LockError as exc:
                print("second holder ->", exc)

        # Long work keeps its lock alive with extend().
        async with kv.lock("import", ttl=1) as lock:
            await asyncio.sleep(0.05)
            await lock.extend(5)
            print(f"extended -> {await kv.pttl('lock:import')} ms left")

        await kv.flushdb()


if __name__ == "__main__":
    asyncio.run(main())
