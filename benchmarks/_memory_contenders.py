"""In-process key-value stores compared by the ``memory`` benchmark.

Every contender writes its own timed loops with the library's own call, exactly as a user would
(``await kv.set(k, v, ttl=300)``), so no adapter layer sits between the loop and the library.
A contender whose import or setup fails is reported as unavailable instead of crashing the run.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from time import monotonic
from typing import Any


class MemoryContender(ABC):
    """One store under test, configured for one variant (``ttl`` is ``None`` or seconds)."""

    name: str = "?"

    def __init__(self, ttl: int | None) -> None:
        self.ttl = ttl
        self._stack = contextlib.AsyncExitStack()

    async def open(self, n_keys: int) -> None:  # noqa: B027 - optional hook
        """Create the store (imports happen here, so a missing library is reported)."""

    async def close(self) -> None:
        await self._stack.aclose()

    @abstractmethod
    async def set_loop(self, keys: Sequence[str], value: str) -> None:
        """``set`` every key, with ``self.ttl`` when it is not None."""

    @abstractmethod
    async def get_loop(self, keys: Sequence[str]) -> None:
        """``get`` every key, discarding the results."""

    @abstractmethod
    async def get_one(self, key: str) -> Any:
        """``get`` one key and return the result (used untimed, to verify the store)."""


# --------------------------------------------------------------------------------------------
# the floor: the least an ``async def`` key-value API over a dict can cost


class _DictStore:
    __slots__ = ("_data",)

    def __init__(self) -> None:
        self._data: dict[str, str] = {}

    async def set(self, key: str, value: str) -> None:
        self._data[key] = value

    async def get(self, key: str) -> str | None:
        return self._data.get(key)


class _TTLDictStore:
    """Stores ``(value, deadline)``; ``get`` honours the deadline (called with ``ttl=`` like
    the libraries, so the floor pays for the same call shape and nothing else)."""

    __slots__ = ("_data",)

    def __init__(self) -> None:
        self._data: dict[str, tuple[str, float]] = {}

    async def set(self, key: str, value: str, ttl: float) -> None:
        self._data[key] = (value, monotonic() + ttl)

    async def get(self, key: str) -> str | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] <= monotonic():
            del self._data[key]
            return None
        return item[0]


class FloorContender(MemoryContender):
    name = "floor"

    async def open(self, n_keys: int) -> None:
        self.plain = _DictStore()
        self.timed = _TTLDictStore()

    async def set_loop(self, keys: Sequence[str], value: str) -> None:
        ttl = self.ttl
        if ttl is None:
            kv = self.plain
            for k in keys:
                await kv.set(k, value)
        else:
            kvt = self.timed
            for k in keys:
                await kvt.set(k, value, ttl=ttl)

    async def get_loop(self, keys: Sequence[str]) -> None:
        if self.ttl is None:
            kv = self.plain
            for k in keys:
                await kv.get(k)
        else:
            kvt = self.timed
            for k in keys:
                await kvt.get(k)

    async def get_one(self, key: str) -> Any:
        return await (self.plain if self.ttl is None else self.timed).get(key)


# --------------------------------------------------------------------------------------------
# aiokv (memory driver, the default)


class AiokvContender(MemoryContender):
    name = "aiokv"

    async def open(self, n_keys: int) -> None:
        from aiokv import AsyncClient

        from ._common import aiokv_settings

        client = AsyncClient(**aiokv_settings(driver="memory"))
        self.kv = await self._stack.enter_async_context(client)

    async def set_loop(self, keys: Sequence[str], value: str) -> None:
        kv = self.kv
        ttl = self.ttl
        if ttl is None:
            for k in keys:
                await kv.set(k, value)
        else:
            for k in keys:
                await kv.set(k, value, ttl=ttl)

    async def get_loop(self, keys: Sequence[str]) -> None:
        kv = self.kv
        for k in keys:
            await kv.get(k)

    async def get_one(self, key: str) -> Any:
        return await self.kv.get(key)


# --------------------------------------------------------------------------------------------
# cashews, mem:// backend


class CashewsContender(MemoryContender):
    name = "cashews"

    async def open(self, n_keys: int) -> None:
        from cashews import Cache

        self.cache = Cache()
        # cashews' memory backend is an LRU of 1,000 entries by default; only widen it when the
        # run uses more keys, so the default configuration is what gets measured.
        self.cache.setup("mem://" if n_keys <= 1000 else f"mem://?size={n_keys}")
        self._stack.push_async_callback(self.cache.close)

    async def set_loop(self, keys: Sequence[str], value: str) -> None:
        cache = self.cache
        ttl = self.ttl
        if ttl is None:
            for k in keys:
                await cache.set(k, value)
        else:
            for k in keys:
                await cache.set(k, value, expire=ttl)

    async def get_loop(self, keys: Sequence[str]) -> None:
        cache = self.cache
        for k in keys:
            await cache.get(k)

    async def get_one(self, key: str) -> Any:
        return await self.cache.get(key)


# --------------------------------------------------------------------------------------------
# aiocache SimpleMemoryCache


class AiocacheContender(MemoryContender):
    name = "aiocache"

    async def open(self, n_keys: int) -> None:
        from aiocache import SimpleMemoryCache

        self.cache = SimpleMemoryCache()
        self._stack.push_async_callback(self.cache.close)

    async def set_loop(self, keys: Sequence[str], value: str) -> None:
        cache = self.cache
        ttl = self.ttl
        if ttl is None:
            for k in keys:
                await cache.set(k, value)
        else:
            for k in keys:
                await cache.set(k, value, ttl=ttl)

    async def get_loop(self, keys: Sequence[str]) -> None:
        cache = self.cache
        for k in keys:
            await cache.get(k)

    async def get_one(self, key: str) -> Any:
        return await self.cache.get(key)


# --------------------------------------------------------------------------------------------
# fakeredis (asyncio flavour)


class FakeredisContender(MemoryContender):
    name = "fakeredis"

    async def open(self, n_keys: int) -> None:
        import fakeredis.aioredis

        self.r = fakeredis.aioredis.FakeRedis(decode_responses=True)
        self._stack.push_async_callback(self.r.aclose)

    async def set_loop(self, keys: Sequence[str], value: str) -> None:
        r = self.r
        ttl = self.ttl
        if ttl is None:
            for k in keys:
                await r.set(k, value)
        else:
            for k in keys:
                await r.set(k, value, ex=ttl)

    async def get_loop(self, keys: Sequence[str]) -> None:
        r = self.r
        for k in keys:
            await r.get(k)

    async def get_one(self, key: str) -> Any:
        return await self.r.get(key)


#: name -> factory(ttl); the order is the order of the printed table.
CONTENDERS: dict[str, Callable[[int | None], MemoryContender]] = {
    "floor": FloorContender,
    "aiokv": AiokvContender,
    "cashews": CashewsContender,
    "aiocache": AiocacheContender,
    "fakeredis": FakeredisContender,
}
