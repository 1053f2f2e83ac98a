"""Memory handlers for the sorted-set commands (:mod:`aiokv.commands.zsets`).

A sorted set is a :class:`~.sortedset.SortedSet`; members are held there by their sort key
(their bytes' order), and turned back into members on the way out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..._exceptions import CommandError
from ..._glob import compile_glob
from ...commands import zsets as spec
from .hashes import Snapshot
from .sortedset import SortedSet, member_of, sort_key
from .store import handles, text
from .waiting import WaitingRoom

Bound = tuple[float, bool]
Pairs = list[tuple[str, float]]


def _span(size: int, start: int, stop: int) -> tuple[int, int]:
    """Ranks ``start`` to ``stop`` inclusive (negative from the end) as a slice, or (0, 0)."""
    if start < 0:
        start += size
    if stop < 0:
        stop += size
    start = max(start, 0)
    if start > stop or start >= size:
        return 0, 0
    return start, min(stop, size - 1) + 1


def _lex_key(word: str | bytes) -> str:
    """The sort key of a lexicographic bound's value (the word without its ``[`` or ``(``)."""
    if type(word) is bytes:
        return word[1:].decode("latin-1")
    return sort_key(text(word[1:]))


def _lex_start(zset: SortedSet, word: str | bytes) -> int:
    """The first position at or after a lexicographic lower bound."""
    head = word[:1]
    if head in ("-", b"-"):
        return 0
    if head in ("+", b"+"):
        return len(zset)
    return zset.key_index(_lex_key(word), after=head in ("(", b"("))


def _lex_stop(zset: SortedSet, word: str | bytes) -> int:
    """The position just past a lexicographic upper bound."""
    head = word[:1]
    if head in ("+", b"+"):
        return len(zset)
    if head in ("-", b"-"):
        return 0
    return zset.key_index(_lex_key(word), after=head in ("[", b"["))


def _limited(
    start: int, stop: int, rev: bool, offset: int | None, count: int | None
) -> tuple[int, int]:
    """The positions of a range after LIMIT (counted from the top when ``rev``)."""
    if offset is None or count is None:
        return start, stop
    if offset < 0:
        return 0, 0
    if rev:
        top = stop - offset
        return (start if count < 0 else max(start, top - count)), top
    first = start + offset
    return first, (stop if count < 0 else min(stop, first + count))


def reply(entries: list[tuple[float, str]], rev: bool, withscores: bool) -> list[Any]:
    if rev:
        entries.reverse()
    if withscores:
        return [(member_of(key), score) for score, key in entries]
    return [member_of(key) for _, key in entries]


