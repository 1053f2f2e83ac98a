"""Set commands."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import Any, overload

from .._codec import INT64_MIN, Value, check_count, check_int, encode_value
from .._exceptions import InvalidArgumentError
from ._base import ALL_KEYS, Command, command, text, text_list, text_or_none, text_set
from ._facade import Facade
from .hashes import check_scan_count, scan_words
from .lists import values

__all__ = ["SetCommands"]

SADD = Command("SADD", encode=lambda key, items: ("SADD", key, *items))
SREM = Command("SREM", encode=lambda key, items: ("SREM", key, *items))
SMEMBERS = Command("SMEMBERS", readonly=True, decode=text_set)
SISMEMBER = Command("SISMEMBER", readonly=True, decode=bool)
SCARD = Command("SCARD", readonly=True)
SMISMEMBER = Command(
    "SMISMEMBER",
    readonly=True,
    encode=lambda key, items: ("SMISMEMBER", key, *items),
    decode=lambda raw: [bool(flag) for flag in raw],
)


def _count_words(name: str) -> Any:
    def encode(key: str, count: int | None) -> tuple[Any, ...]:
        return (name, key) if count is None else (name, key, count)

    return encode


def _one_or_many(many: Any) -> Any:
    def decode(raw: Any) -> Any:
        return text_or_none(raw) if raw is None or type(raw) is bytes else many(raw)

    return decode


SPOP = Command("SPOP", encode=_count_words("SPOP"), decode=_one_or_many(text_set))
SRANDMEMBER = Command(
    "SRANDMEMBER",
    readonly=True,
    encode=_count_words("SRANDMEMBER"),
    decode=_one_or_many(text_list),
)


def _two_keys(args: tuple[Any, ...]) -> Sequence[str]:
    return (args[0], args[1])


def _destination_and_sources(args: tuple[Any, ...]) -> Sequence[str]:
    return (args[0], *args[1])


SMOVE = Command("SMOVE", decode=bool, keys=_two_keys)


def _algebra(name: str) -> Command:
    return Command(
        name, readonly=True, encode=lambda keys: (name, *keys), decode=text_set, keys=ALL_KEYS
    )


def _store(name: str) -> Command:
    return Command(name, encode=lambda dst, keys: (name, dst, *keys), keys=_destination_and_sources)


SINTER = _algebra("SINTER")
SUNION = _algebra("SUNION")
SDIFF = _algebra("SDIFF")
SINTERSTORE = _store("SINTERSTORE")
SUNIONSTORE = _store("SUNIONSTORE")
SDIFFSTORE = _store("SDIFFSTORE")
SINTERCARD = Command(
    "SINTERCARD",
    readonly=True,
    encode=lambda keys, limit: ("SINTERCARD", len(keys), *keys, "LIMIT", limit),
    keys=ALL_KEYS,
)


def _decode_sscan(raw: list[Any]) -> tuple[int, list[str]]:
    cursor, members = raw
    return int(cursor), [text(member) for member in members]


SSCAN = Command("SSCAN", readonly=True, encode=scan_words("SSCAN"), decode=_decode_sscan)
"""One step of a set scan, as :data:`aiokv.commands.hashes.HSCAN`."""


class SetCommands(Facade):
    @command
    def sadd(self, key: str, *members: Value) -> Awaitable[int]:
        """Add members; return how many were new."""
        return self._run[SADD](self._key(key), values(members, "sadd"))

    @command
    def srem(self, key: str, *members: Value) -> Awaitable[int]:
        """Remove members; return how many were there. The set vanishes with its last member."""
        return self._run[SREM](self._key(key), values(members, "srem"))

    @command
    def smembers(self, key: str) -> Awaitable[builtins.set[str]]:
        """All members; an empty set for a missing key."""
        return self._run[SMEMBERS](self._key(key))

    @command
    def sismember(self, key: str, member: Value) -> Awaitable[bool]:
        """True if ``member`` is in the set at ``key``."""
        return self._run[SISMEMBER](self._key(key), encode_value(member))

    @command
    def scard(self, key: str) -> Awaitable[int]:
        """Number of members; 0 for a missing key."""
        return self._run[SCARD](self._key(key))

    @overload
    def spop(self, key: str) -> Awaitable[str | None]: ...
    @overload
    def spop(self, key: str, count: int) -> Awaitable[builtins.set[str]]: ...
    @command
    def spop(self, key: str, count: int | None = None) -> Awaitable[str | builtins.set[str] | None]:
        """Remove and return random members. The set vanishes with its last member.

        Returns:
            Without ``count``: one member, or None for a missing key. With ``count``: up to
            ``count`` distinct members (all of them if the set is smaller), an empty set for a
            missing key or a count of 0.

        Raises:
            NotAnIntegerError: if ``count`` is not an int.
            InvalidArgumentError: if ``count`` is negative.
            WrongTypeError: if the key holds another type.
        """
        return self._run[SPOP](self._key(key), None if count is None else check_count(count))

    @overload
    def srandmember(self, key: str) -> Awaitable[str | None]: ...
    @overload
    def srandmember(self, key: str, count: int) -> Awaitable[list[str]]: ...
    @command
    def srandmember(self, key: str, count: int | None = None) -> Awaitable[str | list[str] | None]:
        """Return random members without removing them.

        Returns:
            Without ``count``: one member, or None for a missing key. With a positive
            ``count``: up to ``count`` distinct members (all of them if the set is smaller).
            With a negative ``count``: exactly ``-count`` members, which may repeat. [] for a
            missing key or a count of 0.

        Raises:
            NotAnIntegerError: if ``count`` is not a 64-bit int.
            InvalidArgumentError: if ``count`` is -2**63.
            WrongTypeError: if the key holds another type.
        """
        if count is not None and check_int(count) == INT64_MIN:
            raise InvalidArgumentError(
                "ERR value is out of range, value must between -9223372036854775807 and "
                "9223372036854775807"
            )
        return self._run[SRANDMEMBER](self._key(key), count)

    @command
    def smismember(self, key: str, *members: Value) -> Awaitable[list[bool]]:
        """For each of ``members`` in order, whether it is in the set (all False for a missing
        key).

        Raises:
            InvalidArgumentError: if no member is given.
            WrongTypeError: if the key holds another type.
        """
        return self._run[SMISMEMBER](self._key(key), values(members, "smismember"))

    @command
    def smove(self, source: str, destination: str, member: Value) -> Awaitable[bool]:
        """Move ``member`` from ``source`` to ``destination`` (created if needed), atomically.

        Returns:
            True if it was moved (or ``source`` is ``destination`` and holds it); False if
            ``source`` is missing or lacks it (nothing changes).

        Raises:
            WrongTypeError: if either key holds another type (``source`` existing).
        """
        return self._run[SMOVE](self._key(source), self._key(destination), encode_value(member))

    def _sources(self, keys: tuple[str, ...], name: str) -> list[str]:
        if not keys:
            raise InvalidArgumentError(f"{name} needs at least one key")
        return self._keys(keys)

    @command
    def sinter(self, *keys: str) -> Awaitable[builtins.set[str]]:
        """The members in every one of the sets at ``keys`` (a missing key is an empty set).

        Raises:
            InvalidArgumentError: if no key is given.
            WrongTypeError: if any key holds another type.
        """
        return self._run[SINTER](self._sources(keys, "sinter"))

    @command
    def sunion(self, *keys: str) -> Awaitable[builtins.set[str]]:
        """The members of any of the sets at ``keys``; see :meth:`sinter`."""
        return self._run[SUNION](self._sources(keys, "sunion"))

    @command
    def sdiff(self, *keys: str) -> Awaitable[builtins.set[str]]:
        """The members of the first set that are in none of the others; see :meth:`sinter`."""
        return self._run[SDIFF](self._sources(keys, "sdiff"))

    @command
    def sinterstore(self, destination: str, *keys: str) -> Awaitable[int]:
        """Store :meth:`sinter` of ``keys`` at ``destination``, replacing whatever it held (of
        any type, its TTL included); an empty result deletes ``destination``.

        Returns:
            The number of members stored.

        Raises:
            InvalidArgumentError: if no key is given.
            WrongTypeError: if any of ``keys`` holds another type (``destination`` unchanged).
        """
        return self._run[SINTERSTORE](self._key(destination), self._sources(keys, "sinterstore"))

    @command
    def sunionstore(self, destination: str, *keys: str) -> Awaitable[int]:
        """Store :meth:`sunion` of ``keys`` at ``destination``; see :meth:`sinterstore`."""
        return self._run[SUNIONSTORE](self._key(destination), self._sources(keys, "sunionstore"))

    @command
    def sdiffstore(self, destination: str, *keys: str) -> Awaitable[int]:
        """Store :meth:`sdiff` of ``keys`` at ``destination``; see :meth:`sinterstore`."""
        return self._run[SDIFFSTORE](self._key(destination), self._sources(keys, "sdiffstore"))

    @command
    def sintercard(self, *keys: str, limit: int = 0) -> Awaitable[int]:
        """The size of :meth:`sinter` of ``keys``, counting no further than ``limit`` if it is
        not 0.

        Raises:
            InvalidArgumentError: if no key is given, or ``limit`` is negative.
            NotAnIntegerError: if ``limit`` is not a 64-bit int.
            WrongTypeError: if any key holds another type.
        """
        if check_int(limit) < 0:
            raise InvalidArgumentError("ERR LIMIT can't be negative")
        return self._run[SINTERCARD](self._sources(keys, "sintercard"), limit)

    async def sscan_iter(
        self, key: str, match: str = "*", *, count: int = 100
    ) -> AsyncIterator[str]:
        """Iterate the members of the set at ``key`` that match the Redis glob ``match``, a
        batch at a time (SSCAN), without blocking the server.

        A member present for the whole iteration is yielded at least once; on a server it may
        be yielded twice. Members added or removed meanwhile may or may not be yielded.
        ``count`` is a batch-size hint. Nothing is yielded for a missing key. Not available in
        a pipeline (it takes several round trips).

        Raises:
            InvalidArgumentError: if ``count`` is below 1.
            WrongTypeError: if the key holds another type.
        """
        async for item in self._scan_items(SSCAN, key, match, check_scan_count(count)):
            yield item
