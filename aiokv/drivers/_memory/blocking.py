"""Memory handlers for the blocking pops (:mod:`aiokv.commands.blocking`).

These are the only handlers that may suspend: when every key is empty they wait in the
waiting room (:mod:`.waiting`). In a batch or a script (``_in_batch``) they never do: they
answer None at once, as a server does inside MULTI/EXEC or Lua.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from ...commands import blocking as spec
from .lists import ListHandlers
from .sortedset import SortedSet
from .store import handles
from .waiting import Waiter

__all__ = ["BlockingHandlers"]


class BlockingHandlers(ListHandlers):
    async def _blocking_pop(
        self, keys: Sequence[str], timeout: float, left: bool
    ) -> tuple[str, str] | None:
        for key in keys:
            items: deque[str] | None = self._typed(key, deque)
            if items is not None:
                element = items.popleft() if left else items.pop()
                if not items:
                    self._remove(key)
                else:
                    self._touch(key)
                return (key, element)
        if self._in_batch:
            return None
        return await self._wait(Waiter(keys, left, None, False), timeout)

    @handles(spec.BLPOP)
    async def blpop(self, keys: Sequence[str], timeout: float) -> tuple[str, str] | None:
        return await self._blocking_pop(keys, timeout, left=True)

    @handles(spec.BRPOP)
    async def brpop(self, keys: Sequence[str], timeout: float) -> tuple[str, str] | None:
        return await self._blocking_pop(keys, timeout, left=False)

    @handles(spec.BLMOVE)
    async def blmove(
        self, source: str, destination: str, wherefrom: str, whereto: str, timeout: float
    ) -> str | None:
        if self._typed(source, deque) is not None:
            return await self.lmove(source, destination, wherefrom, whereto)
        if self._in_batch:
            return None
        waiter = Waiter((source,), wherefrom == "LEFT", destination, whereto == "LEFT")
        reply = await self._wait(waiter, timeout)
        return None if reply is None else reply[1]

    async def _blocking_zpop(
        self, keys: Sequence[str], timeout: float, lowest: bool
    ) -> tuple[str, str, float] | None:
        for key in keys:
            zset: SortedSet | None = self._typed(key, SortedSet)
            if zset is not None:
                return self._pop_member(key, zset, lowest)
        if self._in_batch:
            return None
        return await self._wait(Waiter(keys, lowest, None, False, zset=True), timeout)

    @handles(spec.BZPOPMIN)
    async def bzpopmin(self, keys: Sequence[str], timeout: float) -> tuple[str, str, float] | None:
        return await self._blocking_zpop(keys, timeout, lowest=True)

    @handles(spec.BZPOPMAX)
    async def bzpopmax(self, keys: Sequence[str], timeout: float) -> tuple[str, str, float] | None:
        return await self._blocking_zpop(keys, timeout, lowest=False)
