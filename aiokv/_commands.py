"""Commands: the Redis-named methods of AsyncClient, each a thin step onto the driver.

Command methods are plain functions returning the driver's coroutine rather than ``async def``
wrappers: awaiting ``kv.get(k)`` then runs one coroutine, not two, which is the difference between
~0.45x and ~0.55x of an ``async def`` over a bare dict on the memory driver (and what keeps SET
with a TTL above 0.4x). They are awaited exactly like coroutine methods (and marked as coroutine
functions, so mocks and introspection treat them so); argument errors (``TypeError``,
``InvalidArgumentError``) are raised when the method is called rather than when it is awaited.
"""

from __future__ import annotations

import asyncio
import builtins
import enum
import inspect
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Final, TypeVar, overload

from ._codec import (
    INT64_MIN,
    TTL,
    Value,
    check_amount,
    encode_value,
    positive_ttl_ms,
    ttl_to_ms,
)
from ._exceptions import IntegerOverflowError, InvalidArgumentError
from ._protocol import Driver

__all__ = ["DEFAULT", "Commands"]


class _Default(enum.Enum):
    DEFAULT = "DEFAULT"

    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Final = _Default.DEFAULT
"""Marks an omitted ``ttl``: the client's ``default_ttl`` applies (``ttl=None`` means no expiry)."""

_Method = TypeVar("_Method", bound=Callable[..., Any])


def _command(method: _Method) -> _Method:
    """Mark a command method as a coroutine function for introspection.

    Command methods return the driver's coroutine instead of wrapping it (see the module
    docstring); the mark makes ``inspect.iscoroutinefunction`` and so ``unittest.mock``'s autospec
    and ``AsyncMock(spec=AsyncClient)`` treat them as the coroutine methods they behave as.
    """
    if sys.version_info >= (3, 12):
        return inspect.markcoroutinefunction(method)
    method._is_coroutine = asyncio.coroutines._is_coroutine  # type: ignore[attr-defined]
    return method


async def _constant(value: int) -> int:
    return value


