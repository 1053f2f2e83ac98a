"""Sorted-set commands.

Scores travel as floats (``inf`` allowed, NaN refused as a server refuses it); score bounds are
parsed here into ``(score, exclusive)`` pairs (:func:`score_bound`) and lexicographic bounds are
checked here (:func:`lex_bound`), so both drivers refuse a bad bound alike, when the method is
called.
"""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator, Awaitable, Mapping
from typing import Any, Literal, TypeAlias, overload

from .._codec import Value, check_count, check_int, encode_value
from .._exceptions import ArgumentTypeError, InvalidArgumentError
from ._base import FIRST_KEY, Command, as_float, command, float_or_none, text, text_list
from ._facade import Facade
from .hashes import check_scan_count, scan_words
from .lists import values

__all__ = ["ZSetCommands", "lex_bound", "score_bound"]

ScoreBound: TypeAlias = tuple[float, bool]
"""A parsed score bound: the score, and whether the bound is exclusive."""


_NOT_FLOAT = "ERR value is not a valid float"
_BAD_BOUND = "ERR min or max is not a float"
_BAD_LEX = "ERR min or max not valid string range item"

# What C's strtod reads in full, after leading white space: a decimal or hex number, or
# inf/infinity/nan (any case). Python's float() differs (underscores, trailing white space).
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_HEX = re.compile(r"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?\Z")
_WORD = re.compile(r"[+-]?(?:inf|infinity|nan)\Z", re.IGNORECASE)


def as_score(value: object, message: str = _NOT_FLOAT) -> float:
    """An int or float as the double a server would parse from it.

    Raises:
        InvalidArgumentError: for NaN or an int beyond the double range (``message``).
        ArgumentTypeError: for anything but an int or a float (a bool, a str).
    """
    if type(value) is float:
        if math.isnan(value):
            raise InvalidArgumentError(message)
        return value
    if type(value) is int:
        try:
            return float(value)
        except OverflowError:
            raise InvalidArgumentError(message) from None
    raise ArgumentTypeError(f"a score must be an int or a float, not {type(value).__name__}")


def _strtod(word: str) -> float | None:
    """``word`` read as a server's range parser reads it (C strtod, whole word), or None."""
    body = word.lstrip(" \t\n\v\f\r")
    if not body:
        return 0.0 if not word else None  # strtod reads "" as 0 and stops before white space
    if _DECIMAL.match(body) or _WORD.match(body):
        return float(body)
    if _HEX.match(body):
        return float.fromhex(body)
    return None


def score_bound(bound: object) -> ScoreBound:
    """A score bound: a number, or text such as ``"1.5"``, ``"(1.5"`` (exclusive), ``"-inf"``.

    Raises:
        InvalidArgumentError: if it is NaN or text a server does not read as a float
            ("ERR min or max is not a float").
        ArgumentTypeError: for anything but an int, a float or a str.
    """
    if type(bound) is str:
        exclusive = bound.startswith("(")
        value = _strtod(bound[1:] if exclusive else bound)
        if value is None or math.isnan(value):
            raise InvalidArgumentError(_BAD_BOUND)
        return value, exclusive
    if type(bound) is int:
        # Beyond the double range, strtod gives an infinity (math.copysign would overflow).
        return (
            float(bound) if abs(bound) < 2**1024 else (math.inf if bound > 0 else -math.inf)
        ), False
    if type(bound) is float:
        if math.isnan(bound):
            raise InvalidArgumentError(_BAD_BOUND)
        return bound, False
    raise ArgumentTypeError(f"a score bound must be a number or a str, not {type(bound).__name__}")


def lex_bound(bound: object) -> str | bytes:
    """A lexicographic bound: ``"[a"`` (inclusive), ``"(a"`` (exclusive), ``"-"`` or ``"+"``.

    Raises:
        InvalidArgumentError: for anything else ("ERR min or max not valid string range
            item").
    """
    if isinstance(bound, bytes):
        bound = bytes(bound)
        if bound in (b"-", b"+") or bound[:1] in (b"[", b"("):
            return bound
    elif isinstance(bound, str) and (bound in ("-", "+") or bound[:1] in ("[", "(")):
        return bound
    raise InvalidArgumentError(_BAD_LEX)


