"""Argument conversions shared by the facade and both drivers.

Values travel as ``str`` or ``bytes``: ints and floats become their decimal text, as Redis stores
them. TTLs travel as whole milliseconds.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from typing import Final, TypeAlias

from ._exceptions import (
    ArgumentTypeError,
    IntegerOverflowError,
    InvalidArgumentError,
    NotAnIntegerError,
)

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "TTL",
    "Value",
    "encode_value",
    "escape_glob",
    "parse_int",
    "check_count",
    "check_int",
    "normalize_key",
    "positive_ttl_ms",
    "ttl_to_ms",
]

Value: TypeAlias = str | bytes | int | float
"""What a command accepts as a value: text, bytes, or a number stored as its decimal text."""

TTL: TypeAlias = int | float | timedelta
"""Seconds (millisecond precision) or a timedelta."""

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1

# Redis's string2ll: optional '-', no '+', no spaces, no leading zeros, no "-0", at most 20 chars.
_STRICT_INT = re.compile(r"(?:0|-?[1-9][0-9]{0,19})\Z")
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


def encode_value(value: object) -> str | bytes:
    """Return ``value`` as the text or bytes that will be stored.

    Raises:
        TypeError: for anything but str, bytes, bytearray, memoryview, int and float (bool too:
            store 1/0 explicitly), naming ``set_json`` for structured data.
    """
    kind = type(value)
    if kind is str or kind is bytes:
        return value  # type: ignore[return-value]
    if kind is int:
        return str(value)
    if kind is float:
        return repr(value)
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (str, bytes)):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(int(value))
    raise TypeError(
        f"aiokv stores str, bytes, int or float values, not {kind.__name__}; "
        "use set_json() for structured data"
    )


def encode_member(value: object) -> str:
    """Return a hash field or value, list element or set member as canonical text.

    Bytes that are not UTF-8 are kept losslessly with surrogate escapes, so ``b"a"`` and ``"a"``
    are the same member, as they are on a Redis server.
    """
    encoded = encode_value(value)
    if type(encoded) is str:
        return encoded
    return encoded.decode("utf-8", "surrogateescape")  # type: ignore[union-attr]


def ttl_to_ms(ttl: TTL) -> int:
    """Convert a TTL to whole milliseconds (rounded to nearest).

    Raises:
        InvalidArgumentError: if ``ttl`` is not a number or a timedelta (a bool, a str), is NaN
            or infinite, or is beyond what a server takes (a 64-bit count of milliseconds).
    """
    if type(ttl) is int:
        ms = ttl * 1000
    elif isinstance(ttl, timedelta):
        ms = round(ttl.total_seconds() * 1000)
    elif isinstance(ttl, (int, float)) and not isinstance(ttl, bool):
        if not math.isfinite(ttl):
            raise InvalidArgumentError(f"ttl must be a finite number of seconds, not {ttl!r}")
        ms = round(ttl * 1000)
    else:
        raise ArgumentTypeError(
            f"ttl must be seconds (int or float) or a timedelta, not {type(ttl).__name__}"
        )
    if not INT64_MIN <= ms <= INT64_MAX:
        raise NotAnIntegerError()  # as Redis answers an expire time beyond 64 bits
    return ms


def positive_ttl_ms(ttl: TTL, command: str) -> int:
    """Like :func:`ttl_to_ms`, for commands that reject an expire time <= 0 (SET, SETEX).

    Raises:
        InvalidArgumentError: if the TTL rounds to 0 ms or less (the message is Redis's), or for
            the cases of :func:`ttl_to_ms`.
    """
    ms = ttl_to_ms(ttl)
    if ms <= 0:
        raise InvalidArgumentError(f"ERR invalid expire time in '{command}' command")
    return ms


def check_int(value: object) -> int:
    """Validate an integer argument (an index, a count, an amount): a 64-bit signed ``int``.

    Raises:
        NotAnIntegerError: for a bool, a float, a str or an int out of range, as Redis refuses
            an argument that is not a 64-bit integer.
    """
    if type(value) is not int or not INT64_MIN <= value <= INT64_MAX:
        raise NotAnIntegerError()
    return value


def check_count(count: object) -> int:
    """Validate a count (LPOP, SPOP, ...): a non-negative 64-bit ``int``.

    Raises:
        NotAnIntegerError: if it is not an int (a bool, a float, a str).
        InvalidArgumentError: if it is negative or beyond 64 bits (Redis's "must be positive").
    """
    if type(count) is not int:
        raise NotAnIntegerError()
    if not 0 <= count <= INT64_MAX:
        raise InvalidArgumentError("ERR value is out of range, must be positive")
    return count


def normalize_key(key: str) -> str:
    r"""Spell a non-ASCII key as a server stores it: the bytes its UTF-8 (surrogate escapes
    standing for raw bytes) makes, read back the way the redis driver reads keys.

    ``"\udcc3\udca9"`` (the escapes of the UTF-8 of "é") becomes ``"é"``, as on a server.

    Raises:
        InvalidArgumentError: for a lone surrogate that stands for no byte, which no server can
            store (the redis driver could not encode it either).
    """
    try:
        raw = key.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise InvalidArgumentError(
            f"key {key!r} cannot be encoded as UTF-8 (it holds a lone surrogate)"
        ) from None
    return raw.decode("utf-8", "surrogateescape")


def parse_int(raw: str | bytes) -> int:
    """Parse a stored value strictly as Redis does before INCR/DECR.

    Raises:
        NotAnIntegerError: for anything but a canonical 64-bit signed decimal.
    """
    text = raw.decode("ascii", "replace") if isinstance(raw, bytes) else raw
    if _STRICT_INT.match(text) is None:
        raise NotAnIntegerError()
    number = int(text)
    if not INT64_MIN <= number <= INT64_MAX:
        raise NotAnIntegerError()
    return number


def check_amount(amount: object) -> int:
    """Validate an INCRBY/DECRBY amount: a 64-bit signed ``int`` (Redis's range check).

    Raises:
        NotAnIntegerError: if ``amount`` is not an int or is out of range.
    """
    if type(amount) is not int or not INT64_MIN <= amount <= INT64_MAX:
        raise NotAnIntegerError()
    return amount


def add_checked(current: int, amount: int) -> int:
    """Return ``current + amount``.

    Raises:
        IntegerOverflowError: if the sum leaves the 64-bit signed range.
    """
    result = current + amount
    if not INT64_MIN <= result <= INT64_MAX:
        raise IntegerOverflowError()
    return result


def escape_glob(text: str) -> str:
    """Escape the glob characters in ``text`` so a pattern matches it literally (for prefixes)."""
    return _GLOB_SPECIAL.sub(r"\\\1", text)


# -- absolute times ---------------------------------------------------------------------------

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_MS: Final = timedelta(milliseconds=1)


def unix_ms(when: datetime) -> int:
    """A datetime as whole milliseconds since the Unix epoch (truncated toward the past).

    A naive datetime is local time, as :meth:`datetime.timestamp` takes it.
    """
    if when.tzinfo is None:
        when = when.astimezone()
    return (when - _EPOCH) // _ONE_MS


def positive_unix_ms(when: datetime, command: str) -> int:
    """:func:`unix_ms` for PXAT options, which Redis refuses at or before the epoch.

    Raises:
        InvalidArgumentError: if ``when`` is at or before 1970-01-01 UTC (Redis's message).
    """
    ms = unix_ms(when)
    if ms <= 0:
        raise InvalidArgumentError(f"ERR invalid expire time in '{command}' command")
    return ms


def float_amount(amount: object) -> str:
    """Validate an INCRBYFLOAT amount and spell it as sent: an int or a finite float.

    Raises:
        ArgumentTypeError: for anything but an int or a float (a bool, a str).
        InvalidArgumentError: for NaN or an infinity.
    """
    kind = type(amount)
    if kind is float:
        if not math.isfinite(amount):  # type: ignore[arg-type]
            raise InvalidArgumentError(f"amount must be a finite number, not {amount!r}")
        return repr(amount)
    if kind is int:
        return str(amount)
    raise ArgumentTypeError(f"amount must be an int or a float, not {kind.__name__}")
