"""Memory handlers for the keyspace commands (:mod:`aiokv.commands.keys`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from ...commands import keys as spec
from .store import HUGE_MS, TYPE_NAMES, Store, check_expire_ms, handles


class KeyHandlers(Store):
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

    @handles(spec.PEXPIRE)
    async def pexpire(self, key: str, ms: int) -> bool:
        if not -HUGE_MS <= ms <= HUGE_MS:
            check_expire_ms(ms, "pexpire")
        if self._lookup(key) is None:
            return False
        if ms <= 0:
            self._remove(key)
        else:
            self._set_deadline(key, ms)
        return True

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
