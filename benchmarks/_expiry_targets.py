"""The stores whose mass expiry ``bench_reaper`` measures: aiokv's memory driver and cashews'.

Each target sets keys with a TTL and counts the keys it still holds, expired but not yet
reclaimed included (for aiokv that is ``dbsize()``, as in Redis; for cashews the length of its
store, ``get_keys_count()``).
"""

from __future__ import annotations

import sys
from typing import Any, Protocol


class ExpiryTarget(Protocol):
    name: str

    async def set(self, key: str, value: str, ttl_s: float) -> None: ...

    async def count(self) -> int: ...

    async def bytes_held(self, sample: list[str], held: int) -> int | None: ...

    async def close(self) -> None: ...


class AiokvTarget:
    """aiokv's memory driver; the caller owns the client."""

    name = "aiokv"

    def __init__(self, kv: Any) -> None:
        self.kv = kv

    async def set(self, key: str, value: str, ttl_s: float) -> None:
        await self.kv.set(key, value, ttl=ttl_s)

    async def count(self) -> int:
        return int(await self.kv.dbsize())

    async def bytes_held(self, sample: list[str], held: int) -> int | None:
        return None  # not estimated: the driver's reaper empties it in every run so far

    async def close(self) -> None:
        await self.kv.flushdb()


class CashewsTarget:
    """cashews' ``mem://`` backend, with its default expiry settings.

    Its LRU holds 1,000 entries by default; it is widened to ``n_keys`` so that every key set is
    still there to expire. Its other defaults are kept: expired entries go when read, and a
    background task walks every entry once a second (``check_interval=1``).
    """

    name = "cashews"

    def __init__(self, n_keys: int) -> None:
        from cashews import Cache

        self.cache = Cache()
        self.cache.setup("mem://" if n_keys <= 1000 else f"mem://?size={n_keys}")

    async def set(self, key: str, value: str, ttl_s: float) -> None:
        await self.cache.set(key, value, expire=ttl_s)

    async def count(self) -> int:
        return int(await self.cache.get_keys_count())

    async def bytes_held(self, sample: list[str], held: int) -> int | None:
        """Estimate ``held`` entries from ``sample``: entry size (``get_size``) plus the key."""
        sizes = []
        for key in sample:
            size = int(await self.cache.get_size(key))
            if size:
                sizes.append(size + sys.getsizeof(key))
        return held * sum(sizes) // len(sizes) if sizes else None

    async def close(self) -> None:
        await self.cache.clear()
        await self.cache.close()
