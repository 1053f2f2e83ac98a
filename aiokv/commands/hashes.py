"""Hash commands."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Mapping
from typing import Any

from .._codec import Value, check_amount, check_count, encode_value
from .._exceptions import ArgumentTypeError, InvalidArgumentError
from ._base import (
    Command,
    as_float,
    command,
    text,
    text_dict,
    text_list,
    text_or_none,
)
from ._facade import Facade

__all__ = ["HashCommands"]


def _encode_hset(key: str, mapping: Mapping[str | bytes, str | bytes]) -> tuple[Any, ...]:
    words: list[Any] = ["HSET", key]
    for pair in mapping.items():
        words += pair
    return tuple(words)


HSET = Command("HSET", encode=_encode_hset)
HGET = Command("HGET", readonly=True, decode=text_or_none)
HGETALL = Command("HGETALL", readonly=True, decode=text_dict)
HDEL = Command("HDEL", encode=lambda key, fields: ("HDEL", key, *fields))
HMGET = Command(
    "HMGET",
    readonly=True,
    encode=lambda key, fields: ("HMGET", key, *fields),
    decode=lambda raw: [text_or_none(item) for item in raw],
)
HINCRBY = Command("HINCRBY")
HINCRBYFLOAT = Command("HINCRBYFLOAT", decode=as_float)
HLEN = Command("HLEN", readonly=True)
HEXISTS = Command("HEXISTS", readonly=True, decode=bool)
HSETNX = Command("HSETNX", decode=bool)
HKEYS = Command("HKEYS", readonly=True, decode=text_list)
HVALS = Command("HVALS", readonly=True, decode=text_list)
HSTRLEN = Command("HSTRLEN", readonly=True)


def scan_words(name: str) -> Any:
    """The encoder of HSCAN/SSCAN: the cursor, then MATCH (unless ``*``) and COUNT."""

    def encode(key: str, cursor: Any, match: str, count: int) -> tuple[Any, ...]:
        words: tuple[Any, ...] = (name, key, cursor)
        if match != "*":
            words += ("MATCH", match)
        return (*words, "COUNT", count)

    return encode


def _decode_hscan(raw: list[Any]) -> tuple[int, list[tuple[str, str]]]:
    cursor, flat = raw
    return int(cursor), [(text(flat[i]), text(flat[i + 1])) for i in range(0, len(flat), 2)]


HSCAN = Command("HSCAN", readonly=True, encode=scan_words("HSCAN"), decode=_decode_hscan)
"""One step of a hash scan: ``(key, cursor, match, count)`` -> ``(next cursor, pairs)``.

