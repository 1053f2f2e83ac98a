"""Memory handlers for the set commands (:mod:`aiokv.commands.sets`)."""

from __future__ import annotations

import builtins
from collections.abc import Sequence

from ...commands import sets as spec
from .store import Store, handles, text


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
