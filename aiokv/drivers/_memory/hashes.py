"""Memory handlers for the hash commands (:mod:`aiokv.commands.hashes`).

Arguments are converted to text before the store is touched: a member that cannot be encoded
fails the whole command with nothing changed, as on a server (where the client fails to encode
the command before sending it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

from ..._codec import add_checked, parse_int
from ..._exceptions import CommandError, InvalidArgumentError, NotAnIntegerError
from ..._glob import compile_glob
from ...commands import hashes as spec
from . import longdouble
from .store import Store, handles, text


class Snapshot:
    """The memory driver's scan cursor: the names a scan started with, and how far it got.

    Names are taken when the scan starts, so every field (or member) present throughout is
    returned exactly once; ones added meanwhile are not, ones removed meanwhile are skipped.
    The iterator holding the cursor owns it: nothing is left behind when a scan is abandoned.
    """

    __slots__ = ("names", "position")

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.position = 0

    def batch(self, count: int) -> list[str]:
        start = self.position
        self.position = start + count
        return self.names[start : self.position]

    @property
    def done(self) -> bool:
        return self.position >= len(self.names)


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

    @handles(spec.HMGET)
    async def hmget(self, key: str, fields: Sequence[str | bytes]) -> list[str | None]:
        names = [text(field) for field in fields]
        stored: dict[str, str] | None = self._typed(key, dict)
        if stored is None:
            return [None] * len(names)
        self._touch(key)
        return [stored.get(name) for name in names]

    def _hash_for_write(self, key: str) -> dict[str, str] | None:
        stored: dict[str, str] | None = self._typed(key, dict)
        if stored is not None:
            self._touch(key)
        return stored

    def _store_field(self, key: str, stored: dict[str, str] | None, name: str, value: str) -> None:
        if stored is None:
            self._create(key, {name: value})
        else:
            stored[name] = value

    @handles(spec.HINCRBY)
    async def hincrby(self, key: str, field: str | bytes, amount: int) -> int:
        name = text(field)
        stored = self._hash_for_write(key)
        current = None if stored is None else stored.get(name)
        if current is None:
            result = amount
        else:
            try:
                number = parse_int(current)
            except NotAnIntegerError:
                raise NotAnIntegerError("ERR hash value is not an integer") from None
            result = add_checked(number, amount)
        self._store_field(key, stored, name, str(result))
        return result

    @handles(spec.HINCRBYFLOAT)
    async def hincrbyfloat(self, key: str, field: str | bytes, amount: str) -> float:
        name = text(field)
        increment = longdouble.parse(amount)
        if increment is None:
            raise InvalidArgumentError("ERR value is not a valid float")
        if isinstance(increment, float):
            raise CommandError("ERR value is NaN or Infinity")
        stored = self._hash_for_write(key)
        current = None if stored is None else stored.get(name)
        value: longdouble.LongDouble = Fraction(0)
        if current is not None:
            parsed = longdouble.parse(current)
            if parsed is None:
                raise CommandError("ERR hash value is not a float")
            value = parsed
        total = longdouble.add(value, increment)
        if isinstance(total, float):
            raise CommandError("ERR increment would produce NaN or Infinity")
        written = longdouble.human(total)
        self._store_field(key, stored, name, written)
        return float(written)

    @handles(spec.HLEN)
    async def hlen(self, key: str) -> int:
        stored: dict[str, str] | None = self._typed(key, dict)
        return 0 if stored is None else len(stored)

    @handles(spec.HEXISTS)
    async def hexists(self, key: str, field: str | bytes) -> bool:
        name = text(field)
        stored: dict[str, str] | None = self._typed(key, dict)
        if stored is None:
            return False
        self._touch(key)
        return name in stored

    @handles(spec.HSETNX)
    async def hsetnx(self, key: str, field: str | bytes, value: str | bytes) -> bool:
        name, item = text(field), text(value)
        stored = self._hash_for_write(key)
        if stored is not None and name in stored:
            return False
        self._store_field(key, stored, name, item)
        return True

    @handles(spec.HKEYS)
    async def hkeys(self, key: str) -> list[str]:
        stored: dict[str, str] | None = self._typed(key, dict)
        if stored is None:
            return []
        self._touch(key)
        return list(stored)

    @handles(spec.HVALS)
    async def hvals(self, key: str) -> list[str]:
        stored: dict[str, str] | None = self._typed(key, dict)
        if stored is None:
            return []
        self._touch(key)
        return list(stored.values())

    @handles(spec.HSTRLEN)
    async def hstrlen(self, key: str, field: str | bytes) -> int:
        name = text(field)
        stored: dict[str, str] | None = self._typed(key, dict)
        if stored is None:
            return 0
        self._touch(key)
        value = stored.get(name)
        return 0 if value is None else len(value.encode("utf-8", "surrogateescape"))

    @handles(spec.HSCAN)
    async def hscan(
        self, key: str, cursor: Any, match: str, count: int
    ) -> tuple[Any, list[tuple[str, str]]]:
        stored: dict[str, str] | None = self._typed(key, dict)
        if stored is None:
            return 0, []
        self._touch(key)
        snapshot: Snapshot = Snapshot(list(stored)) if cursor == 0 else cursor
        matches = compile_glob(match)
        pairs = []
        for name in snapshot.batch(count):
            value = stored.get(name)
            if value is not None and matches(name):
                pairs.append((name, value))
        return (0 if snapshot.done else snapshot), pairs
