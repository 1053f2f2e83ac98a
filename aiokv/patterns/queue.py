"""A work queue that loses nothing: ``q = kv.queue("emails")``; ``await q.put(...)``;
``job = await q.get()``; ``await job.ack()``.

How it keeps every job:
  * A queue is three keys: ``queue:{name}:pending`` (a list), ``queue:{name}:processing`` (a
    list) and ``queue:{name}:leases`` (a hash: job id -> deadline in ms). The braces keep them
    in one cluster slot.
  * Taking a job moves it from pending to processing in one atomic step (LMOVE in a script that
    also writes its lease, or BLMOVE when the queue is empty), so at every moment a job is in
    one of the two lists: never only in a worker's memory.
  * ``ack`` removes it from processing; ``nack`` puts it back at the front of pending.
  * A job whose lease passed (its worker died, hung, or lost the reply of the BLMOVE that took
    it) goes back to the front of pending: ``get`` runs a reaper step (at most once per
    ``visibility_timeout / 4`` per Queue object, blocking no longer than that in between) over
    the oldest jobs in processing. A job taken by BLMOVE gets its lease from the first reaper
    step that sees it. So a worker always has at least ``visibility_timeout`` to ack a job,
    and a dead worker's job returns after that, plus up to one more visibility timeout (sooner
    while other workers are active: a reaper step runs every ``visibility_timeout / 4``).

Delivery is therefore at least once: a job is retried if its worker is too slow to ack it in
time (call :meth:`Job.extend` during long work), and a worker that acks after its lease passed
may find the job already taken again (``ack`` then still succeeds for whoever acks first, and
returns False to the other). Make job handlers idempotent. ``ack`` and ``nack`` are idempotent
themselves: the second call returns False and changes nothing.

Clock: leases use the server's clock (``TIME``), or the memory driver's, never the workers'.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .._exceptions import InvalidArgumentError
from .._script import Script, ScriptArg
from ..commands._base import text

if TYPE_CHECKING:
    from .._client import AsyncClient
    from ..drivers.memory import MemoryDriver as Driver

__all__ = ["Job", "Queue"]

_ID_LEN = 32  # secrets.token_hex(16)
_REAP_BATCH = 100  # oldest processing jobs a reaper step looks at

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""


def _now_ms(driver: Driver) -> int:
    return int(driver._clock() * 1000)


async def _take_local(
    driver: Driver, keys: Sequence[str], args: Sequence[ScriptArg]
) -> bytes | None:
    job = await driver.lmove(keys[0], keys[1], "RIGHT", "LEFT")
    if job is None:
        return None
    await driver.hset(keys[2], {job[:_ID_LEN]: str(_now_ms(driver) + int(args[0]))})
    return job.encode("utf-8", "surrogateescape")


TAKE = Script(
    lua=_NOW
    + """
local job = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT')
if not job then return false end
redis.call('HSET', KEYS[3], string.sub(job, 1, 32), string.format('%d', now + tonumber(ARGV[1])))
return job
""",
    local=_take_local,
)
"""Move the oldest pending job to processing with a lease of ARGV[1] ms; the job, or nil."""


async def _extend_local(driver: Driver, keys: Sequence[str], args: Sequence[ScriptArg]) -> int:
    job = str(args[0])
    if await driver.lpos(keys[0], job, None, None, None) is None:
        return 0
    await driver.hset(keys[1], {job[:_ID_LEN]: str(_now_ms(driver) + int(args[1]))})
    return 1


EXTEND = Script(
    lua=_NOW
    + """
if not redis.call('LPOS', KEYS[1], ARGV[1]) then return 0 end
local deadline = string.format('%d', now + tonumber(ARGV[2]))
redis.call('HSET', KEYS[2], string.sub(ARGV[1], 1, 32), deadline)
return 1
""",
    local=_extend_local,
)
"""If job ARGV[1] is in processing, set its lease to now + ARGV[2] ms; 1 if so."""


async def _ack_local(driver: Driver, keys: Sequence[str], args: Sequence[ScriptArg]) -> int:
    job = str(args[0])
    removed = await driver.lrem(keys[0], -1, job)
    await driver.hdel(keys[1], [job[:_ID_LEN]])
    return removed


ACK = Script(
    lua="""
