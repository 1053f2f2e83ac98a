"""A delayed-job scheduler: jobs wait in a sorted set scored by their due time, and a mover
hands the due ones to a work queue (``kv.queue``), where workers take and ack them.

Why nothing is lost or run early:
  * ``schedule`` adds the job to the sorted set ``queue:{name}:delayed`` with its due time (Unix
    seconds) as the score. The member is the job as the queue stores it: a fresh 32-character
    id, then the data, so two jobs with the same data stay two jobs.
  * ``move_due`` runs one script (Lua on a server, the same step in Python on the memory
    driver) that takes the due members out of the sorted set and pushes them onto the queue's
    pending list. It is atomic: at every moment a job is in the schedule or in the queue, never
    in both and never in neither, whoever crashes when. Several movers may run at once: a job
    is moved by exactly one of them.
  * From the queue on, delivery is at least once, with acks and a visibility timeout (see
    worker_pool.py): a worker that dies mid-job loses nothing.

Due times are read on the mover's clock (``time.time()``), so movers on several machines need
synchronised clocks; a job runs no earlier than its due time, and later by at most the mover's
polling interval plus the queue's wait.

The alternative, popping the earliest job with ``zpopmin``/``bzpopmin`` and checking its score,
is simpler but at most once: a worker that dies after the pop has lost the job, and a job
popped too early must be added back (another step, not atomic with the pop).

The keys share the hash tag ``{name}``, so the script also runs on Redis Cluster.

Run it with::

    python examples/scheduler.py
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from aiokv import AsyncClient, Script

if TYPE_CHECKING:
    from aiokv._script import ScriptArg
    from aiokv.drivers.memory import MemoryDriver


async def _move_local(driver: MemoryDriver, keys: Sequence[str], args: Sequence[ScriptArg]) -> int:
    now, limit = float(args[0]), int(args[1])
    due = await driver.zrangebyscore(
        keys[0], (-math.inf, False), (now, False), False, 0, limit, False
    )
    for job in due:
        await driver.zrem(keys[0], [job])
        await driver.lpush(keys[1], [job])
    return len(due)


MOVE_DUE = Script(
    lua="""
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, job in ipairs(due) do
    redis.call('ZREM', KEYS[1], job)
    redis.call('LPUSH', KEYS[2], job)
end
return #due
""",
    local=_move_local,
)
"""Move up to ARGV[2] jobs due by ARGV[1] (earliest first) from KEYS[1] to the queue KEYS[2]."""


class Scheduler:
    """Jobs due later, for the queue ``name`` (``kv.queue(name)`` takes them when due)."""

    def __init__(self, kv: AsyncClient, name: str) -> None:
        self.kv = kv
        self.queue = kv.queue(name, visibility_timeout=5)
        self.delayed = f"queue:{{{name}}}:delayed"
        self.pending = f"queue:{{{name}}}:pending"  # the queue's own list (see aiokv.Queue)

    async def schedule(self, data: str, at: float) -> str:
        """Run ``data`` at the Unix time ``at`` (seconds); return the job's id."""
        job_id = secrets.token_hex(16)
        await self.kv.zadd(self.delayed, {job_id + data: at})
        return job_id

    async def move_due(self, limit: int = 100) -> int:
        """Hand the jobs due by now to the queue (at most ``limit``); return how many."""
        args = (repr(time.time()), limit)
        return int(await self.kv.run_script(MOVE_DUE, (self.delayed, self.pending), args))

    async def waiting(self) -> int:
        return await self.kv.zcard(self.delayed)

    async def run_mover(self, poll: float = 0.02) -> None:
        """Move due jobs until the schedule is empty (a real mover would run for ever)."""
        while True:
            moved = await self.move_due()
            if moved:
                print(f"mover: {moved} job(s) due, moved to the queue")
            elif not await self.waiting():
                return
            # Sleep until the next due time, but no longer than the polling interval (a job
            # scheduled meanwhile may be due sooner).
            nxt = await self.kv.zrange(self.delayed, 0, 0, withscores=True)
            await asyncio.sleep(min(poll, max(0.0, nxt[0][1] - time.time())) if nxt else 0)


async def main() -> None:
    async with AsyncClient(key_prefix="example:scheduler:") as kv:
        scheduler = Scheduler(kv, "reminders")
        start = time.time()
        plan = [("send invoice", 0.15), ("remind bob", 0.05), ("remind ann", 0.05), ("log", 0.1)]
        due = {}
        for data, delay in plan:
            due[await scheduler.schedule(data, start + delay)] = start + delay
        print("scheduled:", await scheduler.waiting(), "queued:", await scheduler.queue.size())

        done: list[str] = []

        async def worker() -> None:
            while len(done) < len(plan):
                job = await scheduler.queue.get(timeout=0.05)
                if job is None:
                    continue
                assert time.time() >= due[job.id], f"{job.data} ran before its due time"
                done.append(job.data)
                await job.ack()

        await asyncio.gather(scheduler.run_mover(), worker())
        print("ran in due order:", done)
        assert done[2:] == ["log", "send invoice"]
        assert sorted(done[:2]) == ["remind ann", "remind bob"]  # due together: either first
        print("left: scheduled", await scheduler.waiting(), "queued", await scheduler.queue.size())
        await scheduler.queue.clear()


if __name__ == "__main__":
    asyncio.run(main())