def _score_word(bound: ScoreBound) -> str:
    value, exclusive = bound
    return f"({value!r}" if exclusive else repr(value)


def _decode_pairs(raw: list[Any]) -> list[tuple[str, float]]:
    """Member-score pairs: a list of pairs (RESP3), or one flat list (RESP2, ZSCAN, and a
    single ZPOPMIN/ZPOPMAX pair in RESP3)."""
    if raw and type(raw[0]) is list:
        return [(text(member), float(score)) for member, score in raw]
    return [(text(raw[i]), float(raw[i + 1])) for i in range(0, len(raw), 2)]


def _limit(offset: int | None, count: int | None) -> tuple[Any, ...]:
    return () if offset is None else ("LIMIT", offset, count)


def withscores_word(withscores: bool) -> tuple[str, ...]:
    return ("WITHSCORES",) if withscores else ()


def _encode_zadd(
    key: str, pairs: list[tuple[str | bytes, float]], options: tuple[str, ...]
) -> tuple[Any, ...]:
    words: list[Any] = ["ZADD", key, *options]
    for member, score in pairs:
        words += (score, member)
    return tuple(words)


def _encode_zrange(key: str, start: int, stop: int, rev: bool, withscores: bool) -> tuple[Any, ...]:
    return ("ZRANGE", key, start, stop, *(("REV",) if rev else ()), *withscores_word(withscores))


def _encode_by_score(
    key: str,
    low: ScoreBound,
    high: ScoreBound,
    rev: bool,
    offset: int | None,
    count: int | None,
    withscores: bool,
) -> tuple[Any, ...]:
    name, first, second = ("ZREVRANGEBYSCORE", high, low) if rev else ("ZRANGEBYSCORE", low, high)
    words = (name, key, _score_word(first), _score_word(second))
    return (*words, *withscores_word(withscores), *_limit(offset, count))


def _encode_by_lex(
    key: str, low: str | bytes, high: str | bytes, rev: bool, offset: int | None, count: int | None
) -> tuple[Any, ...]:
    words = ("ZREVRANGEBYLEX", key, high, low) if rev else ("ZRANGEBYLEX", key, low, high)
    return (*words, *_limit(offset, count))


def _bounds_words(name: str, word: Any) -> Any:
    def encode(key: str, low: Any, high: Any) -> tuple[Any, ...]:
        return (name, key, word(low), word(high))

    return encode


def _same(word: Any) -> Any:
    return word


def _encode_pop(name: str) -> Any:
    def encode(key: str, count: int | None) -> tuple[Any, ...]:
        return (name, key) if count is None else (name, key, count)

    return encode


def _decode_zscan(raw: list[Any]) -> tuple[int, list[tuple[str, float]]]:
    cursor, flat = raw
    return int(cursor), _decode_pairs(flat)


def range_specs(name: str, encode: Any, keys: Any = FIRST_KEY) -> tuple[Command, Command]:
    """Specs for a range command without and with WITHSCORES (the arguments say which)."""
    plain = Command(name, readonly=True, encode=encode, decode=text_list, keys=keys)
    scored = Command(name, readonly=True, encode=encode, decode=_decode_pairs, keys=keys)
    return plain, scored


