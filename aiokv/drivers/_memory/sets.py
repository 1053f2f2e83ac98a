"""Memory handlers for the set commands (:mod:`aiokv.commands.sets`)."""

from __future__ import annotations

import builtins
import random
from collections.abc import Sequence
from itertools import islice
from typing import Any

from ..._glob import compile_glob
from ...commands import sets as spec
from .hashes import Snapshot
from .store import Store, handles, text

_random = random.Random()
"""Random picks for SPOP/SRANDMEMBER: not the server's picks, with the same guarantees."""


def _pick(members: builtins.set[str], count: int) -> list[str]:
    """``count`` distinct members (fewer than the set's size) at random, in one pass."""
    chosen = sorted(_random.sample(range(len(members)), count))
    picked: list[str] = []
    wanted = iter(chosen)
    target = next(wanted, None)
    for position, member in enumerate(members):
        if position == target:
            picked.append(member)
            target = next(wanted, None)
            if target is None:
                break
    return picked


def _one(members: builtins.set[str]) -> str:
    return next(islice(members, _random.randrange(len(members)), None))


class SetHandlers(Store):
    @handles(spec.SADD)
    async def sadd(self, key: str, members: Sequence[str | bytes]) -> int:
        texts = [text(m) for m in members]
        stored: builtins.set[str] | None = self._typed(key, set)
        if stored is None:
            stored = set()
            self._create(key, stored)
        else:
            self._touch(key)
        before = len(stored)
        stored.update(texts)
        return len(stored) - before

    @handles(spec.SREM)
    async def srem(self, key: str, members: Sequence[str | bytes]) -> int:
        texts = [text(m) for m in members]
        stored: builtins.set[str] | None = self._typed(key, set)
        if stored is None:
            return 0
        before = len(stored)
        stored.difference_update(texts)
        if not stored:
            self._remove(key)
        return before - len(stored)

    @handles(spec.SMEMBERS)
    async def smembers(self, key: str) -> builtins.set[str]:
        stored: builtins.set[str] | None = self._typed(key, set)
        if stored is None:
            return set()
        self._touch(key)
        return set(stored)

    @handles(spec.SISMEMBER)
    async def sismember(self, key: str, member: str | bytes) -> bool:
        name = text(member)
        stored: builtins.set[str] | None = self._typed(key, set)
        if stored is None:
            return False
        self._touch(key)
        return name in stored

    @handles(spec.SCARD)
    async def scard(self, key: str) -> int:
        stored: builtins.set[str] | None = self._typed(key, set)
        return 0 if stored is None else len(stored)

    @handles(spec.SMISMEMBER)
    async def smismember(self, key: str, members: Sequence[str | bytes]) -> list[bool]:
        texts = [text(m) for m in members]
        stored: builtins.set[str] | None = self._typed(key, set)
        if stored is None:
            return [False] * len(texts)
        self._touch(key)
        return [name in stored for name in texts]

    @handles(spec.SPOP)
    async def spop(self, key: str, count: int | None) -> str | builtins.set[str] | None:
        stored: builtins.set[str] | None = self._typed(key, set)
        if stored is None:
            return None if count is None else set()
        popped: str | builtins.set[str]
        if count is None:
            popped = member = _one(stored)
            stored.discard(member)
        elif count >= len(stored):
            popped = set(stored)
            stored.clear()
        else:
            popped = set(_pick(stored, count))
            stored.difference_update(popped)
        if stored:
            self._touch(key)
        else:
            self._remove(key)
        return popped

    @handles(spec.SRANDMEMBER)
    async def srandmember(self, key: str, count: int | None) -> str | list[str] | None:
        stored: builtins.set[str] | None = self._typed(key, set)
        if stored is None:
            return None if count is None else []
        self._touch(key)
        if count is None:
            return _one(stored)
        if count < 0:
            return _random.choices(tuple(stored), k=-count)
        if count >= len(stored):
            return list(stored)
        return _pick(stored, count)

    @handles(spec.SMOVE)
    async def smove(self, source: str, destination: str, member: str | bytes) -> bool:
        name = text(member)
        origin: builtins.set[str] | None = self._typed(source, set)
        if origin is None:
            return False
        target: builtins.set[str] | None = self._typed(destination, set)
        if target is origin:
            return name in origin
        if name not in origin:
            return False
        origin.discard(name)
        if origin:
            self._touch(source)
        else:
            self._remove(source)  # before creating the destination, which may evict keys
        if target is None:
            self._create(destination, {name})
        else:
            target.add(name)
            self._touch(destination)
        return True

    def _sets(self, keys: Sequence[str]) -> list[builtins.set[str] | None]:
        """The sets at ``keys`` (None for a missing key), every key's type checked first."""
        found: list[builtins.set[str] | None] = [self._typed(key, set) for key in keys]
        for key, stored in zip(keys, found, strict=True):
            if stored is not None:
                self._touch(key)
        return found

    @staticmethod
    def _inter(sets: list[builtins.set[str] | None]) -> builtins.set[str]:
        present = _all_present(sets)
        if present is None:
            return set()
        smallest, *others = sorted(present, key=len)
        return smallest.intersection(*others)

    @staticmethod
    def _union(sets: list[builtins.set[str] | None]) -> builtins.set[str]:
        return set().union(*(stored for stored in sets if stored is not None))

    @staticmethod
    def _diff(sets: list[builtins.set[str] | None]) -> builtins.set[str]:
        first, *others = sets
        if first is None:
            return set()
        return first.difference(*(stored for stored in others if stored is not None))

    @handles(spec.SINTER)
    async def sinter(self, keys: Sequence[str]) -> builtins.set[str]:
        return self._inter(self._sets(keys))

    @handles(spec.SUNION)
    async def sunion(self, keys: Sequence[str]) -> builtins.set[str]:
        return self._union(self._sets(keys))

    @handles(spec.SDIFF)
    async def sdiff(self, keys: Sequence[str]) -> builtins.set[str]:
        return self._diff(self._sets(keys))

    def _store_set(self, destination: str, result: builtins.set[str]) -> int:
        """Replace whatever ``destination`` holds (TTL included) by ``result``; an empty result
        deletes it."""
        if self._lookup(destination) is not None:
            self._remove(destination)
        if result:
            self._create(destination, result)
        return len(result)

    @handles(spec.SINTERSTORE)
    async def sinterstore(self, destination: str, keys: Sequence[str]) -> int:
        return self._store_set(destination, self._inter(self._sets(keys)))

    @handles(spec.SUNIONSTORE)
    async def sunionstore(self, destination: str, keys: Sequence[str]) -> int:
        return self._store_set(destination, self._union(self._sets(keys)))

    @handles(spec.SDIFFSTORE)
    async def sdiffstore(self, destination: str, keys: Sequence[str]) -> int:
        return self._store_set(destination, self._diff(self._sets(keys)))

    @handles(spec.SINTERCARD)
    async def sintercard(self, keys: Sequence[str], limit: int) -> int:
        present = _all_present(self._sets(keys))
        if present is None:
            return 0
        smallest, *others = sorted(present, key=len)
        found = 0
        for member in smallest:
            if all(member in other for other in others):
                found += 1
                if found == limit:
                    break
        return found

    @handles(spec.SSCAN)
    async def sscan(self, key: str, cursor: Any, match: str, count: int) -> tuple[Any, list[str]]:
        stored: builtins.set[str] | None = self._typed(key, set)
        if stored is None:
            return 0, []
        self._touch(key)
        snapshot: Snapshot = Snapshot(list(stored)) if cursor == 0 else cursor
        matches = compile_glob(match)
        found = [name for name in snapshot.batch(count) if name in stored and matches(name)]
        return (0 if snapshot.done else snapshot), found


def _all_present(sets: list[builtins.set[str] | None]) -> list[builtins.set[str]] | None:
    """The sets, or None if a key is missing (an empty set, for an intersection)."""
    present = [stored for stored in sets if stored is not None]
    return present if len(present) == len(sets) else None
