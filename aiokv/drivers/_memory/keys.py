"""Memory handlers for the keyspace commands (:mod:`aiokv.commands.keys`).

Absolute expire times (EXPIREAT, PEXPIREAT, EXPIRETIME) are Unix times; deadlines are kept on
the store's monotonic clock, so a Unix time is converted with the wall clock at the command
(a later change of the wall clock does not move a deadline already set). Deadlines are float
seconds: an expire time is exact to the millisecond up to about the year 70,000 (2**51 ms);
beyond it, as for PEXPIREAT 2**63-1, PEXPIRETIME and GT/LT comparisons are off by about a
second (float rounding) where a server is exact.

SCAN: a dict offers no stable position to resume from (deleting a key shifts every later key),
so a walk started at cursor 0 takes a snapshot of the key names (one C-speed copy, as
``scan_iter`` does) and the cursor is ``walk id * 2**32 + position`` in it. Each step then
costs O(count); every key present for the whole walk is in the snapshot, so it is returned
exactly once; keys added meanwhile are not returned and removed ones are skipped (both allowed
by SCAN's guarantee). The 64 most recent unfinished walks are kept; a finished walk is dropped.
"""

from __future__ import annotations

import copy as copy_module
import math
import random
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from ..._codec import INT64_MAX
from ..._exceptions import InvalidArgumentError, NoSuchKeyError
from ..._glob import compile_glob
from ...commands import keys as spec
from .store import HUGE_MS, TYPE_NAMES, check_expire_ms, handles
from .strings import expire_in, set_deadline_at, wall_ms
from .waiting import WaitingRoom

_KEPT_WALKS = 64
_POSITIONS = 2**32
_MAX_WALK_ID = 2**31


