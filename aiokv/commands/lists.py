"""List commands."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any, Literal, overload

from .._codec import INT64_MIN, Value, check_count, check_int, encode_value
from .._exceptions import InvalidArgumentError
from ._base import Command, command, text_list, text_or_none
from ._facade import Facade

__all__ = ["ListCommands", "values"]


def _pop_decode(raw: Any) -> Any:
    if raw is None or type(raw) is bytes:
        return text_or_none(raw)
    return text_list(raw)


def _encode_pop(name: str) -> Any:
    def encode(key: str, count: int | None) -> tuple[Any, ...]:
        return (name, key) if count is None else (name, key, count)

    return encode


LPUSH = Command("LPUSH", encode=lambda key, items: ("LPUSH", key, *items))
RPUSH = Command("RPUSH", encode=lambda key, items: ("RPUSH", key, *items))
LPOP = Command("LPOP", encode=_encode_pop("LPOP"), decode=_pop_decode)
RPOP = Command("RPOP", encode=_encode_pop("RPOP"), decode=_pop_decode)
LLEN = Command("LLEN", readonly=True)
LRANGE = Command("LRANGE", readonly=True, decode=text_list)
LINDEX = Command("LINDEX", readonly=True, decode=text_or_none)
LSET = Command("LSET", decode=lambda raw: None)
LREM = Command("LREM")
LTRIM = Command("LTRIM", decode=lambda raw: None)
LINSERT = Command("LINSERT")
LPUSHX = Command("LPUSHX", encode=lambda key, items: ("LPUSHX", key, *items))
RPUSHX = Command("RPUSHX", encode=lambda key, items: ("RPUSHX", key, *items))


def _two_keys(args: tuple[Any, ...]) -> Sequence[str]:
    return (args[0], args[1])


LMOVE = Command("LMOVE", decode=text_or_none, keys=_two_keys)


def _encode_lpos(
    key: str, value: str | bytes, rank: int | None, count: int | None, maxlen: int | None
) -> tuple[Any, ...]:
    words: tuple[Any, ...] = ("LPOS", key, value)
    if rank is not None:
        words += ("RANK", rank)
    if count is not None:
        words += ("COUNT", count)
    if maxlen is not None:
        words += ("MAXLEN", maxlen)
    return words


LPOS = Command("LPOS", readonly=True, encode=_encode_lpos)

_END = {"LEFT": "LEFT", "RIGHT": "RIGHT"}
_SIDE = {"BEFORE": "BEFORE", "AFTER": "AFTER"}


def _word(given: object, choices: dict[str, str], name: str) -> str:
    """``given`` as one of ``choices`` (any case, as a server reads it).

    Raises:
        InvalidArgumentError: for anything else (a server answers "ERR syntax error").
    """
    word = choices.get(given.upper()) if isinstance(given, str) else None
    if word is None:
        raise InvalidArgumentError(f"{name} must be one of {sorted(choices)}, not {given!r}")
    return word


def values(items: tuple[Value, ...], command: str) -> list[str | bytes]:
    """Encode the values of a variadic command; at least one is needed."""
    if not items:
        raise InvalidArgumentError(f"{command} needs at least one value")
    return [encode_value(v) for v in items]


class ListCommands(Facade):
    @command
    def lpush(self, key: str, *values_: Value) -> Awaitable[int]:
        """Push values to the head in turn (``lpush(k, "a", "b")`` gives ``b a``); new length.

        Raises:
            InvalidArgumentError: if no value is given.
        """
        return self._run[LPUSH](self._key(key), values(values_, "lpush"))

    @command
    def rpush(self, key: str, *values_: Value) -> Awaitable[int]:
        """Push values to the tail in turn; return the new length."""
        return self._run[RPUSH](self._key(key), values(values_, "rpush"))

    @overload
    def lpop(self, key: str) -> Awaitable[str | None]: ...
    @overload
    def lpop(self, key: str, count: int) -> Awaitable[list[str] | None]: ...
    @command
    def lpop(self, key: str, count: int | None = None) -> Awaitable[str | list[str] | None]:
        """Pop from the head: one element, or a list of up to ``count``; None for a missing key.

        Raises:
            NotAnIntegerError: if ``count`` is not a 64-bit int.
            InvalidArgumentError: if ``count`` is negative.
        """
        return self._run[LPOP](self._key(key), None if count is None else check_count(count))

    @overload
    def rpop(self, key: str) -> Awaitable[str | None]: ...
    @overload
    def rpop(self, key: str, count: int) -> Awaitable[list[str] | None]: ...
    @command
    def rpop(self, key: str, count: int | None = None) -> Awaitable[str | list[str] | None]:
        """Pop from the tail: one element, or up to ``count`` tail first; None for a missing key."""
        return self._run[RPOP](self._key(key), None if count is None else check_count(count))

    @command
    def llen(self, key: str) -> Awaitable[int]:
        """Length of the list at ``key``; 0 for a missing key."""
        return self._run[LLEN](self._key(key))

    @command
    def lrange(self, key: str, start: int, stop: int) -> Awaitable[list[str]]:
        """Elements ``start`` to ``stop`` inclusive; negative indexes count from the end.

        Out-of-range indexes are clamped; [] for a missing key or an empty range.

        Raises:
            NotAnIntegerError: if an index is not a 64-bit int.
        """
        return self._run[LRANGE](self._key(key), check_int(start), check_int(stop))

    @command
    def lindex(self, key: str, index: int) -> Awaitable[str | None]:
        """The element at ``index`` (negative counts from the tail); None if the index is out
        of range or the key is missing.

        Raises:
            NotAnIntegerError: if ``index`` is not a 64-bit int.
            WrongTypeError: if the key holds another type.
        """
        return self._run[LINDEX](self._key(key), check_int(index))

    @command
    def lset(self, key: str, index: int, value: Value) -> Awaitable[None]:
        """Replace the element at ``index`` (negative counts from the tail).

        Raises:
            CommandError: "ERR no such key" for a missing key, "ERR index out of range" for an
                index outside the list.
            NotAnIntegerError: if ``index`` is not a 64-bit int.
            WrongTypeError: if the key holds another type.
        """
        return self._run[LSET](self._key(key), check_int(index), encode_value(value))

    @command
    def lrem(self, key: str, count: int, value: Value) -> Awaitable[int]:
        """Remove elements equal to ``value``: the first ``count`` from the head if ``count`` >
        0, the last ``-count`` from the tail if < 0, all of them if 0.

        Returns:
            How many were removed (0 for a missing key). The list vanishes when emptied.

        Raises:
            NotAnIntegerError: if ``count`` is not a 64-bit int.
            WrongTypeError: if the key holds another type.
        """
        return self._run[LREM](self._key(key), check_int(count), encode_value(value))

    @command
    def ltrim(self, key: str, start: int, stop: int) -> Awaitable[None]:
        """Keep only elements ``start`` to ``stop`` inclusive (indexes as in :meth:`lrange`).

        An empty range deletes the list; a missing key is left missing.

        Raises:
            NotAnIntegerError: if an index is not a 64-bit int.
            WrongTypeError: if the key holds another type.
        """
        return self._run[LTRIM](self._key(key), check_int(start), check_int(stop))

    @command
    def linsert(
        self, key: str, where: Literal["BEFORE", "AFTER"], pivot: Value, value: Value
    ) -> Awaitable[int]:
        """Insert ``value`` before or after the first element equal to ``pivot``.

        Returns:
            The new length; -1 if ``pivot`` is not in the list (nothing inserted); 0 for a
            missing key.

        Raises:
            InvalidArgumentError: if ``where`` is not "BEFORE" or "AFTER" (any case).
            WrongTypeError: if the key holds another type.
        """
        side = _word(where, _SIDE, "where")
        return self._run[LINSERT](self._key(key), side, encode_value(pivot), encode_value(value))

    @overload
    def lpos(
        self,
        key: str,
        value: Value,
        *,
        rank: int | None = None,
        count: None = None,
        maxlen: int | None = None,
    ) -> Awaitable[int | None]: ...
    @overload
    def lpos(
        self,
        key: str,
        value: Value,
        *,
        rank: int | None = None,
        count: int,
        maxlen: int | None = None,
    ) -> Awaitable[list[int]]: ...
    @command
    def lpos(
        self,
        key: str,
        value: Value,
        *,
        rank: int | None = None,
        count: int | None = None,
        maxlen: int | None = None,
    ) -> Awaitable[int | list[int] | None]:
        """The index of an element equal to ``value``.

        Args:
            key: The list.
            value: The element to look for.
            rank: Which match to start from: 1 (the default) the first from the head, 2 the
                second...; -1 the first from the tail, -2 the second from the tail...
            count: Return up to this many matches as a list (0: all of them) instead of one
                index.
            maxlen: Compare at most this many elements (0, the default: the whole list).

        Returns:
            Without ``count``: the index, or None if there is no match or no key. With
            ``count``: the indexes, [] if none (or no key).

        Raises:
            InvalidArgumentError: if ``rank`` is 0 or -2**63, or ``count`` or ``maxlen`` is
                negative.
            NotAnIntegerError: if ``rank``, ``count`` or ``maxlen`` is not a 64-bit int.
            WrongTypeError: if the key holds another type.
        """
        if rank is not None:
            if check_int(rank) == 0:
                raise InvalidArgumentError(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the "
                    "second ... or use negative to start from the end of the list"
                )
            if rank == INT64_MIN:
                # Redis 7.0 reads it as -1 (its negation overflows); later servers refuse it.
                raise InvalidArgumentError(
                    "ERR value is out of range, value must between -9223372036854775807 and "
                    "9223372036854775807"
                )
        if count is not None and check_int(count) < 0:
            raise InvalidArgumentError("ERR COUNT can't be negative")
        if maxlen is not None and check_int(maxlen) < 0:
            raise InvalidArgumentError("ERR MAXLEN can't be negative")
        return self._run[LPOS](self._key(key), encode_value(value), rank, count, maxlen)

    @command
    def lmove(
        self,
        source: str,
        destination: str,
        wherefrom: Literal["LEFT", "RIGHT"],
        whereto: Literal["LEFT", "RIGHT"],
    ) -> Awaitable[str | None]:
        """Pop an element from one end of ``source`` and push it onto one end of
        ``destination`` (which may be ``source``: a rotation), atomically.

        Returns:
            The element moved, or None if ``source`` is missing (nothing changes).

        Raises:
            InvalidArgumentError: if an end is not "LEFT" or "RIGHT" (any case).
            WrongTypeError: if either key holds another type (nothing moves).
        """
        start = _word(wherefrom, _END, "wherefrom")
        end = _word(whereto, _END, "whereto")
        return self._run[LMOVE](self._key(source), self._key(destination), start, end)

    @command
    def rpoplpush(self, source: str, destination: str) -> Awaitable[str | None]:
        """Move the tail of ``source`` to the head of ``destination``: ``lmove(source,
        destination, "RIGHT", "LEFT")``."""
        return self._run[LMOVE](self._key(source), self._key(destination), "RIGHT", "LEFT")

    @command
    def lpushx(self, key: str, *values_: Value) -> Awaitable[int]:
        """Like :meth:`lpush`, only if the list exists.

        Returns:
            The new length; 0 (nothing created) for a missing key.

        Raises:
            InvalidArgumentError: if no value is given.
            WrongTypeError: if the key holds another type.
        """
        return self._run[LPUSHX](self._key(key), values(values_, "lpushx"))

    @command
    def rpushx(self, key: str, *values_: Value) -> Awaitable[int]:
        """Like :meth:`rpush`, only if the list exists; 0 for a missing key."""
        return self._run[RPUSHX](self._key(key), values(values_, "rpushx"))
