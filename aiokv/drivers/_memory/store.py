"""The memory driver's store: data, deadlines in one-second buckets, and the helpers every
command handler uses (lookup with lazy expiry, typed access, creation under a key bound).

Handlers are ``async def`` methods that never suspend, registered for their command spec with
:func:`handles`; the driver's table maps each spec to its bound handler.
"""

from __future__ import annotations

import builtins
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ..._codec import INT64_MAX, INT64_MIN
from ..._exceptions import InvalidArgumentError, NotAnIntegerError, WrongTypeError
from ...commands._base import Command
from .sortedset import SortedSet

if TYPE_CHECKING:
    from .._eviction import Evictor

__all__ = ["HANDLERS", "Store", "Watch", "handles", "string_value", "text"]

# Expire times (ms) beyond this get Redis's range checks; below it they cannot fail them.
HUGE_MS = INT64_MAX // 2

TYPE_NAMES: dict[type, str] = {
    str: "string",
    bytes: "string",
    dict: "hash",
    deque: "list",
    builtins.set: "set",
    SortedSet: "zset",
}

HANDLERS: dict[Command, str] = {}
"""Command spec -> the name of the Store method that runs it."""

_F = TypeVar("_F", bound=Callable[..., Any])


def handles(spec: Command) -> Callable[[_F], _F]:
    """Register the decorated method as the memory driver's handler for ``spec``."""

    def register(method: _F) -> _F:
        HANDLERS[spec] = method.__name__
        return method

    return register


def check_expire_ms(ms: int, command: str) -> None:
    """Redis's checks on an expire time in ms: a 64-bit long that must not overflow when the
    server adds the Unix time in ms to it."""
    if not INT64_MIN <= ms <= INT64_MAX:
        raise NotAnIntegerError()
    if ms > INT64_MAX - int(time.time() * 1000):
        raise InvalidArgumentError(f"ERR invalid expire time in '{command}' command")


def _unencodable(item: object) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"{item!r} cannot be encoded as UTF-8 (it holds a lone surrogate); no server can store it"
    )


def text(item: str | bytes) -> str:
    """A hash field or value, list element or set member as canonical text.

    Undecodable bytes survive as surrogate escapes, and escapes that spell UTF-8 become the
    character ("\\udcc3\\udca9" is "é"), so one member is one member, as on a server.

    Raises:
        InvalidArgumentError: for a lone surrogate that stands for no byte.
    """
    if type(item) is str:
        if item.isascii():
            return item
        try:
            raw = item.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raise _unencodable(item) from None
        return raw.decode("utf-8", "surrogateescape")
    return item.decode("utf-8", "surrogateescape")  # type: ignore[union-attr]


def string_value(value: str) -> str | bytes:
    """Store non-ASCII text as a server would hold it: surrogate escapes become their bytes.

    Escapes of bytes that are not UTF-8 are stored as those bytes, so get() raises
    ValueDecodeError as it does on a server.

    Raises:
        InvalidArgumentError: for a lone surrogate that stands for no byte.
    """
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise _unencodable(value) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


class Watch:
    """Keys watched by one optimistic transaction; ``dirty`` once any of them changed."""

    __slots__ = ("deadlines", "dirty", "keys")

    def __init__(self, keys: builtins.set[str], deadlines: dict[str, float]) -> None:
        self.keys = keys
        self.deadlines = deadlines  # the deadlines at WATCH: passing one is a change (expiry)
        self.dirty = False


class Store:
    """Data, deadlines and the helpers handlers share."""

    _evictor: Evictor | None

    def __init__(self, clock: Callable[[], float]) -> None:
        self._data: dict[str, Any] = {}
        self._expires: dict[str, float] = {}
        # Buckets are dicts used as ordered sets: a dict of str keys and None values is not
        # tracked by the garbage collector, while a set always is, and a collection pass over
        # a million young bucket members stalled the event loop for ~60 ms in the reaper bench.
        self._buckets: dict[int, dict[str, None]] = {}
        self._reaped_until = int(clock())
        self._clock = clock
        self._watches: builtins.set[Watch] = set()
        self.expired_keys = 0  # deleted past their deadline, lazily or by the reaper

    # -- watches -----------------------------------------------------------------------------

    def changed(self, key: str) -> None:
        """Mark the watches on ``key`` dirty (a write, an expiry or an eviction touched it)."""
        for watch in self._watches:
            if key in watch.keys:
                watch.dirty = True

    def changed_all(self) -> None:
        for watch in self._watches:
            watch.dirty = True

    # -- deadlines ---------------------------------------------------------------------------

    def _set_deadline(self, key: str, ms: int) -> None:
        expires = self._expires
        deadline = self._clock() + ms / 1000
        old = expires.get(key)
        expires[key] = deadline
        second = int(deadline)
        if old is None or int(old) != second:
            self._refile(key, second, old)

    def _refile(self, key: str, second: int, old: float | None) -> None:
        """Move ``key`` from the bucket of its ``old`` deadline (if any) to ``second``'s."""
        buckets = self._buckets
        if old is not None:
            previous = buckets[int(old)]
            previous.pop(key, None)
            if not previous:
                del buckets[int(old)]
        bucket = buckets.get(second)
        if bucket is None:
            buckets[second] = {key: None}
        else:
            bucket[key] = None

    def _clear_deadline(self, key: str) -> bool:
        old = self._expires.pop(key, None)
        if old is None:
            return False
        second = int(old)
        bucket = self._buckets[second]
        bucket.pop(key, None)
        if not bucket:
            del self._buckets[second]
        return True

    # -- access ------------------------------------------------------------------------------

    def _remove(self, key: str) -> None:
        del self._data[key]
        if self._expires:
            deadline = self._expires.get(key)
            if deadline is not None:
                if self._clock() > deadline:  # every lazy expiry comes through here
                    self.expired_keys += 1
                self._clear_deadline(key)
        if self._evictor is not None:
            self._evictor.forget(key)
        if self._watches:
            self.changed(key)

    def _lookup(self, key: str) -> Any:
        """The live value at ``key`` or None; an expired key is dropped first."""
        value = self._data.get(key)
        if value is not None and self._expires:
            deadline = self._expires.get(key)
            if deadline is not None and self._clock() > deadline:
                self._remove(key)
                return None
        return value

    def _typed(self, key: str, kind: type) -> Any:
        value = self._lookup(key)
        if value is not None and type(value) is not kind:
            raise WrongTypeError()
        return value

    def _create(self, key: str, value: Any) -> None:
        """Store a new key (call only once every argument has been validated)."""
        if self._evictor is not None:
            self._evictor.make_room(key)
        self._data[key] = value

    def _touch(self, key: str) -> None:
        if self._evictor is not None:
            self._evictor.touch(key)