class Commands:
    """The Redis commands, for :class:`~aiokv.AsyncClient` (which owns the driver's lifetime)."""

    _driver: Driver
    _prefix: str
    _glob_prefix: str
    _default_px: int | None

    # -- strings -----------------------------------------------------------------------------

    @_command
    def set(
        self,
        key: str,
        value: Value,
        ttl: TTL | _Default | None = DEFAULT,
        *,
        nx: bool = False,
        xx: bool = False,
    ) -> Awaitable[bool]:
        """Store ``value`` at ``key``, replacing any value of any type.

        Args:
            key: The key.
            value: str, bytes, int or float (numbers are stored as their decimal text).
            ttl: Seconds or a timedelta; ``None`` for no expiry; omitted: ``default_ttl``.
                Without a TTL any previous TTL is cleared, as Redis's SET does.
            nx: Only write if the key does not exist.
            xx: Only write if the key exists.

        Returns:
            True if written, False if ``nx``/``xx`` prevented it.

        Raises:
            TypeError: for other value types (use ``set_json``).
            InvalidArgumentError: for a TTL <= 0, or both ``nx`` and ``xx``.
        """
        if type(value) is not str:
            value = encode_value(value)
        if ttl is DEFAULT:
            px = self._default_px
        elif ttl is None:
            px = None
        elif type(ttl) is int and ttl > 0:
            px = ttl * 1000
        else:
            px = positive_ttl_ms(ttl, "set")
        if nx and xx:
            raise InvalidArgumentError("nx and xx cannot both be set")
        return self._driver.set(self._prefix + key, value, px, nx, xx)

    async def setex(self, key: str, value: Value, ttl: TTL) -> None:
        """Store ``value`` with a TTL (SETEX).

        Raises:
            InvalidArgumentError: if ``ttl`` <= 0; nothing is written.
            TypeError: for value types other than str, bytes, int and float.
        """
        px = positive_ttl_ms(ttl, "setex")
        await self._driver.set(self._prefix + key, encode_value(value), px, False, False)

    @_command
    def get(self, key: str) -> Awaitable[str | None]:
        """Return the text at ``key``, or None on a miss.

        Raises:
            WrongTypeError: if the key holds a hash, list or set.
            ValueDecodeError: if the value is not UTF-8 (use ``get_bytes``).
        """
        return self._driver.get(self._prefix + key)

    @_command
    def get_bytes(self, key: str) -> Awaitable[bytes | None]:
        """Return the bytes at ``key``, or None on a miss.

        Raises:
            WrongTypeError: if the key holds a hash, list or set.
        """
        return self._driver.get_bytes(self._prefix + key)

    # -- keyspace ----------------------------------------------------------------------------

    @_command
    def delete(self, *keys: str) -> Awaitable[int]:
        """Delete keys of any type; return how many existed (each distinct key counted once)."""
        if not keys:
            return _constant(0)
        prefix = self._prefix
        return self._driver.delete([prefix + k for k in keys])

    @_command
    def exists(self, *keys: str) -> Awaitable[int]:
        """Return how many of ``keys`` exist, duplicates counted (so truthy for one key)."""
        if not keys:
            return _constant(0)
        prefix = self._prefix
        return self._driver.exists([prefix + k for k in keys])

    @_command
    def expire(self, key: str, ttl: TTL) -> Awaitable[bool]:
        """Set a TTL on an existing key; a TTL <= 0 deletes it.

        Returns:
            True if the key exists (and was updated or deleted), False on a miss.
        """
        return self._driver.pexpire(self._prefix + key, ttl_to_ms(ttl))

    @_command
    def persist(self, key: str) -> Awaitable[bool]:
        """Remove the TTL of ``key``; True only if there was one to remove."""
        return self._driver.persist(self._prefix + key)

    @_command
    def ttl(self, key: str) -> Awaitable[int]:
        """Seconds left (rounded half up); -1 if the key has no TTL; -2 if it does not exist."""
        return self._driver.ttl(self._prefix + key)

    @_command
    def pttl(self, key: str) -> Awaitable[int]:
        """Milliseconds left; -1 if the key has no TTL; -2 if it does not exist."""
        return self._driver.pttl(self._prefix + key)

    @_command
    def type(self, key: str) -> Awaitable[str]:
        """Return 'string', 'hash', 'list' or 'set', or 'none' for a missing key."""
        return self._driver.type(self._prefix + key)

    async def keys(self, pattern: str = "*") -> list[str]:
        """Return every key matching a Redis glob ``pattern`` (through SCAN on a server).

        The key prefix, if any, is applied to the pattern and stripped from the result. Prefer
        :meth:`scan_iter` for large keyspaces.
        """
        found = await self._driver.keys(self._glob_prefix + pattern)
        cut = len(self._prefix)
        return [key[cut:] for key in found] if cut else found

    async def scan_iter(self, pattern: str = "*", *, count: int = 1000) -> AsyncIterator[str]:
        """Iterate keys matching ``pattern`` without blocking the server.

        A key present for the whole iteration is yielded at least once; it may be yielded twice
        on a server (deduplicate if that matters). ``count`` is a batch-size hint.
        """
        cut = len(self._prefix)
        async for key in self._driver.scan_iter(self._glob_prefix + pattern, count):
            yield key[cut:]

    async def dbsize(self) -> int:
        """Number of keys, including expired keys not yet reclaimed.

        With a key prefix, counts only the live keys under the prefix.
        """
        if not self._prefix:
            return await self._driver.dbsize()
        return len(await self._driver.keys(self._glob_prefix + "*"))

    async def flushdb(self) -> None:
        """Delete every key; with a key prefix, only the keys under the prefix."""
        if not self._prefix:
            await self._driver.flushdb()
            return
        batch: list[str] = []
        async for key in self._driver.scan_iter(self._glob_prefix + "*", 1000):
            batch.append(key)
            if len(batch) == 1000:
                await self._driver.delete(batch)
                batch = []
        if batch:
            await self._driver.delete(batch)

    @_command
    def ping(self) -> Awaitable[bool]:
        """Return True if the store answers.

        Raises:
            KVConnectionError: if the server cannot be reached.
        """
        return self._driver.ping()

    # -- counters ----------------------------------------------------------------------------

    @_command
    def incr(self, key: str) -> Awaitable[int]:
        """Add 1 to the integer at ``key`` (a missing key counts from 0); return the new value.

        The TTL, if any, is kept.

        Raises:
            NotAnIntegerError: if the value is not a canonical 64-bit integer.
            IntegerOverflowError: if the result would overflow; the value is unchanged.
            WrongTypeError: if the key holds a hash, list or set.
        """
        return self._driver.incrby(self._prefix + key, 1)

    @_command
    def decr(self, key: str) -> Awaitable[int]:
        """Subtract 1; see :meth:`incr`."""
        return self._driver.incrby(self._prefix + key, -1)

    @_command
    def incrby(self, key: str, amount: int) -> Awaitable[int]:
        """Add ``amount`` (a 64-bit int); see :meth:`incr`."""
        return self._driver.incrby(self._prefix + key, check_amount(amount))

    @_command
    def decrby(self, key: str, amount: int) -> Awaitable[int]:
        """Subtract ``amount`` (a 64-bit int); see :meth:`incr`."""
        if check_amount(amount) == INT64_MIN:
            raise IntegerOverflowError("ERR decrement would overflow")
        return self._driver.incrby(self._prefix + key, -amount)

    # -- hashes ------------------------------------------------------------------------------

    @_command
    def hset(
        self,
        key: str,
        field: str | None = None,
        value: Value | None = None,
        *,
        mapping: Mapping[str, Value] | None = None,
    ) -> Awaitable[int]:
        """Set one field (``field``, ``value``) and/or several (``mapping``) of the hash at ``key``.

        Returns:
            The number of fields that did not exist before.

        Raises:
            InvalidArgumentError: if no field is given.
            WrongTypeError: if the key holds another type.
        """
        pairs: dict[str | bytes, str | bytes] = {}
        if field is not None:
            pairs[encode_value(field)] = encode_value(value)
        if mapping:
            for name, item in mapping.items():
                pairs[encode_value(name)] = encode_value(item)
        if not pairs:
            raise InvalidArgumentError("hset needs a field and value, or a non-empty mapping")
        return self._driver.hset(self._prefix + key, pairs)

    @_command
    def hget(self, key: str, field: str) -> Awaitable[str | None]:
        """Return one field's value, or None if the key or field is missing."""
        return self._driver.hget(self._prefix + key, encode_value(field))

    @_command
    def hgetall(self, key: str) -> Awaitable[dict[str, str]]:
        """Return every field and value; {} for a missing key."""
        return self._driver.hgetall(self._prefix + key)

    @_command
    def hdel(self, key: str, *fields: str) -> Awaitable[int]:
        """Delete fields; return how many existed. The hash vanishes with its last field."""
        if not fields:
            return _constant(0)
        return self._driver.hdel(self._prefix + key, [encode_value(f) for f in fields])

    # -- lists -------------------------------------------------------------------------------

    @_command
    def lpush(self, key: str, *values: Value) -> Awaitable[int]:
        """Push values to the head in turn (``lpush(k, "a", "b")`` gives ``b a``); new length.

        Raises:
            InvalidArgumentError: if no value is given.
        """
        return self._driver.lpush(self._prefix + key, self._values(values, "lpush"))

    @_command
    def rpush(self, key: str, *values: Value) -> Awaitable[int]:
        """Push values to the tail in turn; return the new length."""
        return self._driver.rpush(self._prefix + key, self._values(values, "rpush"))

    @overload
    def lpop(self, key: str) -> Awaitable[str | None]: ...
    @overload
    def lpop(self, key: str, count: int) -> Awaitable[list[str] | None]: ...
    @_command
    def lpop(self, key: str, count: int | None = None) -> Awaitable[str | list[str] | None]:
        """Pop from the head: one element, or a list of up to ``count``; None for a missing key."""
        return self._driver.lpop(self._prefix + key, self._count(count))

    @overload
    def rpop(self, key: str) -> Awaitable[str | None]: ...
    @overload
    def rpop(self, key: str, count: int) -> Awaitable[list[str] | None]: ...
    @_command
    def rpop(self, key: str, count: int | None = None) -> Awaitable[str | list[str] | None]:
        """Pop from the tail: one element, or up to ``count`` tail first; None for a missing key."""
        return self._driver.rpop(self._prefix + key, self._count(count))

    @_command
    def llen(self, key: str) -> Awaitable[int]:
        """Length of the list at ``key``; 0 for a missing key."""
        return self._driver.llen(self._prefix + key)

    @_command
    def lrange(self, key: str, start: int, stop: int) -> Awaitable[list[str]]:
        """Elements ``start`` to ``stop`` inclusive; negative indexes count from the end.

        Out-of-range indexes are clamped; [] for a missing key or an empty range.
        """
        return self._driver.lrange(self._prefix + key, start, stop)

    # -- sets --------------------------------------------------------------------------------

    @_command
    def sadd(self, key: str, *members: Value) -> Awaitable[int]:
        """Add members; return how many were new."""
        return self._driver.sadd(self._prefix + key, self._values(members, "sadd"))

    @_command
    def srem(self, key: str, *members: Value) -> Awaitable[int]:
        """Remove members; return how many were there. The set vanishes with its last member."""
        return self._driver.srem(self._prefix + key, self._values(members, "srem"))

    @_command
    def smembers(self, key: str) -> Awaitable[builtins.set[str]]:
        """All members; an empty set for a missing key."""
        return self._driver.smembers(self._prefix + key)

    @_command
    def sismember(self, key: str, member: Value) -> Awaitable[bool]:
        """True if ``member`` is in the set at ``key``."""
        return self._driver.sismember(self._prefix + key, encode_value(member))

    @_command
    def scard(self, key: str) -> Awaitable[int]:
        """Number of members; 0 for a missing key."""
        return self._driver.scard(self._prefix + key)

    # -- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _values(values: tuple[Value, ...], command: str) -> list[str | bytes]:
        if not values:
            raise InvalidArgumentError(f"{command} needs at least one value")
        return [encode_value(v) for v in values]

    @staticmethod
    def _count(count: int | None) -> int | None:
        if count is not None and count < 0:
            raise InvalidArgumentError("ERR value is out of range, must be positive")
        return count
