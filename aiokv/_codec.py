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
    CommandError,
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
    """Spell a non-ASCII key as a server stores it: the bytes its UTF-8 (surrogate escapes
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


# -- INCRBYFLOAT: C long double arithmetic ----------------------------------------------------
#
# Redis parses the stored value and the increment with strtold, adds them in C ``long double``
# (x87 80-bit: a 64-bit significand, exponents down to 2**-16445 for subnormals) and stores the
# sum printed with printf("%.17Lf"), trailing zeros and point removed. Python floats would give
# other text ("0.30000000000000004" where Redis stores "0.3"), so the memory driver computes on
# exact integers: a long double is kept as (sign, m, q), worth sign * m * 2**q.

_LD_BITS = 64
_LD_MIN_Q = -16445  # the exponent of the least subnormal
_LD_MAX_BITS = 16384  # values at or above 2**16384 overflow to infinity
_MAX_FLOAT_CHARS = 5 * 1024  # Redis's MAX_LONG_DOUBLE_CHARS: longer texts are refused
_DIGIT_CHUNK = 4000  # below Python's int/str conversion limit (sys.get_int_max_str_digits)

_STRTOLD = re.compile(
    r"(?P<sign>[+-]?)(?:"
    r"0x(?P<hex>[0-9a-f]+\.?[0-9a-f]*|\.[0-9a-f]+)(?:p(?P<hexp>[+-]?[0-9]+))?"
    r"|(?P<dec>[0-9]+\.?[0-9]*|\.[0-9]+)(?:e(?P<decexp>[+-]?[0-9]+))?"
    r"|(?P<inf>inf(?:inity)?)"
    r")\Z",
    re.IGNORECASE,
)

_LongDouble: TypeAlias = "tuple[int, int, int] | None"
"""(sign, m, q) for sign * m * 2**q, with m == 0 for zero; None for an infinity."""


class _Refused(Exception):
    """The text is not a float strtold reads whole (or it overflows, or underflows to 0)."""


def not_a_float() -> CommandError:
    return CommandError("ERR value is not a valid float")


def _int_of_digits(digits: str) -> int:
    number = 0
    for start in range(0, len(digits), _DIGIT_CHUNK):
        chunk = digits[start : start + _DIGIT_CHUNK]
        number = number * 10 ** len(chunk) + int(chunk)
    return number


def _digits_of_int(number: int) -> str:
    if number < 10**_DIGIT_CHUNK:
        return str(number)
    high, low = divmod(number, 10**_DIGIT_CHUNK)
    return _digits_of_int(high) + _digits_of_int(low).rjust(_DIGIT_CHUNK, "0")


def _exponent(text: str | None) -> int:
    if not text:
        return 0
    if len(text.lstrip("+-0")) > 9:  # far beyond any long double: keep only the direction
        return -(10**9) if text.startswith("-") else 10**9
    return int(text)


def _round_ld(sign: int, num: int, den: int) -> _LongDouble:
    """The long double nearest to ``sign * num / den`` (ties to even); None on overflow."""
    if num == 0:
        return (sign, 0, 0)
    e = num.bit_length() - den.bit_length()  # now 2**(e-1) < num/den < 2**(e+1)
    if (num << max(0, -e)) < (den << max(0, e)):
        e -= 1  # now 2**e <= num/den < 2**(e+1)
    q = max(e - (_LD_BITS - 1), _LD_MIN_Q)
    if q >= 0:
        m, rest = divmod(num, den << q)
        half = den << q
    else:
        m, rest = divmod(num << -q, den)
        half = den
    if 2 * rest > half or (2 * rest == half and m & 1):
        m += 1
    if m.bit_length() + q > _LD_MAX_BITS:
        return None
    return (sign, m, q)


def _strtold(raw: str | bytes) -> _LongDouble:
    """Read a value or an increment as Redis's string2ld does.

    Raises:
        _Refused: for what Redis answers "value is not a valid float".
    """
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    if not 0 < len(text) < _MAX_FLOAT_CHARS:
        raise _Refused()
    found = _STRTOLD.match(text)
    if found is None:
        raise _Refused()
    sign = -1 if found["sign"] == "-" else 1
    if found["inf"]:
        return None
    if found["hex"] is not None:
        whole, _, fraction = found["hex"].partition(".")
        digits = (whole + fraction).lstrip("0")
        exp2 = _exponent(found["hexp"]) - 4 * len(fraction)
        if not digits:
            return (sign, 0, 0)
        top = 4 * len(digits) + exp2  # the value is below 2**top and at least 2**(top-4)
        if top - 4 >= _LD_MAX_BITS + 1:
            raise _Refused()  # overflow
        if top < _LD_MIN_Q - 1:
            raise _Refused()  # underflow to zero
        number = int(digits, 16)
        value = (
            _round_ld(sign, number << exp2, 1) if exp2 >= 0 else _round_ld(sign, number, 1 << -exp2)
        )
    else:
        whole, _, fraction = found["dec"].partition(".")
        digits = (whole + fraction).lstrip("0")
        exp10 = _exponent(found["decexp"]) - len(fraction)
        if not digits:
            return (sign, 0, 0)
        top = len(digits) + exp10  # the value is below 10**top and at least 10**(top-1)
        if top - 1 >= 4933:
            raise _Refused()  # overflow: the largest long double is about 1.19e4932
        if top < -4951:
            raise _Refused()  # underflow to zero: the least subnormal is about 3.6e-4951
        number = _int_of_digits(digits)
        value = (
            _round_ld(sign, number * 10**exp10, 1)
            if exp10 >= 0
            else _round_ld(sign, number, 10**-exp10)
        )
    if value is None or value[1] == 0:
        raise _Refused()  # ERANGE: overflow, or a nonzero text that rounds to zero
    return value


def _format_ld(value: tuple[int, int, int]) -> str:
    """printf("%.17Lf") of ``value``, trailing zeros and point removed, "-0" as "0"."""
    sign, m, q = value
    scale = 10**17
    if q >= 0:
        scaled = (m << q) * scale
    else:
        scaled, rest = divmod(m * scale, 1 << -q)
        half = 1 << -q
        if 2 * rest > half or (2 * rest == half and scaled & 1):
            scaled += 1
    whole, fraction = divmod(scaled, scale)
    text = _digits_of_int(whole)
    decimals = str(fraction).rjust(17, "0").rstrip("0")
    if decimals:
        text += "." + decimals
    if sign < 0 and text != "0":
        text = "-" + text
    return text


def add_float_text(current: str | bytes | None, amount: str) -> str:
    """INCRBYFLOAT: the text Redis stores for ``current`` (None: missing) plus ``amount``.

    Raises:
        CommandError: "ERR value is not a valid float" if either text is not a float Redis
            reads; "ERR increment would produce NaN or Infinity" for an infinite result.
    """
    try:
        base = (1, 0, 0) if current is None else _strtold(current)
        step = _strtold(amount)
    except _Refused:
        raise not_a_float() from None
    if base is None or step is None:
        raise CommandError("ERR increment would produce NaN or Infinity")
    s1, m1, q1 = base
    s2, m2, q2 = step
    q = min(q1, q2)
    total = s1 * (m1 << (q1 - q)) + s2 * (m2 << (q2 - q))
    sign = -1 if total < 0 else 1
    value = _round_ld(sign, abs(total) << q, 1) if q >= 0 else _round_ld(sign, abs(total), 1 << -q)
    if value is None:
        raise CommandError("ERR increment would produce NaN or Infinity")
    return _format_ld(value)


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
