"""Key-count bounds for the memory driver, with Redis's eviction policies.

Redis approximates LRU/LFU by sampling a few keys (``maxmemory-samples``, default 5) and evicting
the best candidate among them; this does the same over an index of keys that allows O(1) random
picks. Nothing here runs unless ``memory_max_keys`` is set, so an unbounded store pays nothing.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from .._exceptions import OutOfMemoryError
from .._settings import EvictionPolicy

if TYPE_CHECKING:
    from .memory import MemoryDriver

__all__ = ["Evictor"]

SAMPLES = 5
# Volatile policies draw from all keys and keep those with a TTL; past this many draws without
# one, the store is treated as holding no volatile keys (Redis then refuses the write too).
_VOLATILE_DRAWS = 64


class Evictor:
    """Keeps a memory driver at or under ``max_keys`` keys."""

    def __init__(self, driver: MemoryDriver, max_keys: int, policy: EvictionPolicy) -> None:
        self._driver = driver
        self._max_keys = max_keys
        self._policy = policy
        self._keys: list[str] = []
        self._slot: dict[str, int] = {}
        self._clock = 0
        self._used: dict[str, int] = {}  # LRU: last access tick; LFU: access count
        self.evicted = 0
        # The source of the key samples; a test may seed or replace it to fix the sample.
        self.rng = random.Random()

    def make_room(self, key: str) -> None:
        """Register ``key`` as about to be created, evicting one key first if the store is full.

        Raises:
            OutOfMemoryError: under ``noeviction``, or if a volatile policy finds no key with a TTL.
        """
        if len(self._keys) >= self._max_keys:
            self._evict_one()
        self._slot[key] = len(self._keys)
        self._keys.append(key)
        self._used[key] = self._tick() if self._policy.endswith("lru") else 1

    def touch(self, key: str) -> None:
        """Record an access to ``key`` (LRU recency, LFU frequency)."""
        if self._policy.endswith("lru"):
            self._used[key] = self._tick()
        elif self._policy.endswith("lfu"):
            self._used[key] = self._used.get(key, 0) + 1

    def forget(self, key: str) -> None:
        """Drop ``key`` from the index after it was deleted or expired."""
        slot = self._slot.pop(key, None)
        if slot is None:
            return
        last = self._keys.pop()
        if slot < len(self._keys):
            self._keys[slot] = last
            self._slot[last] = slot
        self._used.pop(key, None)

    def clear(self) -> None:
        """Forget every key (FLUSHDB)."""
        self._keys.clear()
        self._slot.clear()
        self._used.clear()

    def _tick(self) -> int:
        self._clock += 1
        return self._clock

    def _evict_one(self) -> None:
        if self._policy == "noeviction":
            raise OutOfMemoryError(
                f"OOM memory driver holds memory_max_keys={self._max_keys} keys and the policy "
                "is noeviction: raise KV_MEMORY_MAX_KEYS or set KV_MEMORY_EVICTION_POLICY"
            )
        candidates = self._sample()
        if not candidates:
            raise OutOfMemoryError(
                f"OOM memory driver is full (memory_max_keys={self._max_keys}) and policy "
                f"{self._policy} found no key with a TTL to evict"
            )
        if self._policy.endswith("random"):
            victim = candidates[0]
        elif self._policy == "volatile-ttl":
            expires = self._driver._expires
            victim = min(candidates, key=expires.__getitem__)
        else:
            victim = min(candidates, key=self._used.__getitem__)
        self._driver._remove(victim)
        self.evicted += 1

    def _sample(self) -> list[str]:
        keys, pick = self._keys, self.rng.randrange
        if self._policy.startswith("allkeys"):
            return [keys[pick(len(keys))] for _ in range(SAMPLES)]
        expires = self._driver._expires
        found: list[str] = []
        for _ in range(_VOLATILE_DRAWS):
            key = keys[pick(len(keys))]
            if key in expires:
                found.append(key)
                if len(found) == SAMPLES:
                    break
        return found
