"""String commands: SET and GET with their options, MGET/MSET, counters, byte ranges.

Text replies: ``get`` raises ValueDecodeError for a value that is not UTF-8, while the replies of
``mget``, ``getdel``, ``getex``, ``getrange`` and ``set(..., get=True)`` keep such bytes as
surrogate escapes (as container reads do): a batch must not fail on one binary value, a write
must not lose the value it already removed, and a byte range may cut a character in two. Such
text written back with ``set`` stores the original bytes.

``set`` and ``get`` are the cache's hot path and pass the key as given: a server stores the
UTF-8 bytes of any key anyway, and the memory driver's SET and GET handlers spell a non-ASCII key
as a server would themselves (on GET only after a miss), which keeps an ``isascii()`` call off
every hit. Other commands normalise keys here (``Facade._key``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from datetime import datetime
from typing import Any, Literal, overload

from .._codec import (
    INT64_MIN,
    TTL,
    Value,
    check_amount,
    check_int,
    encode_value,
    float_amount,
    positive_ttl_ms,
    positive_unix_ms,
)
from .._exceptions import IntegerOverflowError, InvalidArgumentError
from ._base import (
    ALL_KEYS,
    DEFAULT,
    IN_ORDER,
    SAME,
    Command,
    _Default,
    as_float,
    command,
    strict_text,
    text,
    text_or_none,
)
from ._facade import Facade

__all__ = [
    "APPEND",
    "GET",
    "GETDEL",
    "GETEX",
    "GETEX_PLAIN",
    "GETRANGE",
    "GET_BYTES",
    "INCRBY",
    "INCRBYFLOAT",
    "MGET",
    "MSET",
    "MSETNX",
    "SET",
    "SETEX",
    "SETRANGE",
    "SET_GET",
    "SET_OPTS",
    "STRLEN",
    "StringCommands",
]


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


def _encode_set_opts(
    key: str,
    value: str | bytes,
    px: int | None,
    pxat: int | None,
    keepttl: bool,
    nx: bool,
    xx: bool,
) -> tuple[Any, ...]:
    words: tuple[Any, ...] = ("SET", key, value)
    if px is not None:
        words += ("PX", px)
    elif pxat is not None:
        words += ("PXAT", pxat)
    elif keepttl:
        words += ("KEEPTTL",)
    if nx:
        words += ("NX",)
    elif xx:
        words += ("XX",)
    return words


def _encode_set_get(*args: Any) -> tuple[Any, ...]:
    return (*_encode_set_opts(*args), "GET")


def _encode_getex(key: str, px: int | None, pxat: int | None, persist: bool) -> tuple[Any, ...]:
    if px is not None:
        return ("GETEX", key, "PX", px)
    if pxat is not None:
        return ("GETEX", key, "PXAT", pxat)
    return ("GETEX", key, "PERSIST")


def _encode_pairs(name: str) -> Any:
    def encode(pairs: list[tuple[str, str | bytes]]) -> tuple[Any, ...]:
        words: list[Any] = [name]
        for pair in pairs:
            words += pair
        return tuple(words)

    return encode


def _pair_keys(args: tuple[Any, ...]) -> list[str]:
    """MSET's keys: the first of each (key, value) pair, so that a cluster can split the pairs."""
    return [key for key, _ in args[0]]


def _none(reply: Any) -> None:
    return None


def _true(reply: Any) -> bool:
    return True


def _texts_or_none(raw: list[bytes | None]) -> list[str | None]:
    return [None if item is None else text(item) for item in raw]