local n = redis.call('LREM', KEYS[1], -1, ARGV[1])
redis.call('HDEL', KEYS[2], string.sub(ARGV[1], 1, 32))
return n
""",
    local=_ack_local,
)
"""Remove job ARGV[1] from processing and its lease; 1 if it was there."""


async def _nack_local(driver: Driver, keys: Sequence[str], args: Sequence[ScriptArg]) -> int:
    job = str(args[0])
    removed = await driver.lrem(keys[1], -1, job)
    if removed:
        await driver.rpush(keys[0], [job])
    await driver.hdel(keys[2], [job[:_ID_LEN]])
    return removed


NACK = Script(
    lua="""
local n = redis.call('LREM', KEYS[2], -1, ARGV[1])
if n > 0 then redis.call('RPUSH', KEYS[1], ARGV[1]) end
redis.call('HDEL', KEYS[3], string.sub(ARGV[1], 1, 32))
return n
""",
    local=_nack_local,
)
"""Move job ARGV[1] from processing to the front of pending; 1 if it was in processing."""


async def _reap_local(driver: Driver, keys: Sequence[str], args: Sequence[ScriptArg]) -> int:
    pending, processing, leases = keys
    visibility, limit = int(args[0]), int(args[1])
    now = _now_ms(driver)
    moved = 0
    for job in await driver.lrange(processing, -limit, -1):
        job_id = job[:_ID_LEN]
        deadline = await driver.hget(leases, job_id)
        if deadline is None:
            await driver.hset(leases, {job_id: str(now + visibility)})
        elif int(deadline) <= now:
            await driver.lrem(processing, -1, job)
            await driver.rpush(pending, [job])
            await driver.hdel(leases, [job_id])
            moved += 1
    return moved


REAP = Script(
    lua=_NOW
    + """
local jobs = redis.call('LRANGE', KEYS[2], -tonumber(ARGV[2]), -1)
local moved = 0
for i = 1, #jobs do
    local job = jobs[i]
    local id = string.sub(job, 1, 32)
    local deadline = tonumber(redis.call('HGET', KEYS[3], id))
    if deadline == nil then
        redis.call('HSET', KEYS[3], id, string.format('%d', now + tonumber(ARGV[1])))
    elseif deadline <= now then
        redis.call('LREM', KEYS[2], -1, job)
        redis.call('RPUSH', KEYS[1], job)
        redis.call('HDEL', KEYS[3], id)
        moved = moved + 1
    end
