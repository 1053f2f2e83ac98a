"""INCRBYFLOAT as a server computes it: C ``long double`` arithmetic on exact integers.

Redis parses the stored value and the increment with strtold, adds them in C ``long double``
(x87 80-bit: a 64-bit significand, exponents down to 2**-16445 for subnormals) and stores the
sum printed with printf("%.17Lf"), trailing zeros and point removed. Python floats would give
other text ("0.30000000000000004" where Redis stores "0.3"), so the memory driver computes on
exact integers: a long double is kept as (sign, m, q), worth sign * m * 2**q, and every
rounding is to nearest, ties to even, as the hardware and glibc's printf do.
"""

from __future__ import annotations

import re
from typing import TypeAlias

from ._exceptions import CommandError

__all__ = ["add_float_text", "not_a_float"]

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
