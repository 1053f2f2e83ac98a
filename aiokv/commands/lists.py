"""List commands."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, overload

from .._codec import Value, check_count, check_int, encode_value
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