class KeyHandlers(WaitingRoom):
    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__(clock)
        self._walks: dict[int, list[str]] = {}  # SCAN snapshots, least recently used first
        self._walk_id = 0

    @handles(spec.DEL)
    async def delete(self, keys: Sequence[str]) -> int:
        removed = 0
        for key in set(keys):
            if self._lookup(key) is not None:
                self._remove(key)
                removed += 1
        return removed

    @handles(spec.EXISTS)
    async def exists(self, keys: Sequence[str]) -> int:
        return sum(1 for key in keys if self._lookup(key) is not None)

    @handles(spec.UNLINK)
    async def unlink(self, keys: Sequence[str]) -> int:
        return await self.delete(keys)

    @handles(spec.TOUCH)
    async def touch(self, keys: Sequence[str]) -> int:
        found = 0
        for key in keys:
            if self._lookup(key) is not None:
                self._touch(key)
                found += 1
        return found

    # -- moving and copying --------------------------------------------------------------------

    @handles(spec.RENAME)
    async def rename(self, src: str, dst: str) -> None:
        self._rename(src, dst, False)

    @handles(spec.RENAMENX)
    async def renamenx(self, src: str, dst: str) -> bool:
        return self._rename(src, dst, True)

    def _rename(self, src: str, dst: str, nx: bool) -> bool:
        value = self._lookup(src)
        if value is None:
            raise NoSuchKeyError()
        if src == dst:
            return not nx
        if self._lookup(dst) is not None:
            if nx:
                return False
            self._remove(dst)
        deadline = self._expires.get(src)
        self._remove(src)
        self._create(dst, value)  # one key fewer than before: no eviction
        if deadline is not None:
            set_deadline_at(self, dst, deadline)
        return self._pushed(dst, True)  # a list or sorted set serves the waiters on dst

    @handles(spec.COPY)
    async def copy(self, src: str, dst: str, replace: bool) -> bool:
        if src == dst:
            raise InvalidArgumentError("ERR source and destination objects are the same")
        value = self._lookup(src)
        if value is None:
            return False
        if self._lookup(dst) is not None:
            if not replace:
                return False
            self._remove(dst)
        deadline = self._expires.get(src)
        self._create(dst, _clone(value))
        if deadline is not None:
            set_deadline_at(self, dst, deadline)
        return self._pushed(dst, True)  # a list or sorted set serves the waiters on dst

    # -- expiry --------------------------------------------------------------------------------

    @handles(spec.PEXPIRE)
    async def pexpire(self, key: str, ms: int, flags: tuple[str, ...] = ()) -> bool:
        if not -HUGE_MS <= ms <= HUGE_MS:
            check_expire_ms(ms, "pexpire")
        if self._lookup(key) is None:
            return False
        if flags:
            now = wall_ms()
            if not self._expire_allowed(key, now + ms, flags, now):
                return False
        if ms <= 0:
            self._remove(key)
        else:
            self._set_deadline(key, ms)
        return True

    @handles(spec.EXPIREAT)
    async def expireat(self, key: str, seconds: int, flags: tuple[str, ...]) -> bool:
        if not -(INT64_MAX // 1000) <= seconds <= INT64_MAX // 1000:
            raise InvalidArgumentError("ERR invalid expire time in 'expireat' command")
        return self._expire_at(key, seconds * 1000, flags)

    @handles(spec.PEXPIREAT)
    async def pexpireat(self, key: str, ms: int, flags: tuple[str, ...]) -> bool:
        return self._expire_at(key, ms, flags)

    def _expire_at(self, key: str, when: int, flags: tuple[str, ...]) -> bool:
        if self._lookup(key) is None:
            return False
        now = wall_ms()
        if flags and not self._expire_allowed(key, when, flags, now):
            return False
        if when <= now:
            self._remove(key)
        else:
            expire_in(self, key, when - now)
        return True

    def _expire_allowed(self, key: str, when: float, flags: tuple[str, ...], now: float) -> bool:
        """EXPIRE's NX/XX/GT/LT conditions, on Unix times in whole ms as Redis compares them.

        A key without a TTL counts as never expiring: GT never applies to it, LT always does.
        """
        deadline = self._expires.get(key)
        current = None if deadline is None else round(now + (deadline - self._clock()) * 1000)
        target = round(when)
        for flag in flags:
            if flag == "NX" and current is not None:
                return False
            if flag == "XX" and current is None:
                return False
            if flag == "GT" and (current is None or target <= current):
                return False
            if flag == "LT" and current is not None and target >= current:
                return False
        return True

    @handles(spec.PEXPIRETIME)
    async def pexpiretime(self, key: str) -> int:
        if self._lookup(key) is None:
            return -2
        deadline = self._expires.get(key)
        if deadline is None:
            return -1
        return round(wall_ms() + (deadline - self._clock()) * 1000)

    @handles(spec.EXPIRETIME)
    async def expiretime(self, key: str) -> int:
        ms = await self.pexpiretime(key)
        return ms if ms < 0 else (ms + 500) // 1000

    @handles(spec.PERSIST)
    async def persist(self, key: str) -> bool:
        if self._lookup(key) is None:
            return False
        return self._clear_deadline(key)

    @handles(spec.PTTL)
    async def pttl(self, key: str) -> int:
        if self._lookup(key) is None:
            return -2
        deadline = self._expires.get(key)
        if deadline is None:
            return -1
        # Deadlines are floats; the epsilon keeps 1.5 s from reading as 1501 ms.
        return max(0, math.ceil((deadline - self._clock()) * 1000 - 1e-6))

    @handles(spec.TTL_)
    async def ttl(self, key: str) -> int:
        ms = await self.pttl(key)
        return ms if ms < 0 else (ms + 500) // 1000

    @handles(spec.TYPE)
    async def type(self, key: str) -> str:
        value = self._lookup(key)
        return "none" if value is None else TYPE_NAMES[type(value)]

    @handles(spec.DBSIZE)
    async def dbsize(self) -> int:
        return len(self._data)

    @handles(spec.FLUSHDB)
    async def flushdb(self) -> None:
        self._data.clear()
        self._expires.clear()
        self._buckets.clear()
        if self._evictor is not None:
            self._evictor.clear()
        if self._watches:
            self.changed_all()

    @handles(spec.PING)
    async def ping(self) -> bool:
        return True

    # -- RANDOMKEY, SCAN -----------------------------------------------------------------------

    @handles(spec.RANDOMKEY)
    async def randomkey(self) -> str | None:
        keys = list(self._data)  # O(n): a dict has no random access
        while keys:
            i = random.randrange(len(keys))
            key = keys[i]
            if self._lookup(key) is not None:
                return key
            keys[i] = keys[-1]  # expired (and now dropped): draw among the others
            keys.pop()
        return None

    @handles(spec.SCAN)
    async def scan(
        self, cursor: int, match: str | None, count: int | None, type_: str | None
    ) -> tuple[int, list[str]]:
        walks = self._walks
        if cursor == 0:
            snapshot = list(self._data)
            walk = self._walk_id = self._walk_id % _MAX_WALK_ID + 1
            start = 0
        else:
            walk, start = divmod(cursor, _POSITIONS)
            found_walk = walks.pop(walk, None)
            if found_walk is None or start > len(found_walk):
                raise InvalidArgumentError(
                    f"scan cursor {cursor} is unknown to the memory driver (a finished walk, "
                    f"or one of more than {_KEPT_WALKS} walks ago): start again from cursor 0"
                )
            snapshot = found_walk
        stop = start + (10 if count is None else count)
        matches = None if match is None else compile_glob(match)
        wanted = None if type_ is None else type_.lower()
        found = []
        for key in snapshot[start:stop]:
            if matches is not None and not matches(key):
                continue
            value = self._lookup(key)
            if value is None:
                continue
            if wanted is not None and TYPE_NAMES.get(type(value)) != wanted:
                continue
            found.append(key)
        if stop >= len(snapshot):
            return 0, found
        walks[walk] = snapshot  # (re)inserted last: the most recently used
        if len(walks) > _KEPT_WALKS:
            del walks[next(iter(walks))]
        return walk * _POSITIONS + stop, found


def _clone(value: Any) -> Any:
    """A copy of a value that shares nothing mutable with it (COPY)."""
    kind = type(value)
    if kind is str or kind is bytes:
        return value
    if kind is dict or kind is deque or kind is set:
        return kind(value)  # members are immutable str
    return copy_module.deepcopy(value)