SET = Command("SET", encode=_encode_set, decode=bool)
SETEX = Command("SET", encode=lambda key, value, px: ("SET", key, value, "PX", px), decode=_none)
GET = Command("GET", readonly=True, decode=strict_text)
GET_BYTES = Command("GET", readonly=True)
INCRBY = Command("INCRBY")
# SET with KEEPTTL, PXAT or GET: apart from SET, whose encoding is the cache's hot path.
SET_OPTS = Command("SET", encode=_encode_set_opts, decode=bool)
SET_GET = Command("SET", encode=_encode_set_get, decode=text_or_none)
# A cluster splits MGET and MSET by slot (not atomic across slots); MSETNX, all or nothing,
# keeps its keys in one slot.
MGET = Command(
    "MGET",
    readonly=True,
    encode=lambda keys: ("MGET", *keys),
    decode=_texts_or_none,
    keys=ALL_KEYS,
    merge=IN_ORDER,
)
MSET = Command("MSET", encode=_encode_pairs("MSET"), decode=_true, keys=_pair_keys, merge=SAME)
MSETNX = Command("MSETNX", encode=_encode_pairs("MSETNX"), decode=bool, keys=_pair_keys)
GETDEL = Command("GETDEL", decode=text_or_none)
GETEX = Command("GETEX", encode=_encode_getex, decode=text_or_none)
GETEX_PLAIN = Command("GETEX", readonly=True, decode=text_or_none)  # no option: a plain GET
INCRBYFLOAT = Command("INCRBYFLOAT", decode=as_float)
APPEND = Command("APPEND")
STRLEN = Command("STRLEN", readonly=True)
GETRANGE = Command("GETRANGE", readonly=True, decode=text)
SETRANGE = Command("SETRANGE")