ZADD = Command("ZADD", encode=_encode_zadd)
ZINCRBY = Command("ZINCRBY", decode=as_float)
ZSCORE = Command("ZSCORE", readonly=True, decode=float_or_none)
ZMSCORE = Command(
    "ZMSCORE",
    readonly=True,
    encode=lambda key, members: ("ZMSCORE", key, *members),
    decode=lambda raw: [float_or_none(item) for item in raw],
)
ZRANK = Command("ZRANK", readonly=True)
ZREVRANK = Command("ZREVRANK", readonly=True)
ZCARD = Command("ZCARD", readonly=True)
ZRANGE, ZRANGE_SCORED = range_specs("ZRANGE", _encode_zrange)
ZRANGEBYSCORE, ZRANGEBYSCORE_SCORED = range_specs("ZRANGEBYSCORE", _encode_by_score)
ZRANGEBYLEX = Command("ZRANGEBYLEX", readonly=True, encode=_encode_by_lex, decode=text_list)
ZCOUNT = Command("ZCOUNT", readonly=True, encode=_bounds_words("ZCOUNT", _score_word))
ZLEXCOUNT = Command("ZLEXCOUNT", readonly=True, encode=_bounds_words("ZLEXCOUNT", _same))
ZREM = Command("ZREM", encode=lambda key, members: ("ZREM", key, *members))
ZREMRANGEBYSCORE = Command(
    "ZREMRANGEBYSCORE", encode=_bounds_words("ZREMRANGEBYSCORE", _score_word)
)
ZREMRANGEBYLEX = Command("ZREMRANGEBYLEX", encode=_bounds_words("ZREMRANGEBYLEX", _same))
ZREMRANGEBYRANK = Command("ZREMRANGEBYRANK")
ZPOPMIN = Command("ZPOPMIN", encode=_encode_pop("ZPOPMIN"), decode=_decode_pairs)
ZPOPMAX = Command("ZPOPMAX", encode=_encode_pop("ZPOPMAX"), decode=_decode_pairs)
ZSCAN = Command("ZSCAN", readonly=True, encode=scan_words("ZSCAN"), decode=_decode_zscan)
"""One step of a sorted-set scan, as :data:`aiokv.commands.hashes.HSCAN`."""


def _zadd_options(nx: bool, xx: bool, gt: bool, lt: bool, ch: bool) -> tuple[str, ...]:
    if nx and xx:
        raise InvalidArgumentError("ERR XX and NX options at the same time are not compatible")
    if (gt and lt) or (nx and (gt or lt)):
        raise InvalidArgumentError(
            "ERR GT, LT, and/or NX options at the same time are not compatible"
        )
    flags = (("NX", nx), ("XX", xx), ("GT", gt), ("LT", lt), ("CH", ch))
    return tuple(word for word, on in flags if on)


def _limit_args(offset: int | None, count: int | None) -> tuple[int | None, int | None]:
    """LIMIT's arguments: both None when neither is given, else ``offset`` (default 0) and
    ``count`` (default -1, no limit)."""
    if offset is None and count is None:
        return None, None
    return (0 if offset is None else check_int(offset)), (-1 if count is None else check_int(count))


def _members(mapping: Mapping[str, float] | Mapping[bytes, float]) -> list[tuple[Any, float]]:
    if not mapping:
        raise InvalidArgumentError("ERR wrong number of arguments for 'zadd' command")
    return [(encode_value(member), as_score(score)) for member, score in mapping.items()]


