"""Memory handlers for the hash commands (:mod:`aiokv.commands.hashes`).

Arguments are converted to text before the store is touched: a member that cannot be encoded
fails the whole command with nothing changed, as on a server (where the client fails to encode
the command before sending it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ...commands import hashes as spec
from .store import Store, handles, text


class HashHandlers(Store):
    @handles(spec.HSET)
    async def hset(self, key: str, mapping: Mapping[str | bytes, str | bytes]) -> int:
        pairs = [(text(field), text(value)) for field, value in mapping.items()]
        fields: dict[str, str] | None = self._typed(key, dict)
        if fields is None:
            fields = {}
            self._create(key, fields)
        else:
            self._touch(key)
        before = len(fields)
        fields.update(pairs)
        return len(fields) - before

    @handles(spec.HGET)
    async def hget(self, key: str, field: str | bytes) -> str | None:
        name = text(field)
        fields: dict[str, str] | None = self._typed(key, dict)
        if fields is None:
            return None
        self._touch(key)
        return fields.get(name)

    @handles(spec.HGETALL)
    async def hgetall(self, key: str) -> dict[str, str]:
        fields: dict[str, str] | None = self._typed(key, dict)
        if fields is None:
            return {}
        self._touch(key)
        return dict(fields)

    @handles(spec.HDEL)
    async def hdel(self, key: str, fields: Sequence[str | bytes]) -> int:
        names = [text(field) for field in fields]
        stored: dict[str, str] | None = self._typed(key, dict)
        if stored is None:
            return 0
        before = len(stored)
        for name in names:
            stored.pop(name, None)
        if not stored:
            self._remove(key)
        return before - len(stored)