The cursor is opaque to the facade: the server's number, or the memory driver's snapshot of
the fields (see ``drivers/_memory/hashes.py``); 0 starts a scan, and comes back at its end.
"""


def check_scan_count(count: object) -> int:
    """A SCAN-family ``count``: an int of at least 1.

    Raises:
        NotAnIntegerError: if it is not an int.
        InvalidArgumentError: if it is below 1 (a server answers a syntax error).
    """
    if check_count(count) < 1:
        raise InvalidArgumentError("count must be at least 1")
    return count  # type: ignore[return-value]


# The increment is sent as text and read by the server as a long double: an int or float
# beyond its range (about 1.19e4932) is "not a valid float" there.
_LONG_DOUBLE_LIMIT = 2**16384 - 2**16319


def _float_amount(amount: object) -> str:
    if type(amount) is float:
        if math.isnan(amount):
            raise InvalidArgumentError("ERR value is not a valid float")
        if math.isinf(amount):
            raise InvalidArgumentError("ERR value is NaN or Infinity")
        return repr(amount)
    if type(amount) is int:
        if abs(amount) >= _LONG_DOUBLE_LIMIT:
            raise InvalidArgumentError("ERR value is not a valid float")
        # Python will not write an int of over 4,300 digits in decimal; hex reads the same.
        return str(amount) if abs(amount) < 10**4000 else f"{amount:#x}"
    raise ArgumentTypeError(f"amount must be an int or a float, not {type(amount).__name__}")


class HashCommands(Facade):
    @command
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
        return self._run[HSET](self._key(key), pairs)

    @command
    def hget(self, key: str, field: str) -> Awaitable[str | None]:
        """Return one field's value, or None if the key or field is missing."""
        return self._run[HGET](self._key(key), encode_value(field))

    @command
    def hgetall(self, key: str) -> Awaitable[dict[str, str]]:
        """Return every field and value; {} for a missing key."""
        return self._run[HGETALL](self._key(key))

    @command
    def hdel(self, key: str, *fields: str) -> Awaitable[int]:
        """Delete fields; return how many existed. The hash vanishes with its last field."""
        if not fields:
            return self._constant(0)
        return self._run[HDEL](self._key(key), [encode_value(f) for f in fields])

    @command
    def hmget(self, key: str, *fields: str) -> Awaitable[list[str | None]]:
        """Return the values of ``fields`` in order, None for each missing field (all None
        for a missing key).

        Raises:
            InvalidArgumentError: if no field is given.
            WrongTypeError: if the key holds another type.
        """
        if not fields:
            raise InvalidArgumentError("hmget needs at least one field")
        return self._run[HMGET](self._key(key), [encode_value(f) for f in fields])

    @command
    def hincrby(self, key: str, field: str, amount: int) -> Awaitable[int]:
        """Add ``amount`` to the integer in ``field`` (a missing key or field counts from 0).

        Returns:
            The new value.

        Raises:
            NotAnIntegerError: if the field's value is not a canonical 64-bit integer, or
                ``amount`` is not a 64-bit int.
            IntegerOverflowError: if the result would overflow; the value is unchanged.
            WrongTypeError: if the key holds another type.
        """
        return self._run[HINCRBY](self._key(key), encode_value(field), check_amount(amount))

    @command
    def hincrbyfloat(self, key: str, field: str, amount: float) -> Awaitable[float]:
        """Add ``amount`` to the number in ``field`` (a missing key or field counts from 0).

        The sum is computed and stored as a server does: in long double precision, written
        with up to 17 decimals, no exponent and no trailing zeros (``0.1 + 0.2`` stores
        ``"0.3"``; read the exact text with :meth:`hget`).

        Returns:
            The new value, as a float.

        Raises:
            CommandError: if the field's value is not a number ("ERR hash value is not a
                float"), or the sum would be infinite.
            InvalidArgumentError: if ``amount`` is NaN or infinite.
            ArgumentTypeError: if ``amount`` is not an int or a float.
            WrongTypeError: if the key holds another type.
        """
        return self._run[HINCRBYFLOAT](self._key(key), encode_value(field), _float_amount(amount))

    @command
    def hlen(self, key: str) -> Awaitable[int]:
        """Number of fields; 0 for a missing key.

        Raises:
            WrongTypeError: if the key holds another type.
        """
        return self._run[HLEN](self._key(key))

    @command
    def hexists(self, key: str, field: str) -> Awaitable[bool]:
        """True if the hash at ``key`` has ``field``; False for a missing key or field.

        Raises:
            WrongTypeError: if the key holds another type.
        """
        return self._run[HEXISTS](self._key(key), encode_value(field))

    @command
    def hsetnx(self, key: str, field: str, value: Value) -> Awaitable[bool]:
        """Set ``field`` only if it does not exist yet (the hash is created if needed).

        Returns:
            True if the field was set, False if it already existed (unchanged).

        Raises:
            WrongTypeError: if the key holds another type.
        """
        return self._run[HSETNX](self._key(key), encode_value(field), encode_value(value))

    @command
    def hkeys(self, key: str) -> Awaitable[list[str]]:
        """Every field name; [] for a missing key.

        Raises:
            WrongTypeError: if the key holds another type.
        """
        return self._run[HKEYS](self._key(key))

    @command
    def hvals(self, key: str) -> Awaitable[list[str]]:
        """Every value, in the order of :meth:`hkeys`; [] for a missing key.

        Raises:
            WrongTypeError: if the key holds another type.
        """
        return self._run[HVALS](self._key(key))

    @command
    def hstrlen(self, key: str, field: str) -> Awaitable[int]:
        """Length in bytes (UTF-8) of the field's value; 0 for a missing key or field.

        Raises:
            WrongTypeError: if the key holds another type.
        """
        return self._run[HSTRLEN](self._key(key), encode_value(field))

    async def hscan_iter(
        self, key: str, match: str = "*", *, count: int = 100
    ) -> AsyncIterator[tuple[str, str]]:
        """Iterate the ``(field, value)`` pairs of the hash at ``key`` whose field matches the
        Redis glob ``match``, a batch at a time (HSCAN), without blocking the server.

        A field present for the whole iteration is yielded at least once; on a server it may
        be yielded twice (deduplicate if that matters). Fields added or removed meanwhile may
        or may not be yielded. ``count`` is a batch-size hint. Nothing is yielded for a
        missing key. Not available in a pipeline (it takes several round trips).

        Raises:
            InvalidArgumentError: if ``count`` is below 1.
            WrongTypeError: if the key holds another type.
        """
        async for item in self._scan_items(HSCAN, key, match, check_scan_count(count)):
            yield item
