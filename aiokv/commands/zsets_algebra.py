"""Sorted-set algebra: union, intersection and difference, and their store forms."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any, Literal, overload

from .._exceptions import InvalidArgumentError
from ._base import ALL_KEYS, Command, command
from ._facade import Facade
from .zsets import as_score, range_specs, withscores_word

__all__ = ["ZSetAlgebraCommands"]


def _encode_algebra(name: str) -> Any:
    def encode(
        keys: Sequence[str],
        weights: Sequence[float] | None,
        aggregate: str | None,
        withscores: bool,
    ) -> tuple[Any, ...]:
        words: tuple[Any, ...] = (name, len(keys), *keys)
        if weights is not None:
            words += ("WEIGHTS", *weights)
        if aggregate is not None:
            words += ("AGGREGATE", aggregate)
        return (*words, *withscores_word(withscores))

    return encode


def _encode_store(name: str) -> Any:
    algebra = _encode_algebra(name)

    def encode(
        destination: str,
        keys: Sequence[str],
        weights: Sequence[float] | None,
        aggregate: str | None,
    ) -> tuple[Any, ...]:
        return (name, destination, *algebra(keys, weights, aggregate, False)[1:])

    return encode


def _destination_and_sources(args: tuple[Any, ...]) -> Sequence[str]:
    return (args[0], *args[1])


ZUNION, ZUNION_SCORED = range_specs("ZUNION", _encode_algebra("ZUNION"), ALL_KEYS)
ZINTER, ZINTER_SCORED = range_specs("ZINTER", _encode_algebra("ZINTER"), ALL_KEYS)
ZDIFF, ZDIFF_SCORED = range_specs("ZDIFF", _encode_algebra("ZDIFF"), ALL_KEYS)
ZUNIONSTORE = Command(
    "ZUNIONSTORE", encode=_encode_store("ZUNIONSTORE"), keys=_destination_and_sources
)
ZINTERSTORE = Command(
    "ZINTERSTORE", encode=_encode_store("ZINTERSTORE"), keys=_destination_and_sources
)
ZDIFFSTORE = Command(
    "ZDIFFSTORE", encode=_encode_store("ZDIFFSTORE"), keys=_destination_and_sources
)

_AGGREGATES = {"SUM": "SUM", "MIN": "MIN", "MAX": "MAX"}


class ZSetAlgebraCommands(Facade):
    def _zsources(self, keys: tuple[str, ...], name: str) -> list[str]:
        if not keys:
            raise InvalidArgumentError(f"ERR at least 1 input key is needed for '{name}' command")
        return self._keys(keys)

    def _zcombine(
        self,
        keys: tuple[str, ...],
        name: str,
        weights: Sequence[float] | None,
        aggregate: str | None,
    ) -> tuple[list[str], list[float] | None, str | None]:
        sources = self._zsources(keys, name)
        factors = None
        if weights is not None:
            factors = [as_score(w, "ERR weight value is not a float") for w in weights]
            if len(factors) != len(keys):
                raise InvalidArgumentError("ERR syntax error")
        word = None
        if aggregate is not None:
            word = _AGGREGATES.get(aggregate.upper()) if isinstance(aggregate, str) else None
            if word is None:
                raise InvalidArgumentError("ERR syntax error")
        return sources, factors, word

    @overload
    def zunion(
        self,
        *keys: str,
        weights: Sequence[float] | None = None,
        aggregate: Literal["sum", "min", "max"] | None = None,
        withscores: Literal[False] = False,
    ) -> Awaitable[list[str]]: ...
    @overload
    def zunion(
        self,
        *keys: str,
        weights: Sequence[float] | None = None,
        aggregate: Literal["sum", "min", "max"] | None = None,
        withscores: Literal[True],
    ) -> Awaitable[list[tuple[str, float]]]: ...
    @command
    def zunion(
        self,
        *keys: str,
        weights: Sequence[float] | None = None,
        aggregate: Literal["sum", "min", "max"] | None = None,
        withscores: bool = False,
    ) -> Awaitable[list[str] | list[tuple[str, float]]]:
        """The union of the sorted sets (or sets, each member scoring 1) at ``keys``, ordered
        by score; a missing key is empty.

        A member's score is ``aggregate`` (``"sum"``, the default, ``"min"`` or ``"max"``) of
        its scores times the ``weights`` (default 1 each) of the keys holding it; a product
        or sum that is not a number counts as 0, as on a server.

        Returns:
            The members, or ``(member, score)`` pairs with ``withscores``.

        Raises:
            InvalidArgumentError: if no key is given, ``weights`` does not have one weight per
                key or holds NaN, or ``aggregate`` is another word.
            WrongTypeError: if any key holds another type.
        """
        sources, factors, word = self._zcombine(keys, "zunion", weights, aggregate)
        spec = ZUNION_SCORED if withscores else ZUNION
        return self._run[spec](sources, factors, word, bool(withscores))

    @overload
    def zinter(
        self,
        *keys: str,
        weights: Sequence[float] | None = None,
        aggregate: Literal["sum", "min", "max"] | None = None,
        withscores: Literal[False] = False,
    ) -> Awaitable[list[str]]: ...
    @overload
    def zinter(
        self,
        *keys: str,
        weights: Sequence[float] | None = None,
        aggregate: Literal["sum", "min", "max"] | None = None,
        withscores: Literal[True],
    ) -> Awaitable[list[tuple[str, float]]]: ...
    @command
    def zinter(
        self,
        *keys: str,
        weights: Sequence[float] | None = None,
        aggregate: Literal["sum", "min", "max"] | None = None,
        withscores: bool = False,
    ) -> Awaitable[list[str] | list[tuple[str, float]]]:
        """The members in every one of the sorted sets (or sets) at ``keys``; scores and
        errors as in :meth:`zunion`."""
        sources, factors, word = self._zcombine(keys, "zinter", weights, aggregate)
        spec = ZINTER_SCORED if withscores else ZINTER
        return self._run[spec](sources, factors, word, bool(withscores))

    @overload
    def zdiff(self, *keys: str, withscores: Literal[False] = False) -> Awaitable[list[str]]: ...
    @overload
    def zdiff(
        self, *keys: str, withscores: Literal[True]
    ) -> Awaitable[list[tuple[str, float]]]: ...
    @command
    def zdiff(
        self, *keys: str, withscores: bool = False
    ) -> Awaitable[list[str] | list[tuple[str, float]]]:
        """The members of the first sorted set (or set) at ``keys`` that are in none of the
        others, with their scores there; errors as in :meth:`zunion`."""
        spec = ZDIFF_SCORED if withscores else ZDIFF
        return self._run[spec](self._zsources(keys, "zdiff"), None, None, bool(withscores))

    @command
    def zunionstore(
        self,
        destination: str,
        *keys: str,
        weights: Sequence[float] | None = None,
        aggregate: Literal["sum", "min", "max"] | None = None,
    ) -> Awaitable[int]:
        """Store :meth:`zunion` of ``keys`` at ``destination``, replacing whatever it held (of
        any type, its TTL included); an empty result deletes ``destination``.

        Returns:
            The number of members stored.

        Raises:
            InvalidArgumentError: as :meth:`zunion`.
            WrongTypeError: if any of ``keys`` holds another type (``destination`` unchanged).
        """
        sources, factors, word = self._zcombine(keys, "zunionstore", weights, aggregate)
        return self._run[ZUNIONSTORE](self._key(destination), sources, factors, word)

    @command
    def zinterstore(
        self,
        destination: str,
        *keys: str,
        weights: Sequence[float] | None = None,
        aggregate: Literal["sum", "min", "max"] | None = None,
    ) -> Awaitable[int]:
        """Store :meth:`zinter` of ``keys`` at ``destination``; see :meth:`zunionstore`."""
        sources, factors, word = self._zcombine(keys, "zinterstore", weights, aggregate)
        return self._run[ZINTERSTORE](self._key(destination), sources, factors, word)

    @command
    def zdiffstore(self, destination: str, *keys: str) -> Awaitable[int]:
        """Store :meth:`zdiff` of ``keys`` at ``destination``; see :meth:`zunionstore`."""
        sources = self._zsources(keys, "zdiffstore")
        return self._run[ZDIFFSTORE](self._key(destination), sources, None, None)
