"""Memory handlers for the HyperLogLog commands (:mod:`aiokv.commands.hyperloglog`).

The sketch is Redis's own, so estimates match a server's exactly for the same elements: each
element is hashed with MurmurHash64A (seed ``0xadc83b19``); the low 14 bits pick one of 16,384
registers and the register keeps the largest "position of the first 1 bit" seen in the other
50 bits (at most 51). The count is Redis 7's estimator (Ertl's improved raw estimator, with its
small- and large-range corrections built in), whose standard error is 1.04/sqrt(16384) = 0.81%.

Registers are a dict (index -> value) while few are set, and a 16 KiB ``bytearray`` past
``SPARSE_MAX``; the estimate depends only on the register values, so both forms give the same
count, and the count of a merge is the count of the union.

A HyperLogLog is a string to Redis: TYPE answers "string" and SET replaces it. Its bytes are a
server's encoding detail, so here the other string commands (GET, INCR...) raise WrongTypeError
on it, where a server would work on its encoded bytes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from ..._exceptions import InvalidArgumentError, WrongTypeError
from ...commands import hyperloglog as spec
from .store import TYPE_NAMES, Store, handles

__all__ = ["HyperLogLog", "HyperLogLogHandlers", "murmur64a"]

REGISTERS = 16384  # 2**14
_P = 14
_Q = 64 - _P  # bits left for the run of zeros: register values go up to _Q + 1
SPARSE_MAX = 256  # set registers kept in a dict before switching to the bytearray
_ALPHA_INF = 0.721347520444481703680  # 1 / (2 ln 2)

_M64 = (1 << 64) - 1
_MUL = 0xC6A4A7935BD1E995
_SEED = 0xADC83B19

NOT_HLL = "WRONGTYPE Key is not a valid HyperLogLog string value."


def murmur64a(data: bytes, seed: int = _SEED) -> int:
    """MurmurHash64A of ``data``, as Redis's hyperloglog.c computes it on a little-endian host."""
    n = len(data)
    h = (seed ^ (n * _MUL)) & _M64
    end = n - (n & 7)
    for i in range(0, end, 8):
        k = (int.from_bytes(data[i : i + 8], "little") * _MUL) & _M64
        k = ((k ^ (k >> 47)) * _MUL) & _M64
        h = ((h ^ k) * _MUL) & _M64
    if n & 7:
        h = ((h ^ int.from_bytes(data[end:], "little")) * _MUL) & _M64
    h = ((h ^ (h >> 47)) * _MUL) & _M64
    return h ^ (h >> 47)


def _register(element: bytes) -> tuple[int, int]:
    """The register an element lands in, and the value it offers (1 + trailing zeros)."""
    h = murmur64a(element)
    rest = (h >> _P) | (1 << _Q)  # the guard bit caps the value at _Q + 1
    return h & (REGISTERS - 1), (rest & -rest).bit_length()


def _tau(x: float) -> float:
    if x == 0.0 or x == 1.0:
        return 0.0
    y = 1.0
    z = 1.0 - x
    while True:
        x = math.sqrt(x)
        before = z
        y *= 0.5
        z -= math.pow(1.0 - x, 2) * y
        if before == z:
            return z / 3


def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y = 1.0
    z = x
    while True:
        x *= x
        before = z
        z += x * y
        y += y
        if before == z:
            return z


def estimate(histogram: Sequence[int]) -> int:
    """Redis 7's ``hllCount`` from the histogram of register values (index 0 to ``_Q + 1``)."""
    m = float(REGISTERS)
    z = m * _tau((m - histogram[_Q + 1]) / m)
    for j in range(_Q, 0, -1):
        z += histogram[j]
        z *= 0.5
    z += m * _sigma(histogram[0] / m)
    e = _ALPHA_INF * m * m / z
    whole = math.floor(e)
    return int(whole + 1 if e - whole >= 0.5 else whole)  # llroundl: half away from zero


Registers = dict[int, int] | bytearray


def _histogram(registers: Registers) -> list[int]:
    if isinstance(registers, bytearray):
        return [registers.count(v) for v in range(_Q + 2)]
    histogram = [0] * (_Q + 2)
    histogram[0] = REGISTERS - len(registers)
    for value in registers.values():
        histogram[value] += 1
    return histogram


