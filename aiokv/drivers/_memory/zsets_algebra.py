"""Memory handlers for sorted-set algebra (:mod:`aiokv.commands.zsets_algebra`)."""

from __future__ import annotations

import builtins
import math
from collections.abc import Sequence
from typing import Any

from ..._exceptions import WrongTypeError
from ...commands import zsets_algebra as spec
from .sortedset import SortedSet, sort_key
from .store import handles
from .waiting import WaitingRoom
from .zsets import reply


def _weighted(score: float, weight: float) -> float:
    product = score * weight
    return 0.0 if math.isnan(product) else product


def _aggregate(total: float, score: float, how: str | None) -> float:
    if how is None or how == "SUM":
        total += score
        return 0.0 if math.isnan(total) else total  # inf + -inf counts as 0, as on a server
    return min(total, score) if how == "MIN" else max(total, score)


class ZSetAlgebraHandlers(WaitingRoom):
    def _scored(self, keys: Sequence[str]) -> list[dict[str, float]]:
        """The scores at ``keys`` (a set's members score 1; a missing key is empty), every
        key's type checked first."""
        found = [self._lookup(key) for key in keys]
        sources: list[dict[str, float]] = []
        for key, value in zip(keys, found, strict=True):
            if value is None:
                sources.append({})
                continue
            if type(value) is SortedSet:
                sources.append(value.scores)
            elif type(value) is builtins.set:
                sources.append(dict.fromkeys(map(sort_key, value), 1.0))
            else:
                raise WrongTypeError()
            self._touch(key)
        return sources

    def _combine(
        self,
        op: str,
        keys: Sequence[str],
        weights: Sequence[float] | None,
        how: str | None,
    ) -> dict[str, float]:
        sources = self._scored(keys)
        if op == "DIFF":
            base, *rest = sources
            return {k: s for k, s in base.items() if not any(k in other for other in rest)}
        weighted = list(zip(sources, weights or [1.0] * len(sources), strict=True))
        weighted.sort(key=lambda pair: len(pair[0]))  # smallest first, as a server does
        result: dict[str, float] = {}
        if op == "UNION":
            for scores, weight in weighted:
                for name, score in scores.items():
                    value = _weighted(score, weight)
                    total = result.get(name)
                    result[name] = value if total is None else _aggregate(total, value, how)
            return result
        (smallest, weight), *others = weighted
        for name, score in smallest.items():
            total = _weighted(score, weight)
            for scores, other_weight in others:
                other = scores.get(name)
                if other is None:
                    break
                total = _aggregate(total, _weighted(other, other_weight), how)
            else:
                result[name] = total
        return result

    def _algebra(
        self,
        op: str,
        keys: Sequence[str],
        weights: Sequence[float] | None,
        how: str | None,
        withscores: bool,
    ) -> list[Any]:
        result = self._combine(op, keys, weights, how)
        return reply(sorted((score, name) for name, score in result.items()), False, withscores)

    @handles(spec.ZUNION)
    @handles(spec.ZUNION_SCORED)
    async def zunion(
        self, keys: Sequence[str], weights: Any, how: str | None, withscores: bool
    ) -> list[Any]:
        return self._algebra("UNION", keys, weights, how, withscores)

    @handles(spec.ZINTER)
    @handles(spec.ZINTER_SCORED)
    async def zinter(
        self, keys: Sequence[str], weights: Any, how: str | None, withscores: bool
    ) -> list[Any]:
        return self._algebra("INTER", keys, weights, how, withscores)

    @handles(spec.ZDIFF)
    @handles(spec.ZDIFF_SCORED)
    async def zdiff(
        self, keys: Sequence[str], weights: Any, how: str | None, withscores: bool
    ) -> list[Any]:
        return self._algebra("DIFF", keys, weights, how, withscores)

    def _store(
        self,
        op: str,
        destination: str,
        keys: Sequence[str],
        weights: Sequence[float] | None,
        how: str | None,
    ) -> int:
        """Replace whatever ``destination`` holds (TTL included) by the result; an empty
        result deletes it."""
        result = self._combine(op, keys, weights, how)
        if self._lookup(destination) is not None:
            self._remove(destination)
        size = len(result)
        if result:
            self._create(destination, SortedSet.build(result))  # takes ``result`` over
            self._pushed(destination, None)  # BZPOPMIN waiters on it are served
        return size

    @handles(spec.ZUNIONSTORE)
    async def zunionstore(
        self, destination: str, keys: Sequence[str], weights: Any, how: str | None
    ) -> int:
        return self._store("UNION", destination, keys, weights, how)

    @handles(spec.ZINTERSTORE)
    async def zinterstore(
        self, destination: str, keys: Sequence[str], weights: Any, how: str | None
    ) -> int:
        return self._store("INTER", destination, keys, weights, how)

    @handles(spec.ZDIFFSTORE)
    async def zdiffstore(
        self, destination: str, keys: Sequence[str], weights: Any, how: str | None
    ) -> int:
        return self._store("DIFF", destination, keys, weights, how)