class ZSetCommands(Facade):
    @command
    def zadd(
        self,
        key: str,
        mapping: Mapping[str, float] | Mapping[bytes, float],
        *,
        nx: bool = False,
        xx: bool = False,
        gt: bool = False,
        lt: bool = False,
        ch: bool = False,
    ) -> Awaitable[int]:
        """Add members with their scores to the sorted set at ``key`` (created if needed), or
        update the scores of members already there.

        ``nx``: only add new members; ``xx``: only update existing ones; ``gt``/``lt``: only
        update a score to a greater/lesser one (new members are still added); ``ch``: count
        the members whose score changed as well as the ones added.

        Returns:
            The number of members added (plus the number updated, with ``ch``).

        Raises:
            InvalidArgumentError: for an empty ``mapping``, a NaN score, or incompatible
                flags (``nx`` with ``xx``, ``gt`` or ``lt``; ``gt`` with ``lt``).
            ArgumentTypeError: if a score is not an int or a float.
            WrongTypeError: if the key holds another type.
        """
        options = _zadd_options(nx, xx, gt, lt, ch)
        return self._run[ZADD](self._key(key), _members(mapping), options)

    @command
    def zincrby(self, key: str, amount: float, member: Value) -> Awaitable[float]:
        """Add ``amount`` to the score of ``member`` (a missing key or member counts from 0).

        Returns:
            The new score.

        Raises:
            CommandError: if the sum is not a number (``inf`` plus ``-inf``); nothing changes.
            InvalidArgumentError: if ``amount`` is NaN.
            ArgumentTypeError: if ``amount`` is not an int or a float.
            WrongTypeError: if the key holds another type.
        """
        return self._run[ZINCRBY](self._key(key), as_score(amount), encode_value(member))

    @command
    def zscore(self, key: str, member: Value) -> Awaitable[float | None]:
        """The score of ``member``; None for a missing key or member.

        Raises:
            WrongTypeError: if the key holds another type.
        """
        return self._run[ZSCORE](self._key(key), encode_value(member))

    @command
    def zmscore(self, key: str, *members: Value) -> Awaitable[list[float | None]]:
        """The scores of ``members`` in order, None for each missing one (all None for a
        missing key).

        Raises:
            InvalidArgumentError: if no member is given.
            WrongTypeError: if the key holds another type.
        """
        return self._run[ZMSCORE](self._key(key), values(members, "zmscore"))

    @command
    def zrank(self, key: str, member: Value) -> Awaitable[int | None]:
        """The 0-based rank of ``member`` by ascending score (ties by member bytes); None for
        a missing key or member.

        Raises:
            WrongTypeError: if the key holds another type.
        """
        return self._run[ZRANK](self._key(key), encode_value(member))

    @command
    def zrevrank(self, key: str, member: Value) -> Awaitable[int | None]:
        """The 0-based rank of ``member`` by descending score; see :meth:`zrank`."""
        return self._run[ZREVRANK](self._key(key), encode_value(member))

    @command
    def zcard(self, key: str) -> Awaitable[int]:
        """The number of members; 0 for a missing key.

        Raises:
            WrongTypeError: if the key holds another type.
        """
        return self._run[ZCARD](self._key(key))

    @overload
    def zrange(
        self,
        key: str,
        start: int,
        stop: int,
        *,
        withscores: Literal[False] = False,
        rev: bool = False,
    ) -> Awaitable[list[str]]: ...
    @overload
    def zrange(
        self, key: str, start: int, stop: int, *, withscores: Literal[True], rev: bool = False
    ) -> Awaitable[list[tuple[str, float]]]: ...
    @command
    def zrange(
        self, key: str, start: int, stop: int, *, withscores: bool = False, rev: bool = False
    ) -> Awaitable[list[str] | list[tuple[str, float]]]:
        """The members at ranks ``start`` to ``stop`` inclusive (negative ranks count from the
        end, as in :meth:`lrange`), by ascending score, or descending with ``rev``.

        Returns:
            The members, or ``(member, score)`` pairs with ``withscores``; [] for a missing
            key or an empty range.

        Raises:
            NotAnIntegerError: if ``start`` or ``stop`` is not a 64-bit int.
            WrongTypeError: if the key holds another type.
        """
        spec = ZRANGE_SCORED if withscores else ZRANGE
        return self._run[spec](
            self._key(key), check_int(start), check_int(stop), bool(rev), bool(withscores)
        )

    def _by_score(
        self,
        key: str,
        low: object,
        high: object,
        rev: bool,
        withscores: bool,
        offset: int | None,
        count: int | None,
    ) -> Awaitable[Any]:
        spec = ZRANGEBYSCORE_SCORED if withscores else ZRANGEBYSCORE
        first, number = _limit_args(offset, count)
        return self._run[spec](
            self._key(key), score_bound(low), score_bound(high), rev, first, number, withscores
        )

    @overload
    def zrangebyscore(
        self,
        key: str,
        min: float | str,
        max: float | str,
        *,
        withscores: Literal[False] = False,
        offset: int | None = None,
        count: int | None = None,
    ) -> Awaitable[list[str]]: ...
    @overload
    def zrangebyscore(
        self,
        key: str,
        min: float | str,
        max: float | str,
        *,
        withscores: Literal[True],
        offset: int | None = None,
        count: int | None = None,
    ) -> Awaitable[list[tuple[str, float]]]: ...
    @command
    def zrangebyscore(
        self,
        key: str,
        min: float | str,
        max: float | str,
        *,
        withscores: bool = False,
        offset: int | None = None,
        count: int | None = None,
    ) -> Awaitable[list[str] | list[tuple[str, float]]]:
        """The members whose score is between ``min`` and ``max``, by ascending score.

        A bound is a number or text: ``"1.5"``, ``"(1.5"`` (exclusive), ``"-inf"``,
        ``"+inf"``. ``offset`` skips that many matches first (a negative one gives []);
        ``count`` returns at most that many (a negative one: all the rest).

        Returns:
            The members, or ``(member, score)`` pairs with ``withscores``; [] for a missing
            key.

        Raises:
            InvalidArgumentError: if a bound is NaN or text that is not a float ("ERR min or
                max is not a float").
            NotAnIntegerError: if ``offset`` or ``count`` is not a 64-bit int.
            WrongTypeError: if the key holds another type.
        """
        return self._by_score(key, min, max, False, bool(withscores), offset, count)

    @overload
    def zrevrangebyscore(
        self,
        key: str,
        max: float | str,
        min: float | str,
        *,
        withscores: Literal[False] = False,
        offset: int | None = None,
        count: int | None = None,
    ) -> Awaitable[list[str]]: ...
    @overload
    def zrevrangebyscore(
        self,
        key: str,
        max: float | str,
        min: float | str,
        *,
        withscores: Literal[True],
        offset: int | None = None,
        count: int | None = None,
    ) -> Awaitable[list[tuple[str, float]]]: ...
    @command
    def zrevrangebyscore(
        self,
        key: str,
        max: float | str,
        min: float | str,
        *,
        withscores: bool = False,
        offset: int | None = None,
        count: int | None = None,
    ) -> Awaitable[list[str] | list[tuple[str, float]]]:
        """:meth:`zrangebyscore` by descending score: note ``max`` comes first."""
        return self._by_score(key, min, max, True, bool(withscores), offset, count)

    @command
    def zrangebylex(
        self,
        key: str,
        min: str | bytes,
        max: str | bytes,
        *,
        offset: int | None = None,
        count: int | None = None,
    ) -> Awaitable[list[str]]:
        """The members between ``min`` and ``max`` by their bytes, in a sorted set whose
        members all have the same score (otherwise the result is unspecified, as on a server).

        A bound is ``"[a"`` (inclusive), ``"(a"`` (exclusive), ``"-"`` (before everything) or
        ``"+"`` (after everything). ``offset`` and ``count`` as in :meth:`zrangebyscore`.

        Returns:
            The members; [] for a missing key.

        Raises:
            InvalidArgumentError: for a bound of another form ("ERR min or max not valid
                string range item").
            NotAnIntegerError: if ``offset`` or ``count`` is not a 64-bit int.
            WrongTypeError: if the key holds another type.
        """
        first, number = _limit_args(offset, count)
        return self._run[ZRANGEBYLEX](
            self._key(key), lex_bound(min), lex_bound(max), False, first, number
        )

    @command
    def zrevrangebylex(
        self,
        key: str,
        max: str | bytes,
        min: str | bytes,
        *,
        offset: int | None = None,
        count: int | None = None,
    ) -> Awaitable[list[str]]:
        """:meth:`zrangebylex` in descending order: note ``max`` comes first."""
        first, number = _limit_args(offset, count)
        return self._run[ZRANGEBYLEX](
            self._key(key), lex_bound(min), lex_bound(max), True, first, number
        )

    @command
    def zcount(self, key: str, min: float | str, max: float | str) -> Awaitable[int]:
        """The number of members whose score is between ``min`` and ``max`` (bounds as in
        :meth:`zrangebyscore`); 0 for a missing key.

        Raises:
            InvalidArgumentError: if a bound is NaN or text that is not a float.
            WrongTypeError: if the key holds another type.
        """
        return self._run[ZCOUNT](self._key(key), score_bound(min), score_bound(max))

    @command
    def zlexcount(self, key: str, min: str | bytes, max: str | bytes) -> Awaitable[int]:
        """The number of members between ``min`` and ``max`` (bounds as in
        :meth:`zrangebylex`); 0 for a missing key.

        Raises:
            InvalidArgumentError: for a bound of another form.
            WrongTypeError: if the key holds another type.
        """
        return self._run[ZLEXCOUNT](self._key(key), lex_bound(min), lex_bound(max))

    @command
    def zrem(self, key: str, *members: Value) -> Awaitable[int]:
        """Remove members; return how many were there. The key vanishes with its last member.

        Raises:
            InvalidArgumentError: if no member is given.
            WrongTypeError: if the key holds another type.
        """
        return self._run[ZREM](self._key(key), values(members, "zrem"))

    @command
    def zremrangebyscore(self, key: str, min: float | str, max: float | str) -> Awaitable[int]:
        """Remove the members whose score is between ``min`` and ``max`` (bounds as in
        :meth:`zrangebyscore`); return how many. The key vanishes with its last member.

        Raises:
            InvalidArgumentError: if a bound is NaN or text that is not a float.
            WrongTypeError: if the key holds another type.
        """
        return self._run[ZREMRANGEBYSCORE](self._key(key), score_bound(min), score_bound(max))

    @command
    def zremrangebylex(self, key: str, min: str | bytes, max: str | bytes) -> Awaitable[int]:
        """Remove the members between ``min`` and ``max`` (bounds as in :meth:`zrangebylex`);
        return how many. The key vanishes with its last member.

        Raises:
            InvalidArgumentError: for a bound of another form.
            WrongTypeError: if the key holds another type.
        """
        return self._run[ZREMRANGEBYLEX](self._key(key), lex_bound(min), lex_bound(max))

    @command
    def zremrangebyrank(self, key: str, start: int, stop: int) -> Awaitable[int]:
        """Remove the members at ranks ``start`` to ``stop`` inclusive (as in :meth:`zrange`);
        return how many. The key vanishes with its last member.

        Raises:
            NotAnIntegerError: if ``start`` or ``stop`` is not a 64-bit int.
            WrongTypeError: if the key holds another type.
        """
        return self._run[ZREMRANGEBYRANK](self._key(key), check_int(start), check_int(stop))

    @command
    def zpopmin(self, key: str, count: int | None = None) -> Awaitable[list[tuple[str, float]]]:
        """Remove and return the ``count`` (default 1) members of lowest score, lowest first.
        The key vanishes with its last member.

        Returns:
            ``(member, score)`` pairs; [] for a missing key or a count of 0.

        Raises:
            NotAnIntegerError: if ``count`` is not an int.
            InvalidArgumentError: if ``count`` is negative.
            WrongTypeError: if the key holds another type.
        """
        return self._run[ZPOPMIN](self._key(key), None if count is None else check_count(count))

    @command
    def zpopmax(self, key: str, count: int | None = None) -> Awaitable[list[tuple[str, float]]]:
        """Remove and return the ``count`` (default 1) members of highest score, highest first;
        see :meth:`zpopmin`."""
        return self._run[ZPOPMAX](self._key(key), None if count is None else check_count(count))

    async def zscan_iter(
        self, key: str, match: str = "*", *, count: int = 100
    ) -> AsyncIterator[tuple[str, float]]:
        """Iterate the ``(member, score)`` pairs of the sorted set at ``key`` whose member
        matches the Redis glob ``match``, a batch at a time (ZSCAN), without blocking the
        server.

        A member present for the whole iteration is yielded at least once; on a server it may
        be yielded twice. Members added or removed meanwhile may or may not be yielded, in no
        particular order. ``count`` is a batch-size hint. Nothing is yielded for a missing
        key. Not available in a pipeline (it takes several round trips).

        Raises:
            InvalidArgumentError: if ``count`` is below 1.
            WrongTypeError: if the key holds another type.
        """
        async for item in self._scan_items(ZSCAN, key, match, check_scan_count(count)):
            yield item