def _dense(registers: Registers) -> bytearray:
    if isinstance(registers, bytearray):
        return registers
    dense = bytearray(REGISTERS)
    for index, value in registers.items():
        dense[index] = value
    return dense


def _max_into(target: bytearray, registers: Registers) -> bytearray:
    if isinstance(registers, bytearray):
        return bytearray(map(max, target, registers))
    for index, value in registers.items():
        if value > target[index]:
            target[index] = value
    return target


class HyperLogLog:
    """One key's sketch; ``card`` caches the count until the registers change."""

    __slots__ = ("card", "registers")

    def __init__(self) -> None:
        self.registers: Registers = {}
        self.card: int | None = None  # None: stale (a server's "invalid cache" bit)

    def add(self, offers: Iterable[tuple[int, int]]) -> bool:
        """Raise registers to the offered values; True if any register changed."""
        changed = False
        for index, value in offers:
            registers = self.registers
            if type(registers) is dict:
                if value > registers.get(index, 0):
                    registers[index] = value
                    changed = True
                    if len(registers) > SPARSE_MAX:
                        self.registers = _dense(registers)
            elif value > registers[index]:
                registers[index] = value
                changed = True
        if changed:
            self.card = None
        return changed

    def merge(self, registers: Registers) -> None:
        """Raise each register to the other sketch's value for it."""
        mine = self.registers
        if type(mine) is dict and type(registers) is dict:
            for index, value in registers.items():
                if value > mine.get(index, 0):
                    mine[index] = value
            if len(mine) > SPARSE_MAX:
                self.registers = _dense(mine)
        else:
            self.registers = _max_into(_dense(mine), registers)
        self.card = None

    def count(self) -> int:
        if self.card is None:
            self.card = estimate(_histogram(self.registers))
        return self.card


TYPE_NAMES[HyperLogLog] = "string"  # Redis stores a HyperLogLog in a string


def _raw(element: str | bytes) -> bytes:
    if type(element) is bytes:
        return element
    try:
        return element.encode("utf-8", "surrogateescape")  # type: ignore[union-attr]
    except UnicodeEncodeError:
        raise InvalidArgumentError(
            f"{element!r} cannot be encoded as UTF-8 (it holds a lone surrogate); "
            "no server can store it"
        ) from None


class HyperLogLogHandlers(Store):
    def _hll(self, key: str) -> HyperLogLog | None:
        value = self._lookup(key)
        if value is None or type(value) is HyperLogLog:
            return value
        if type(value) is str or type(value) is bytes:
            raise WrongTypeError(NOT_HLL)
        raise WrongTypeError()

    @handles(spec.PFADD)
    async def pfadd(self, key: str, elements: Sequence[str | bytes]) -> bool:
        offers = [_register(_raw(e)) for e in elements]
        hll = self._hll(key)
        if hll is None:
            hll = HyperLogLog()
            hll.add(offers)
            self._create(key, hll)
            return True
        self._touch(key)
        return hll.add(offers)

    @handles(spec.PFCOUNT)
    async def pfcount(self, keys: Sequence[str]) -> int:
        if len(keys) == 1:
            hll = self._hll(keys[0])
            if hll is None:
                return 0
            self._touch(keys[0])
            if hll.card is None and self._watches:
                # A server rewrites the cached count into the string and signals the key as
                # modified, so this aborts a transaction watching it: do the same.
                self.changed(keys[0])
            return hll.count()
        found = [self._hll(key) for key in keys]
        union = bytearray(REGISTERS)
        for hll in found:
            if hll is not None:
                union = _max_into(union, hll.registers)
        return estimate(_histogram(union))

    @handles(spec.PFMERGE)
    async def pfmerge(self, dest: str, sources: Sequence[str]) -> None:
        # A server reads dest as the first source, so its type is checked first.
        found = [self._hll(key) for key in (dest, *sources)]
        target = found[0]
        if target is None:
            target = HyperLogLog()
            self._create(dest, target)
        else:
            self._touch(dest)
        for hll in found[1:]:
            if hll is not None and hll is not target:
                target.merge(hll.registers)
        target.card = None