end
return moved
""",
    local=_reap_local,
)
"""Return the expired jobs among the ARGV[2] oldest in processing to the front of pending;
give a lease of ARGV[1] ms to those without one. The number returned."""


class Job:
    """A job taken from a :class:`Queue`: its ``data``, and ``ack``/``nack``/``extend``.

    Attributes:
        id: The job's id (given by :meth:`Queue.put`).
        data: The job's text.
    """

    __slots__ = ("_queue", "_raw", "data", "id")

    def __init__(self, queue: Queue, raw: str) -> None:
        self._queue = queue
        self._raw = raw
        self.id = raw[:_ID_LEN]
        self.data = raw[_ID_LEN:]

    def __repr__(self) -> str:
        return f"<Job {self.id} of {self._queue.name!r}>"

    async def ack(self) -> bool:
        """Mark the job done: it leaves the queue for good.

        Returns:
            True; False if it was already acked or nacked, or its lease passed and another
            worker took it and acked it first.
        """
        q = self._queue
        return bool(await q._kv.run_script(ACK, (q._processing, q._leases), (self._raw,)))

    async def nack(self) -> bool:
        """Give the job back: it goes to the front of the queue, to be taken again.

        Returns:
            True; False if it was no longer being processed (acked, nacked, or reaped).
        """
        q = self._queue
        keys = (q._pending, q._processing, q._leases)
        return bool(await q._kv.run_script(NACK, keys, (self._raw,)))

    async def extend(self) -> bool:
        """Renew the lease: the worker has ``visibility_timeout`` seconds again from now.

        Returns:
            True; False if the job is no longer being processed (acked, nacked, or reaped).
        """
        q = self._queue
        keys = (q._processing, q._leases)
        return bool(await q._kv.run_script(EXTEND, keys, (self._raw, q._visibility_ms)))


class Queue:
    """A FIFO work queue with acknowledgements; get one from :meth:`AsyncClient.queue`.

    See the module docstring for the guarantees (at least once) and how they are kept.
    """

    def __init__(self, kv: AsyncClient, name: str, *, visibility_timeout: float = 30.0) -> None:
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError(f"a queue name is a non-empty str, not {name!r}")
        if not visibility_timeout > 0.001:
            raise InvalidArgumentError(
                f"visibility_timeout must be more than 1 ms, not {visibility_timeout!r}"
            )
        self._kv = kv
        self.name = name
        self._pending = f"queue:{{{name}}}:pending"
        self._processing = f"queue:{{{name}}}:processing"
        self._leases = f"queue:{{{name}}}:leases"
        self._visibility_ms = int(visibility_timeout * 1000)
        # How long a get() blocks between two reaper steps, and the least time between them.
        self._slice = min(max(visibility_timeout / 4, 0.05), 5.0)
        self._next_reap = 0.0
        # Whether to try the one-round-trip TAKE script first. After it found the queue empty,
        # get() goes straight to BLMOVE (which answers at once when a job is there) and leases
        # the job after: two round trips instead of three while workers outpace producers.
        self._backlog = True

    def __repr__(self) -> str:
        return f"<Queue {self.name!r}>"

    async def put(self, value: str | bytes) -> str:
        """Add a job at the back of the queue; return its id."""
        data = value if isinstance(value, str) else text(value)
        job_id = secrets.token_hex(_ID_LEN // 2)
        await self._kv.lpush(self._pending, job_id + data)
        return job_id

    async def get(self, timeout: float | None = None) -> Job | None:
        """Take the oldest job, waiting for one up to ``timeout`` seconds.

        The job moves to the processing list; ack or nack it within the visibility timeout.

        Args:
            timeout: Seconds to wait; None waits as long as it takes, 0 does not wait.

        Returns:
            The job, or None if none came in time.

        Raises:
            InvalidArgumentError: for a negative timeout.
        """
        if timeout is not None and not timeout >= 0:
            raise InvalidArgumentError(f"timeout must be None or >= 0, not {timeout!r}")
        deadline = None if timeout is None else time.monotonic() + timeout
        kv = self._kv
        keys = (self._pending, self._processing, self._leases)
        while True:
            now = time.monotonic()
            if now >= self._next_reap:
                self._next_reap = now + self._slice
                await kv.run_script(REAP, keys, (self._visibility_ms, _REAP_BATCH))
                self._backlog = True  # probe with the script again once per slice
            if self._backlog or (deadline is not None and deadline <= now):
                raw = await kv.run_script(TAKE, keys, (self._visibility_ms,))
                if raw is not None:
                    return Job(self, text(raw))
                self._backlog = False
            wait = self._slice
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    return None
            # Blocks on its own connection. The job it moves has no lease yet: the next reaper
            # step (any worker's, within about a slice) gives it one, so it is never retried
            # before visibility_timeout and a lost reply (a cancellation, a dropped connection)
            # loses nothing. Not writing the lease here saves a round trip per job.
            moved = await kv.blmove(self._pending, self._processing, "RIGHT", "LEFT", wait)
            if moved is not None:
                return Job(self, moved)

    async def size(self) -> int:
        """Jobs waiting to be taken."""
        return await self._kv.llen(self._pending)

    async def in_progress(self) -> int:
        """Jobs taken and not yet acked, nacked or returned."""
        return await self._kv.llen(self._processing)

    async def clear(self) -> None:
        """Delete the queue: every waiting and in-progress job, and the leases."""
        await self._kv.delete(self._pending, self._processing, self._leases)
