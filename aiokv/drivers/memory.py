"""The in-process driver: a dict-backed command engine with Redis 7 semantics.

Concurrency: every command handler runs to completion without awaiting, so on one event loop
each command is atomic (1,000 concurrent ``incr`` give 1,000) and no lock is taken per call. A
pipeline or transaction runs its handlers one after another in a single step of the loop, which
is what makes MULTI/EXEC atomic here.

The handlers live in ``_memory/<family>.py``, one module per command family like
:mod:`aiokv.commands`; :attr:`MemoryDriver.table` maps each command spec to its handler, and
the client calls that handler directly (no dispatch on the hot path).

Expiry: deadlines live beside the data (``_expires``, monotonic seconds). Every lookup drops an
expired key first (lazy expiry), and a reaper task reclaims keys nobody touches again (active
expiry). Instead of Redis's random sampling, which needs O(1) random access a dict does not give,
keys with a TTL are filed in one-second buckets; the reaper empties the buckets whose second has
passed, a few thousand keys at a time, yielding to the event loop between slices. Bucket upkeep is
O(1) per TTL change, so nothing goes stale and no per-key timer exists.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterator,
    Sequence,
)
from typing import Any

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup

from .._exceptions import DriverUnavailableError
from .._glob import compile_glob
from .._pipeline import WatchSession
from .._script import Script, ScriptArg
from .._settings import KVSettings
from ..commands._base import Command, Table
from ..observability import MemoryStats
from ._eviction import Evictor
from ._memory.blocking import BlockingHandlers
from ._memory.hashes import HashHandlers
from ._memory.hyperloglog import HyperLogLogHandlers
from ._memory.keys import KeyHandlers
from ._memory.pubsub import PubSubHandlers
from ._memory.sets import SetHandlers
from ._memory.store import HANDLERS, Watch
from ._memory.strings import StringHandlers
from ._memory.zsets import ZSetHandlers
from ._memory.zsets_algebra import ZSetAlgebraHandlers

__all__ = ["MemoryDriver"]

# A slice of reaper or keyspace-walk work stops after this long, then yields to the event loop.
_REAP_BUDGET = 0.001
# Keys handled between two clock reads: a few microseconds of work, so a slice overruns its
# budget by little.
_CHECK_CLOCK_EVERY = 16
# Keys a keyspace walk takes from the dict at a time (then it reads the clock).
_WALK_CHUNK = 256


async def _take_turn() -> None:
    """Let every task that is due run before the caller's next slice of work.

    One checkpoint puts the caller behind the callbacks that are ready now, but asyncio moves
    timers that fell due during the slice to the ready queue only at its next iteration, behind
    the caller: the caller's next slice would run first. The second checkpoint, taken in that
    iteration, queues the caller behind those timers.
    """
    await anyio.lowlevel.checkpoint()
    await anyio.lowlevel.checkpoint()


class MemoryDriver(
    StringHandlers,
    KeyHandlers,
    HashHandlers,
    BlockingHandlers,  # the list commands, and the blocking pops on top of them
    SetHandlers,
    HyperLogLogHandlers,
    ZSetHandlers,
    ZSetAlgebraHandlers,
    PubSubHandlers,
):
    """Redis semantics in a dict. See :class:`aiokv._protocol.Driver`."""

    def __init__(self, settings: KVSettings, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock)
        self._interval = settings.memory_reaper_interval
        self._cancel: Callable[[], object] | None = None
        self._evictor = (
            Evictor(self, settings.memory_max_keys, settings.memory_eviction_policy)
            if settings.memory_max_keys is not None
            else None
        )
        self.table: Table = {spec: getattr(self, name) for spec, name in HANDLERS.items()}
        self._handlers: Table = dict(self.table)

    # -- lifetime ----------------------------------------------------------------------------

    def open(self, task_group: TaskGroup | None) -> None:
        if task_group is not None:
            scope = anyio.CancelScope()
            task_group.start_soon(self._run_reaper, scope)
            self._cancel = scope.cancel
            return
        try:
            import asyncio

            task = asyncio.get_running_loop().create_task(self._run_reaper(None))
        except RuntimeError:
            raise DriverUnavailableError(
                "outside asyncio the memory driver's expiry reaper needs a task group: "
                "open the client with `async with AsyncClient() as kv:`"
            ) from None
        self._cancel = task.cancel

    async def aclose(self) -> None:
        self._close_waiting()
        self._close_feeds()
        if self._cancel is not None:
            self._cancel()
            self._cancel = None

    async def _run_reaper(self, scope: anyio.CancelScope | None) -> None:
        if scope is None:
            await self._reap_forever()
            return
        with scope:
            await self._reap_forever()

    async def _reap_forever(self) -> None:
        while True:
            if self.reap(_REAP_BUDGET):
                await _take_turn()
            else:
                await anyio.sleep(self._interval)

    def stats(self) -> MemoryStats:
        """Keys held, and keys expired and evicted since the driver was created."""
        evicted = 0 if self._evictor is None else self._evictor.evicted
        return MemoryStats(len(self._data), self.expired_keys, evicted)

    # -- expiry internals --------------------------------------------------------------------

    def reap(self, budget: float) -> bool:
        """Delete keys whose one-second bucket has passed, for up to ``budget`` seconds.

        Returns True when due work remains (the caller yields, then calls again).
        """
        buckets = self._buckets
        if not buckets:
            self._reaped_until = int(self._clock())
            return False
        data, expires, clock, evictor = self._data, self._expires, self._clock, self._evictor
        start = clock()
        due_before = int(start)
        countdown = _CHECK_CLOCK_EVERY
        second = self._reaped_until
        while second < due_before:
            bucket = buckets.get(second)
            if bucket:
                while bucket:
                    key = bucket.popitem()[0]
                    del expires[key]
                    del data[key]
                    self.expired_keys += 1
                    if evictor is not None:
                        evictor.forget(key)
                    countdown -= 1
                    if not countdown:
                        if clock() - start > budget:
                            self._reaped_until = second
                            return True
                        countdown = _CHECK_CLOCK_EVERY
            buckets.pop(second, None)
            second += 1
            if not buckets:
                second = due_before
        self._reaped_until = second
        return False

    # -- walks over the keyspace -------------------------------------------------------------

    async def _live_matching(self, pattern: str, limit: int) -> AsyncIterator[list[str]]:
        """Walk the keyspace in slices of about ``_REAP_BUDGET``, taking turns in between.

        Yields each slice's live keys that match ``pattern`` (possibly none); a slice also ends
        once it has found ``limit`` keys or more, as the caller's work per key counts too. A key
        present for the whole walk is yielded at least once; a key created or deleted meanwhile
        may or may not be. Expired keys are skipped, not deleted (the reaper reclaims them).
        """
        match = compile_glob(pattern)
        data, expires = self._data, self._expires
        # Copying a million keys at once stalls the loop 4 to 50 ms, so the walk reads the dict
        # itself between turns, last entry first. On CPython an entry's position only ever
        # decreases (a resize compacts the entries and keeps their order; new keys go at the
        # end), so a reverse walk never misses an entry it has not reached yet: at worst it
        # meets a key twice. CPython refuses to go on once the number of keys changed, and a
        # walk must not go on after the table was reallocated with another size (its position
        # could lie past the new table). Then, and only then, it copies the keys left at once.
        walk: Iterator[str] = reversed(data)
        snapshot: list[str] | None = None
        size, table = len(data), sys.getsizeof(data)
        while True:
            if snapshot is None and (len(data) != size or sys.getsizeof(data) != table):
                snapshot = list(data)
            found: list[str] = []
            now = self._clock()
            stop = time.perf_counter() + _REAP_BUDGET
            while True:
                if snapshot is None:
                    chunk = list(itertools.islice(walk, _WALK_CHUNK))
                    finished = len(chunk) < _WALK_CHUNK
                else:
                    chunk = snapshot[-_WALK_CHUNK:]
                    del snapshot[-_WALK_CHUNK:]
                    finished = not snapshot
                for key in chunk:
                    if match(key) and not (expires and expires.get(key, now) < now):
                        found.append(key)
                if finished or len(found) >= limit or time.perf_counter() > stop:
                    break
            size, table = len(data), sys.getsizeof(data)
            yield found
            if finished:
                return
            await _take_turn()

    async def keys(self, pattern: str) -> list[str]:
        found: dict[str, None] = {}  # a key met twice is listed once
        async for batch in self._live_matching(pattern, sys.maxsize):
            found.update(dict.fromkeys(batch))
        return list(found)

    async def scan_iter(self, pattern: str, count: int) -> AsyncIterator[str]:
        # Each batch of about ``count`` keys is handed over, then the walk takes a turn.
        async for batch in self._live_matching(pattern, max(count, 1)):
            for key in batch:
                yield key

    # -- batches and watches -----------------------------------------------------------------

    async def execute_many(
        self, calls: Sequence[tuple[Command, tuple[Any, ...]]], atomic: bool
    ) -> list[Any]:
        # One step of the loop for the whole batch, atomic whether asked or not: no handler
        # suspends, so awaiting them one after another never yields to the loop (and costs
        # less than driving each coroutine by hand).
        table = self.table
        replies: list[Any] = []
        append = replies.append
        self._in_batch = True  # blocking pops answer at once; waiters are served at the end
        try:
            for spec, args in calls:
                try:
                    append(await table[spec](*args))
                except Exception as exc:  # an error reply: the batch goes on, as on a server
                    append(exc)
        finally:
            self._in_batch = False
            if self._ready:
                self._serve_ready()
        return replies

    async def watch(self, keys: Sequence[str]) -> WatchSession:
        """An optimistic transaction's session on ``keys`` (see :class:`MemoryWatch`)."""
        return MemoryWatch(self, self.start_watch(keys))

    def start_watch(self, keys: Sequence[str]) -> Watch:
        """Start watching ``keys``: every write to one of them marks the watch dirty."""
        deadlines = {}
        for key in keys:
            if self._lookup(key) is not None and key in self._expires:
                deadlines[key] = self._expires[key]
        watch = Watch(set(keys), deadlines)
        if not self._watches:
            self._route_writes_through_watches()
        self._watches.add(watch)
        return watch

    def unwatch(self, watch: Watch) -> bool:
        """Stop ``watch``; True if none of its keys changed (nor expired) since it started."""
        if watch not in self._watches:
            return False
        self._watches.discard(watch)
        if not self._watches:
            self.table.update(self._handlers)
        if watch.dirty:
            return False
        now = self._clock()
        return all(now <= deadline for deadline in watch.deadlines.values())

    def _route_writes_through_watches(self) -> None:
        # While anything is watched, every write marks its keys changed. Swapping the table's
        # entries (the client holds this very dict) keeps that cost off the unwatched hot path.
        for spec, handler in self._handlers.items():
            if not spec.readonly:
                self.table[spec] = self._marking(spec, handler)

    def _marking(
        self, spec: Command, handler: Callable[..., Awaitable[Any]]
    ) -> Callable[..., Awaitable[Any]]:
        keys_of = spec.keys

        async def run(*args: Any) -> Any:
            try:
                return await handler(*args)
            finally:
                for key in keys_of(args):
                    self.changed(key)

        return run

    # -- scripts -----------------------------------------------------------------------------

    async def run_script(
        self, script: Script, keys: Sequence[str], args: Sequence[ScriptArg]
    ) -> Any:
        # Atomic without a lock: ``local`` awaits only this driver's handlers, none of which
        # suspends, so no other task (and no cancellation) runs until the step has finished.
        self._in_batch = True  # as in Lua: blocking pops answer at once
        try:
            return await script.local(self, keys, args)
        finally:
            self._in_batch = False
            if self._ready:
                self._serve_ready()
            if self._watches:
                for key in keys:
                    self.changed(key)


class MemoryWatch:
    """WATCH on the memory driver: versions are kept by marking, not counting (see Store)."""

    def __init__(self, driver: MemoryDriver, watch: Watch) -> None:
        self._driver = driver
        self._watch = watch
        self.table = driver.table

    async def exec(self, calls: Sequence[tuple[Command, tuple[Any, ...]]]) -> list[Any] | None:
        # No await between the check and the batch: the two are one step of the loop.
        if not self._driver.unwatch(self._watch):
            return None
        return await self._driver.execute_many(calls, True)

    async def close(self) -> None:
        self._driver.unwatch(self._watch)