class StringCommands(Facade):
    @overload
    def set(
        self,
        key: str,
        value: Value,
        ttl: TTL | datetime | _Default | None = ...,
        *,
        nx: bool = ...,
        xx: bool = ...,
        keepttl: bool = ...,
        get: Literal[False] = ...,
    ) -> Awaitable[bool]: ...
    @overload
    def set(
        self,
        key: str,
        value: Value,
        ttl: TTL | datetime | _Default | None = ...,
        *,
        nx: bool = ...,
        xx: bool = ...,
        keepttl: bool = ...,
        get: Literal[True],
    ) -> Awaitable[str | None]: ...
    @overload
    def set(
        self,
        key: str,
        value: Value,
        ttl: TTL | datetime | _Default | None = ...,
        *,
        nx: bool = ...,
        xx: bool = ...,
        keepttl: bool = ...,
        get: bool,
    ) -> Awaitable[bool | str | None]: ...
    @command
    def set(
        self,
        key: str,
        value: Value,
        ttl: TTL | datetime | _Default | None = DEFAULT,
        *,
        nx: bool = False,
        xx: bool = False,
        keepttl: bool = False,
        get: bool = False,
    ) -> Awaitable[bool | str | None]:
        """Store ``value`` at ``key``, replacing any value of any type.

        Args:
            key: The key.
            value: str, bytes, int or float (numbers are stored as their decimal text).
            ttl: Seconds or a timedelta from now, or a datetime to expire at (a naive one is
                local time; a time already past stores nothing and removes the key);
                ``None`` for no expiry; omitted: ``default_ttl``. Without a TTL any previous
                TTL is cleared, as Redis's SET does, unless ``keepttl``.
            nx: Only write if the key does not exist.
            xx: Only write if the key exists.
            keepttl: Keep the key's current TTL (SET KEEPTTL); ``ttl`` must then be omitted.
            get: Return the previous value instead of whether the write happened (SET GET).

        Returns:
            True if written, False if ``nx``/``xx`` prevented it; with ``get=True``, the
            previous text (None if the key did not exist), whether or not it was replaced.

        Raises:
            TypeError: for other value types (use ``set_json``).
            InvalidArgumentError: for a TTL <= 0, NaN, infinite or not a number, a datetime at
                or before the Unix epoch, both ``nx`` and ``xx``, or ``keepttl`` with a ``ttl``.
            WrongTypeError: with ``get=True``, if the key holds a hash, list or set (nothing
                is written).
        """
        if type(value) is not str:
            value = encode_value(value)
        if keepttl or get:
            return self._set_options(key, value, ttl, nx, xx, keepttl, get)
        if ttl is DEFAULT:
            px = self._default_px
        elif ttl is None:
            px = None
        elif type(ttl) is int and 0 < ttl < 9_000_000_000_000_000:
            px = ttl * 1000
        elif isinstance(ttl, datetime):
            return self._set_options(key, value, ttl, nx, xx, keepttl, get)
        else:
            px = positive_ttl_ms(ttl, "set")
        if nx and xx:
            raise InvalidArgumentError("nx and xx cannot both be set")
        # The key is not normalised here (see the module docstring): the hot path.
        return self._run[SET](self._prefix + key, value, px, nx, xx)

    def _set_options(
        self,
        key: str,
        value: str | bytes,
        ttl: TTL | datetime | _Default | None,
        nx: bool,
        xx: bool,
        keepttl: bool,
        get: bool,
    ) -> Awaitable[Any]:
        px = pxat = None
        if keepttl:
            if ttl is not DEFAULT:
                raise InvalidArgumentError("keepttl keeps the current TTL: pass no ttl with it")
        elif ttl is DEFAULT:
            px = self._default_px
        elif isinstance(ttl, datetime):
            pxat = positive_unix_ms(ttl, "set")
        elif ttl is not None:
            px = positive_ttl_ms(ttl, "set")
        if nx and xx:
            raise InvalidArgumentError("nx and xx cannot both be set")
        spec = SET_GET if get else SET_OPTS
        return self._run[spec](self._key(key), value, px, pxat, keepttl, nx, xx)

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
    def mget(self, *keys: str) -> Awaitable[list[str | None]]:
        """Return the text at each key, in order: None for a miss or a key of another type.

        Never raises WrongTypeError (as Redis's MGET); bytes that are not UTF-8 come back as
        surrogate escapes (see the module docstring). No keys: ``[]``.
        """
        if not keys:
            return self._constant([])
        return self._run[MGET](self._keys(keys))

    @command
    def mset(self, mapping: Mapping[str, Value]) -> Awaitable[bool]:
        """Store every key and value of ``mapping`` at once; each key's TTL is cleared.

        Returns:
            True (MSET cannot fail for existing keys).

        Raises:
            InvalidArgumentError: if ``mapping`` is empty.
            TypeError: for value types other than str, bytes, int and float.
        """
        return self._run[MSET](self._pairs(mapping, "mset"))

    @command
    def msetnx(self, mapping: Mapping[str, Value]) -> Awaitable[bool]:
        """Store every key and value of ``mapping``, only if none of the keys exists.

        Returns:
            True if all were written, False (nothing written) if any key existed.

        Raises:
            InvalidArgumentError: if ``mapping`` is empty.
            TypeError: for value types other than str, bytes, int and float.
        """
        return self._run[MSETNX](self._pairs(mapping, "msetnx"))

    def _pairs(self, mapping: Mapping[str, Value], command: str) -> list[tuple[str, str | bytes]]:
        if not mapping:
            raise InvalidArgumentError(f"{command} needs at least one key")
        values = [encode_value(value) for value in mapping.values()]
        return list(zip(self._keys(tuple(mapping)), values, strict=True))

    @command
    def getdel(self, key: str) -> Awaitable[str | None]:
        """Delete ``key`` and return the text it held; None on a miss.

        Raises:
            WrongTypeError: if the key holds a hash, list or set (it is not deleted).
        """
        return self._run[GETDEL](self._key(key))

    @command
    def getex(
        self, key: str, ttl: TTL | datetime | None = None, *, persist: bool = False
    ) -> Awaitable[str | None]:
        """Return the text at ``key`` and change its TTL (GETEX); None on a miss.

        Args:
            key: The key.
            ttl: Seconds or a timedelta from now, or a datetime to expire at (a naive one is
                local time; a time already past deletes the key after reading it).
            persist: Remove the TTL instead.

        Without ``ttl`` or ``persist`` this is a plain read (GETEX with no option).

        Raises:
            InvalidArgumentError: for a TTL <= 0 (even on a miss), NaN, infinite or not a
                number, a datetime at or before the Unix epoch, or both ``ttl`` and ``persist``.
            WrongTypeError: if the key holds a hash, list or set.
        """
        if ttl is None:
            if not persist:
                return self._run[GETEX_PLAIN](self._key(key))
            return self._run[GETEX](self._key(key), None, None, True)
        if persist:
            raise InvalidArgumentError("getex takes a ttl or persist=True, not both")
        if isinstance(ttl, datetime):
            return self._run[GETEX](self._key(key), None, positive_unix_ms(ttl, "getex"), False)
        return self._run[GETEX](self._key(key), positive_ttl_ms(ttl, "getex"), None, False)

    @command
    def incrbyfloat(self, key: str, amount: float) -> Awaitable[float]:
        """Add ``amount`` to the number at ``key`` (a missing key counts from 0); return the sum.

        The server adds in C long double and stores the sum with up to 17 decimals, trailing
        zeros removed (``"10.5"`` plus 0.1 stores ``"10.6"``); the TTL, if any, is kept.

        Raises:
            InvalidArgumentError: "ERR value is not a valid float" if the value is not a number;
                "ERR increment would produce NaN or Infinity" if the sum overflows. The value
                is then unchanged.
            ArgumentTypeError: if ``amount`` is not an int or a float.
            InvalidArgumentError: if ``amount`` is NaN or infinite.
            WrongTypeError: if the key holds a hash, list or set.
        """
        return self._run[INCRBYFLOAT](self._key(key), float_amount(amount))

    @command
    def append(self, key: str, value: Value) -> Awaitable[int]:
        """Append ``value`` to the string at ``key`` (created if missing); the TTL is kept.

        Returns:
            The new length in bytes.

        Raises:
            WrongTypeError: if the key holds a hash, list or set.
            CommandError: if the result would exceed 512 MB.
            TypeError: for value types other than str, bytes, int and float.
        """
        return self._run[APPEND](self._key(key), encode_value(value))

    @command
    def strlen(self, key: str) -> Awaitable[int]:
        """Length in bytes of the string at ``key`` (UTF-8 for text); 0 on a miss.

        Raises:
            WrongTypeError: if the key holds a hash, list or set.
        """
        return self._run[STRLEN](self._key(key))

    @command
    def getrange(self, key: str, start: int, end: int) -> Awaitable[str]:
        """Bytes ``start`` to ``end`` inclusive of the string at ``key``, as text.

        Offsets are in bytes; negative ones count from the end; the range is clamped to the
        string (so ``getrange(k, 0, -100)`` of "Hello" is "H", as on a server). ``""`` on a
        miss or an empty range. A range that cuts a UTF-8 character keeps the cut bytes as
        surrogate escapes.

        Raises:
            NotAnIntegerError: if an offset is not a 64-bit int.
            WrongTypeError: if the key holds a hash, list or set.
        """
        return self._run[GETRANGE](self._key(key), check_int(start), check_int(end))

    @command
    def setrange(self, key: str, offset: int, value: Value) -> Awaitable[int]:
        """Overwrite the string at ``key`` from byte ``offset`` with ``value``.

        A missing key or a string shorter than ``offset`` is padded with zero bytes. An empty
        ``value`` changes nothing (and creates no key). The TTL, if any, is kept.

        Returns:
            The new length in bytes (0 for an empty ``value`` on a missing key).

        Raises:
            NotAnIntegerError: if ``offset`` is not a 64-bit int.
            InvalidArgumentError: if ``offset`` is negative.
            CommandError: if the string would exceed 512 MB
                ("ERR string exceeds maximum allowed size (proto-max-bulk-len)").
            WrongTypeError: if the key holds a hash, list or set.
            TypeError: for value types other than str, bytes, int and float.
        """
        if check_int(offset) < 0:
            raise InvalidArgumentError("ERR offset is out of range")
        return self._run[SETRANGE](self._key(key), offset, encode_value(value))

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
