"""Redis's ``long double`` arithmetic, for HINCRBYFLOAT, computed exactly.

A server on x86-64 adds HINCRBYFLOAT increments in the x87 80-bit extended format (a 64-bit
significand), not in doubles: ``0.1 + 0.2`` gives ``0.3`` there, and ``1e18 + 0.5`` keeps its
half. Then it stores ``printf("%.17Lf")`` of the sum with the trailing zeros removed. To store
the very text a server stores, the memory driver does the same arithmetic on exact fractions:

* :func:`parse` is Redis's ``string2ld``: glibc's ``strtold`` (decimal or hexadecimal,
  ``inf``/``infinity``; correctly rounded, ties to even), refusing leading spaces, trailing
  bytes, NaN, overflow and an underflow to zero, and texts of 5,120 bytes or more.
* :func:`add` rounds the exact sum to the 80-bit format; :func:`human` is ``ld2string`` in its
  ``LD_STR_HUMAN`` mode: 17 decimals (ties to even, as glibc prints), no trailing zeros, no
  exponent, ``-0`` written ``0``.

Checked against redis-server 7.0.15 by ``tests/test_hashes_more.py``.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Final

__all__ = ["INFINITY", "LongDouble", "add", "human", "parse"]

LongDouble = Fraction | float
"""A finite value as an exact fraction, or an infinity as a float."""

INFINITY: Final = float("inf")

_SIGNIFICAND_BITS: Final = 64
_MIN_NORMAL_EXP: Final = -16382  # the smallest normal number is 2**-16382
_LIMIT: Final = 1 << 16384  # a sum that rounds to 2**16384 or beyond is an infinity
_MAX_CHARS: Final = 5 * 1024  # Redis's MAX_LONG_DOUBLE_CHARS: longer texts are refused
# Decimal exponents past these are certain overflow / underflow to zero (the 80-bit range is
# about 3.6e-4951 to 1.2e4932, and a text has at most 5,120 digits).
_DECIMAL_EXP_BOUND: Final = 12_000
_BINARY_EXP_BOUND: Final = 40_000

_DECIMAL = re.compile(r"([+-]?)(?:(\d+)\.?(\d*)|\.(\d+))(?:[eE]([+-]?\d+))?\Z")
_HEX = re.compile(
    r"([+-]?)0[xX](?:([0-9a-fA-F]+)\.?([0-9a-fA-F]*)|\.([0-9a-fA-F]+))(?:[pP]([+-]?\d+))?\Z"
)
_INFINITE = re.compile(r"([+-]?)(?:inf|infinity)\Z", re.IGNORECASE)


# Python refuses int <-> decimal text conversions past 4,300 digits (CVE-2020-10735); values
# near the 80-bit limit have 4,933 digits, so they are converted in chunks.
_CHUNK: Final = 4000


def _decimal_int(digits: str) -> int:
    number = 0
    for start in range(0, len(digits), _CHUNK):
        chunk = digits[start : start + _CHUNK]
        number = number * 10 ** len(chunk) + int(chunk)
    return number


def _decimal_text(number: int) -> str:
    if number < 10**_CHUNK:
        return str(number)
    high, low = divmod(number, 10**_CHUNK)
    return _decimal_text(high) + f"{low:0{_CHUNK}d}"


def _round(exact: Fraction) -> LongDouble:
    """``exact`` rounded to the nearest 80-bit extended value (ties to even), or an infinity
    if it overflows."""
    if exact == 0:
        return exact
    size = abs(exact)
    num, den = size.numerator, size.denominator
    exp = num.bit_length() - den.bit_length()  # floor(log2(size)) or one more
    if (num < den << exp) if exp >= 0 else (num << -exp < den):
        exp -= 1
    quantum = max(exp, _MIN_NORMAL_EXP) - (_SIGNIFICAND_BITS - 1)
    scaled = size * (1 << -quantum) if quantum < 0 else size / (1 << quantum)
    units = round(scaled)  # Fraction.__round__ rounds ties to even
    rounded = Fraction(units, 1 << -quantum) if quantum < 0 else Fraction(units << quantum)
    if rounded >= _LIMIT:
        return INFINITY if exact > 0 else -INFINITY
    return rounded if exact > 0 else -rounded


def _exact(text: str) -> tuple[str, Fraction] | None:
    """The sign and exact value a finite text spells, or None if it is not a number."""
    found = _DECIMAL.match(text)
    if found is not None:
        sign, whole, fraction, only_fraction, exponent = found.groups()
        digits = (whole or "") + (fraction or only_fraction or "")
        shift = int(exponent or 0) - len(fraction or only_fraction or "")
        base = 10
    else:
        found = _HEX.match(text)
        if found is None:
            return None
        sign, whole, fraction, only_fraction, exponent = found.groups()
        digits = (whole or "") + (fraction or only_fraction or "")
        shift = int(exponent or 0) - 4 * len(fraction or only_fraction or "")
        base = 2
    mantissa = int(digits, 16) if base == 2 else _decimal_int(digits)
    if mantissa == 0:
        return sign, Fraction(0)
    # Far beyond the 80-bit range either way: skip building a gigantic power.
    bound = _BINARY_EXP_BOUND if base == 2 else _DECIMAL_EXP_BOUND
    if shift > bound:
        return sign, Fraction(_LIMIT)
    if shift < -bound:
        return sign, Fraction(1, _LIMIT * _LIMIT)
    scale = Fraction(base) ** shift
    return sign, mantissa * scale


def parse(raw: str | bytes) -> LongDouble | None:
    """Redis's ``string2ld``: the value of ``raw``, or None where the server refuses it."""
    data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogateescape")
    if not data or len(data) >= _MAX_CHARS:
        return None
    if b"\0" in data:
        return None  # the server reads the whole length: a NUL ends no number
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return None
    infinite = _INFINITE.match(text)
    if infinite is not None:
        return -INFINITY if infinite.group(1) == "-" else INFINITY
    parsed = _exact(text)
    if parsed is None:
        return None
    sign, exact = parsed
    value = _round(exact)
    if isinstance(value, float) or (value == 0 and exact != 0):
        return None  # ERANGE: overflow, or an underflow to zero
    return -value if sign == "-" else value


def add(left: LongDouble, right: LongDouble) -> LongDouble:
    """The 80-bit sum; an infinity (or NaN, for opposite infinities) if it leaves the range."""
    if isinstance(left, float):
        if isinstance(right, float) and right != left:
            return float("nan")
        return left
    if isinstance(right, float):
        return right
    return _round(left + right)


def human(value: Fraction) -> str:
    """``ld2string(value, LD_STR_HUMAN)``: 17 decimals, trailing zeros and ``-0`` removed."""
    units = round(abs(value) * 10**17)  # ties to even, as glibc's printf
    whole, decimals = divmod(units, 10**17)
    text = _decimal_text(whole)
    if decimals:
        text += "." + f"{decimals:017d}".rstrip("0")
    if value < 0 and units:
        text = "-" + text
    return text
