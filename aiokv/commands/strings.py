"""String commands: SET, GET, counters.

``set`` and ``get`` are the cache's hot path and pass the key as given: a server stores the
UTF-8 bytes of any key anyway, and the memory driver's SET and GET handlers spell a non-ASCII key
as a server would themselves (on GET only after a miss), which keeps an ``isascii()`` call off
every hit. Other commands normalise keys here (``Facade._key``).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from .._codec import (
    INT64_MIN,
    TTL,
    Value,
    check_amount,
    encode_value,
    positive_ttl_ms,
)
from .._exceptions import IntegerOverflowError, InvalidArgumentError
from ._base import DEFAULT, Command, _Default, command, strict_text
from ._facade import Facade

__all__ = ["GET", "GET_BYTES", "INCRBY", "SET", "SETEX", "StringCommands"]


def _encode_set(
    key: str, value: str | bytes, px: int | None, nx: bool, xx: bool
) -> tuple[Any, ...]:
    words: tuple[Any, ...] = ("SET", key, value)
    if px is not None:
        words += ("PX", px)
    if nx:
        words += ("NX",)
    elif xx:
        words += ("XX",)
    return words


def _none(reply: Any) -> None:
    return None


SET = Command("SET", encode=_encode_set, decode=bool)
SETEX = Command("SET", encode=lambda key, value, px: ("SET", key, value, "PX", px), decode=_none)
GET = Command("GET", readonly=True, decode=strict_text)
GET_BYTES = Command("GET", readonly=True)
INCRBY = Command("INCRBY")


class StringCommands(Facade):
    @command
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
            InvalidArgumentError: for a TTL <= 0, NaN, infinite or not a number, or both
                ``nx`` and ``xx``.
        """
        if type(value) is not str:
            value = encode_value(value)
        if ttl is DEFAULT:
            px = self._default_px
        elif ttl is None:
            px = None
        elif type(ttl) is int and 0 < ttl < 9_000_000_000_000_000:
            px = ttl * 1000
        else:
            px = positive_ttl_ms(ttl, "set")
        if nx and xx:
            raise InvalidArgumentError("nx and xx cannot both be set")
        # The key is not normalised here (see the module docstring): the hot path.
        return self._run[SET](self._prefix + key, value, px, nx, xx)

    @command
    def setex(self, key: str, value: Value, ttl: TTL) -> Awaitable[None]:
        """Store ``value`` with a TTL (SETEX).

        Raises:
            InvalidArgumentError: if ``ttl`` <= 0; nothing is written.
            TypeError: for value types other than str, bytes, int and float.
        """
        px = positive_ttl_ms(ttl, "setex")
        return self._run[SETEX](self._key(key), encode_value(value), px)

    @command
    def get(self, key: str) -> Awaitable[str | None]:
        """Return the text at ``key``, or None on a miss.

        Raises:
            WrongTypeError: if the key holds a hash, list or set.
            ValueDecodeError: if the value is not UTF-8 (use ``get_bytes``).
        """
        return self._run[GET](self._prefix + key)

    @command
    def get_bytes(self, key: str) -> Awaitable[bytes | None]:
        """Return the bytes at ``key``, or None on a miss.

        Raises:
            WrongTypeError: if the key holds a hash, list or set.
        """
        return self._run[GET_BYTES](self._key(key))

    @command
    def incr(self, key: str) -> Awaitable[int]:
        """Add 1 to the integer at ``key`` (a missing key counts from 0); return the new value.

        The TTL, if any, is kept.

        Raises:
            NotAnIntegerError: if the value is not a canonical 64-bit integer.
            IntegerOverflowError: if the result would overflow; the value is unchanged.
            WrongTypeError: if the key holds a hash, list or set.
        """
        return self._run[INCRBY](self._key(key), 1)

    @command
    def decr(self, key: str) -> Awaitable[int]:
        """Subtract 1; see :meth:`incr`."""
        return self._run[INCRBY](self._key(key), -1)

    @command
    def incrby(self, key: str, amount: int) -> Awaitable[int]:
        """Add ``amount`` (a 64-bit int); see :meth:`incr`.

        Raises:
            NotAnIntegerError: if ``amount`` is not a 64-bit int (a bool or float included).
        """
        return self._run[INCRBY](self._key(key), check_amount(amount))

    @command
    def decrby(self, key: str, amount: int) -> Awaitable[int]:
        """Subtract ``amount`` (a 64-bit int); see :meth:`incr`."""
        if check_amount(amount) == INT64_MIN:
            raise IntegerOverflowError("ERR decrement would overflow")
        return self._run[INCRBY](self._key(key), -amount)