class ZSetHandlers(WaitingRoom):
    """A command that creates a sorted set serves the BZPOPMIN/BZPOPMAX waiters on its key
    (:meth:`~.waiting.WaitingRoom._pushed`); one that adds to an existing set need not: nobody
    waits on a key that has members."""

    def _zset(self, key: str) -> SortedSet | None:
        zset: SortedSet | None = self._typed(key, SortedSet)
        if zset is not None:
            self._touch(key)
        return zset

    def _drop_if_empty(self, key: str, zset: SortedSet) -> None:
        if not zset:
            self._remove(key)

    @handles(spec.ZADD)
    async def zadd(
        self, key: str, pairs: Sequence[tuple[str | bytes, float]], options: tuple[str, ...]
    ) -> int:
        entries = [(sort_key(text(member)), score) for member, score in pairs]
        nx, xx, gt, lt = ("NX" in options), ("XX" in options), ("GT" in options), ("LT" in options)
        zset = self._zset(key)
        created = zset is None
        if zset is None:
            if xx:
                return 0
            zset = SortedSet()
            self._create(key, zset)
        scores = zset.scores
        added = changed = 0
        for name, score in entries:
            current = scores.get(name)
            if current is None:
                if not xx:
                    zset.set(name, score)
                    added += 1
            elif nx or (gt and score <= current) or (lt and score >= current):
                continue
            elif score != current:
                zset.set(name, score)
                changed += 1
        result = added + changed if "CH" in options else added
        return self._pushed(key, result) if created else result

    @handles(spec.ZINCRBY)
    async def zincrby(self, key: str, amount: float, member: str | bytes) -> float:
        name = sort_key(text(member))
        zset = self._zset(key)
        current = None if zset is None else zset.scores.get(name)
        score = amount if current is None else current + amount
        if math.isnan(score):
            raise CommandError("ERR resulting score is not a number (NaN)")
        if zset is None:
            zset = SortedSet()
            self._create(key, zset)
            zset.set(name, score)
            return self._pushed(key, score)
        if score != current:
            zset.set(name, score)
        return score

    @handles(spec.ZSCORE)
    async def zscore(self, key: str, member: str | bytes) -> float | None:
        name = sort_key(text(member))
        zset = self._zset(key)
        return None if zset is None else zset.scores.get(name)

    @handles(spec.ZMSCORE)
    async def zmscore(self, key: str, members: Sequence[str | bytes]) -> list[float | None]:
        names = [sort_key(text(member)) for member in members]
        zset = self._zset(key)
        if zset is None:
            return [None] * len(names)
        return [zset.scores.get(name) for name in names]

    @handles(spec.ZRANK)
    async def zrank(self, key: str, member: str | bytes) -> int | None:
        name = sort_key(text(member))
        zset = self._zset(key)
        return None if zset is None else zset.rank(name)

    @handles(spec.ZREVRANK)
    async def zrevrank(self, key: str, member: str | bytes) -> int | None:
        name = sort_key(text(member))
        zset = self._zset(key)
        rank = None if zset is None else zset.rank(name)
        return None if rank is None else len(zset) - 1 - rank  # type: ignore[arg-type]

    @handles(spec.ZCARD)
    async def zcard(self, key: str) -> int:
        zset: SortedSet | None = self._typed(key, SortedSet)
        return 0 if zset is None else len(zset)

    @handles(spec.ZRANGE)
    @handles(spec.ZRANGE_SCORED)
    async def zrange(
        self, key: str, start: int, stop: int, rev: bool, withscores: bool
    ) -> list[Any]:
        zset = self._zset(key)
        if zset is None:
            return []
        size = len(zset)
        first, last = _span(size, start, stop)
        if rev:
            first, last = size - last, size - first
        return reply(zset.entries(first, last), rev, withscores)

    def _score_span(self, zset: SortedSet, low: Bound, high: Bound) -> tuple[int, int]:
        start = zset.score_index(low[0], after=low[1])
        stop = zset.score_index(high[0], after=not high[1])
        return (start, stop) if start < stop else (0, 0)

    def _lex_span(self, zset: SortedSet, low: str | bytes, high: str | bytes) -> tuple[int, int]:
        start, stop = _lex_start(zset, low), _lex_stop(zset, high)
        return (start, stop) if start < stop else (0, 0)

    @handles(spec.ZRANGEBYSCORE)
    @handles(spec.ZRANGEBYSCORE_SCORED)
    async def zrangebyscore(
        self,
        key: str,
        low: Bound,
        high: Bound,
        rev: bool,
        offset: int | None,
        count: int | None,
        withscores: bool,
    ) -> list[Any]:
        zset = self._zset(key)
        if zset is None:
            return []
        start, stop = _limited(*self._score_span(zset, low, high), rev, offset, count)
        return reply(zset.entries(start, stop), rev, withscores)

    @handles(spec.ZRANGEBYLEX)
    async def zrangebylex(
        self,
        key: str,
        low: str | bytes,
        high: str | bytes,
        rev: bool,
        offset: int | None,
        count: int | None,
    ) -> list[str]:
        zset = self._zset(key)
        if zset is None:
            return []
        start, stop = _limited(*self._lex_span(zset, low, high), rev, offset, count)
        return reply(zset.entries(start, stop), rev, False)

    @handles(spec.ZCOUNT)
    async def zcount(self, key: str, low: Bound, high: Bound) -> int:
        zset = self._zset(key)
        if zset is None:
            return 0
        start, stop = self._score_span(zset, low, high)
        return stop - start

    @handles(spec.ZLEXCOUNT)
    async def zlexcount(self, key: str, low: str | bytes, high: str | bytes) -> int:
        zset = self._zset(key)
        if zset is None:
            return 0
        start, stop = self._lex_span(zset, low, high)
        return stop - start

    @handles(spec.ZREM)
    async def zrem(self, key: str, members: Sequence[str | bytes]) -> int:
        names = [sort_key(text(member)) for member in members]
        zset = self._zset(key)
        if zset is None:
            return 0
        removed = sum(1 for name in names if zset.discard(name))
        self._drop_if_empty(key, zset)
        return removed

    def _remove_span(self, key: str, zset: SortedSet, start: int, stop: int) -> int:
        removed = len(zset.remove_range(start, stop))
        self._drop_if_empty(key, zset)
        return removed

    @handles(spec.ZREMRANGEBYSCORE)
    async def zremrangebyscore(self, key: str, low: Bound, high: Bound) -> int:
        zset = self._zset(key)
        if zset is None:
            return 0
        return self._remove_span(key, zset, *self._score_span(zset, low, high))

    @handles(spec.ZREMRANGEBYLEX)
    async def zremrangebylex(self, key: str, low: str | bytes, high: str | bytes) -> int:
        zset = self._zset(key)
        if zset is None:
            return 0
        return self._remove_span(key, zset, *self._lex_span(zset, low, high))

    @handles(spec.ZREMRANGEBYRANK)
    async def zremrangebyrank(self, key: str, start: int, stop: int) -> int:
        zset = self._zset(key)
        if zset is None:
            return 0
        return self._remove_span(key, zset, *_span(len(zset), start, stop))

    def _zpop(self, key: str, count: int | None, top: bool) -> Pairs:
        zset = self._zset(key)
        if zset is None:
            return []
        size = len(zset)
        taken = min(size, 1 if count is None else count)
        start, stop = (size - taken, size) if top else (0, taken)
        popped = zset.remove_range(start, stop)
        self._drop_if_empty(key, zset)
        return reply(popped, top, True)

    @handles(spec.ZPOPMIN)
    async def zpopmin(self, key: str, count: int | None) -> Pairs:
        return self._zpop(key, count, top=False)

    @handles(spec.ZPOPMAX)
    async def zpopmax(self, key: str, count: int | None) -> Pairs:
        return self._zpop(key, count, top=True)

    @handles(spec.ZSCAN)
    async def zscan(self, key: str, cursor: Any, match: str, count: int) -> tuple[Any, Pairs]:
        zset = self._zset(key)
        if zset is None:
            return 0, []
        snapshot: Snapshot = Snapshot(list(zset.scores)) if cursor == 0 else cursor
        matches = compile_glob(match)
        scores = zset.scores
        pairs = []
        for name in snapshot.batch(count):
            score = scores.get(name)
            if score is not None:
                member = member_of(name)
                if matches(member):
                    pairs.append((member, score))
        return (0 if snapshot.done else snapshot), pairs
