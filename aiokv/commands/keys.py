"""Keyspace commands: DEL/UNLINK, EXISTS, TOUCH, RENAME, COPY, expiry, TYPE, KEYS/SCAN,
RANDOMKEY, DBSIZE, FLUSHDB, PING."""

from __future__ import annotations

import builtins
import random
from collections.abc import AsyncIterator, Awaitable, Sequence
from datetime import datetime
from typing import Any

from .._codec import TTL, check_count, check_int, ttl_to_ms, unix_ms
from .._exceptions import InvalidArgumentError
from ._base import ALL_KEYS, NO_KEYS, SAME, SUM, Command, command, text, text_list, text_or_none
from ._facade import Facade

__all__ = ["KeyCommands"]


def _two_keys(args: tuple[Any, ...]) -> Sequence[str]:
    return (args[0], args[1])


def _encode_with_flags(name: str) -> Any:
    def encode(key: str, when: int, flags: tuple[str, ...]) -> tuple[Any, ...]:
        return (name, key, when, *flags)

    return encode


def _encode_copy(src: str, dst: str, replace: bool) -> tuple[Any, ...]:
    return ("COPY", src, dst, "REPLACE") if replace else ("COPY", src, dst)


def _encode_scan(
    cursor: int, match: str | None, count: int | None, type_: str | None
) -> tuple[Any, ...]:
    words: tuple[Any, ...] = ("SCAN", cursor)
    if match is not None:
        words += ("MATCH", match)
    if count is not None:
        words += ("COUNT", count)
    if type_ is not None:
        words += ("TYPE", type_)
    return words


def _scan_reply(raw: list[Any]) -> tuple[int, list[str]]:
    return int(raw[0]), text_list(raw[1])


def _none(raw: Any) -> None:
    return None


DEL = Command("DEL", encode=lambda keys: ("DEL", *keys), keys=ALL_KEYS, merge=SUM)
UNLINK = Command("UNLINK", encode=lambda keys: ("UNLINK", *keys), keys=ALL_KEYS, merge=SUM)
EXISTS = Command(
    "EXISTS", readonly=True, encode=lambda keys: ("EXISTS", *keys), keys=ALL_KEYS, merge=SUM
)
# TOUCH only refreshes LRU/LFU data, which another TOUCH would refresh the same way: Redis
# flags it read-only and WATCH does not see it; so may the driver re-send it.
TOUCH = Command(
    "TOUCH", readonly=True, encode=lambda keys: ("TOUCH", *keys), keys=ALL_KEYS, merge=SUM
)
RENAME = Command("RENAME", decode=_none, keys=_two_keys)
RENAMENX = Command("RENAMENX", decode=bool, keys=_two_keys)
COPY = Command("COPY", encode=_encode_copy, decode=bool, keys=_two_keys)
PEXPIRE = Command("PEXPIRE", encode=_encode_with_flags("PEXPIRE"), decode=bool)
EXPIREAT = Command("EXPIREAT", encode=_encode_with_flags("EXPIREAT"), decode=bool)
PEXPIREAT = Command("PEXPIREAT", encode=_encode_with_flags("PEXPIREAT"), decode=bool)
EXPIRETIME = Command("EXPIRETIME", readonly=True)
PEXPIRETIME = Command("PEXPIRETIME", readonly=True)
RANDOMKEY = Command("RANDOMKEY", readonly=True, decode=text_or_none, keys=NO_KEYS)
SCAN = Command("SCAN", readonly=True, encode=_encode_scan, decode=_scan_reply, keys=NO_KEYS)
PERSIST = Command("PERSIST", decode=bool)
PTTL = Command("PTTL", readonly=True)
TTL_ = Command("TTL", readonly=True)
TYPE = Command("TYPE", readonly=True, decode=lambda raw: raw if type(raw) is str else text(raw))
DBSIZE = Command("DBSIZE", readonly=True, keys=NO_KEYS, merge=SUM)
FLUSHDB = Command("FLUSHDB", decode=lambda raw: None, keys=NO_KEYS, merge=SAME)
PING = Command("PING", readonly=True, decode=bool, keys=NO_KEYS)


class KeyCommands(Facade):
    @command
    def delete(self, *keys: str) -> Awaitable[int]:
        """Delete keys of any type; return how many existed (each distinct key counted once)."""
        if not keys:
            return self._constant(0)
        return self._run[DEL](self._keys(keys))

    @command
    def exists(self, *keys: str) -> Awaitable[int]:
        """Return how many of ``keys`` exist, duplicates counted (so truthy for one key)."""
        if not keys:
            return self._constant(0)
        return self._run[EXISTS](self._keys(keys))

    @command
    def unlink(self, *keys: str) -> Awaitable[int]:
        """Delete keys like :meth:`delete`, reclaiming their memory in the background (UNLINK).

        Returns how many existed (each distinct key counted once).
        """
        if not keys:
            return self._constant(0)
        return self._run[UNLINK](self._keys(keys))

    @command
    def touch(self, *keys: str) -> Awaitable[int]:
        """Mark keys as used now (for LRU/LFU eviction); return how many exist, duplicates
        counted, as :meth:`exists` does. Nothing else changes (a WATCH does not see it)."""
        if not keys:
            return self._constant(0)
        return self._run[TOUCH](self._keys(keys))

    @command
    def rename(self, src: str, dst: str) -> Awaitable[None]:
        """Move the value and TTL of ``src`` to ``dst``, replacing whatever ``dst`` held.

        Renaming a key to itself changes nothing.

        Raises:
            NoSuchKeyError: if ``src`` does not exist (nothing changes).
        """
        return self._run[RENAME](self._key(src), self._key(dst))

    @command
    def renamenx(self, src: str, dst: str) -> Awaitable[bool]:
        """Rename ``src`` to ``dst`` only if ``dst`` does not exist.

        Returns:
            True if renamed; False if ``dst`` exists (including ``dst == src``).

        Raises:
            NoSuchKeyError: if ``src`` does not exist.
        """
        return self._run[RENAMENX](self._key(src), self._key(dst))

    @command
    def copy(self, src: str, dst: str, *, replace: bool = False) -> Awaitable[bool]:
        """Copy the value (containers deeply) and the TTL of ``src`` to ``dst``.

        Returns:
            True if copied; False if ``src`` does not exist, or ``dst`` exists and ``replace``
            is False.

        Raises:
            InvalidArgumentError: if ``src`` and ``dst`` are the same key.
        """
        src, dst = self._key(src), self._key(dst)
        if src == dst:
            raise InvalidArgumentError("ERR source and destination objects are the same")
        return self._run[COPY](src, dst, replace)

    @command
    def expire(
        self,
        key: str,
        ttl: TTL,
        *,
        nx: bool = False,
        xx: bool = False,
        gt: bool = False,
        lt: bool = False,
    ) -> Awaitable[bool]:
        """Set a TTL on an existing key; a TTL <= 0 deletes it.

        Args:
            key: The key.
            ttl: Seconds (millisecond precision) or a timedelta.
            nx: Only if the key has no TTL.
            xx: Only if the key has a TTL.
            gt: Only if the new expiry is later than the current one (a key without a TTL
                counts as never expiring, so this never applies to it).
            lt: Only if the new expiry is earlier than the current one (always applies to a
                key without a TTL).

        Returns:
            True if the key exists and was updated (or deleted); False on a miss or when a
            condition prevented it.

        Raises:
            InvalidArgumentError: for a TTL that is NaN, infinite, not a number, or out of
                range, or for incompatible flags (``nx`` with another, ``gt`` with ``lt``).
        """
        flags = _expire_flags(nx, xx, gt, lt) if nx or xx or gt or lt else ()
        return self._run[PEXPIRE](self._key(key), ttl_to_ms(ttl), flags)

    @command
    def pexpire(
        self,
        key: str,
        ms: int,
        *,
        nx: bool = False,
        xx: bool = False,
        gt: bool = False,
        lt: bool = False,
    ) -> Awaitable[bool]:
        """Set a TTL of ``ms`` milliseconds; see :meth:`expire` for the flags and results.

        Raises:
            NotAnIntegerError: if ``ms`` is not a 64-bit int.
            InvalidArgumentError: for incompatible flags, or an expiry beyond the server's range.
        """
        flags = _expire_flags(nx, xx, gt, lt) if nx or xx or gt or lt else ()
        return self._run[PEXPIRE](self._key(key), check_int(ms), flags)

    @command
    def expireat(
        self,
        key: str,
        when: datetime | int,
        *,
        nx: bool = False,
        xx: bool = False,
        gt: bool = False,
        lt: bool = False,
    ) -> Awaitable[bool]:
        """Expire ``key`` at ``when``: a datetime (a naive one is local time) or Unix seconds.

        A time already past deletes the key. See :meth:`expire` for the flags and results.

        Raises:
            NotAnIntegerError: if ``when`` is neither a datetime nor a 64-bit int.
            InvalidArgumentError: for incompatible flags, or seconds beyond the server's range.
        """
        flags = _expire_flags(nx, xx, gt, lt) if nx or xx or gt or lt else ()
        if isinstance(when, datetime):
            return self._run[PEXPIREAT](self._key(key), unix_ms(when), flags)
        return self._run[EXPIREAT](self._key(key), check_int(when), flags)

    @command
    def pexpireat(
        self,
        key: str,
        when: datetime | int,
        *,
        nx: bool = False,
        xx: bool = False,
        gt: bool = False,
        lt: bool = False,
    ) -> Awaitable[bool]:
        """Expire ``key`` at ``when``: a datetime or Unix milliseconds; see :meth:`expireat`.

        Raises:
            NotAnIntegerError: if ``when`` is neither a datetime nor a 64-bit int.
            InvalidArgumentError: for incompatible flags.
        """
        flags = _expire_flags(nx, xx, gt, lt) if nx or xx or gt or lt else ()
        ms = unix_ms(when) if isinstance(when, datetime) else check_int(when)
        return self._run[PEXPIREAT](self._key(key), ms, flags)

    @command
    def expiretime(self, key: str) -> Awaitable[int]:
        """When ``key`` expires, in Unix seconds (rounded half up); -1 if it has no TTL; -2 if
        it does not exist."""
        return self._run[EXPIRETIME](self._key(key))

    @command
    def pexpiretime(self, key: str) -> Awaitable[int]:
        """When ``key`` expires, in Unix milliseconds; -1 if it has no TTL; -2 if it does not
        exist."""
        return self._run[PEXPIRETIME](self._key(key))

    @command
    def persist(self, key: str) -> Awaitable[bool]:
        """Remove the TTL of ``key``; True only if there was one to remove."""
        return self._run[PERSIST](self._key(key))

    @command
    def ttl(self, key: str) -> Awaitable[int]:
        """Seconds left (rounded half up); -1 if the key has no TTL; -2 if it does not exist."""
        return self._run[TTL_](self._key(key))

    @command
    def pttl(self, key: str) -> Awaitable[int]:
        """Milliseconds left; -1 if the key has no TTL; -2 if it does not exist."""
        return self._run[PTTL](self._key(key))

    @command
    def type(self, key: str) -> Awaitable[str]:
        """Return 'string', 'hash', 'list' or 'set', or 'none' for a missing key."""
        return self._run[TYPE](self._key(key))

    @command
    def dbsize(self) -> Awaitable[int]:
        """Number of keys, including expired keys not yet reclaimed.

        With a key prefix, counts only the live keys under the prefix.
        """
        if not self._prefix:
            return self._run[DBSIZE]()
        return self._several_round_trips(self._count_prefixed())

    async def _count_prefixed(self) -> int:
        return len(await self._driver_keys(self._glob_prefix + "*"))

    @command
    def flushdb(self) -> Awaitable[None]:
        """Delete every key; with a key prefix, only the keys under the prefix."""
        if not self._prefix:
            return self._run[FLUSHDB]()
        return self._several_round_trips(self._flush_prefixed())

    async def _flush_prefixed(self) -> None:
        batch: list[str] = []
        async for key in self._driver_scan(self._glob_prefix + "*", 1000):
            batch.append(key)
            if len(batch) == 1000:
                await self._run[DEL](batch)
                batch = []
        if batch:
            await self._run[DEL](batch)

    @command
    def ping(self) -> Awaitable[bool]:
        """Return True if the store answers.

        Raises:
            KVConnectionError: if the server cannot be reached.
        """
        return self._run[PING]()

    @command
    def randomkey(self) -> Awaitable[str | None]:
        """Return a random key; None if there is none.

        With a key prefix, a random key under the prefix: that lists the prefix's keys first
        (a SCAN on a server), so it cannot be pipelined then. On the memory driver it takes
        O(number of keys) time.
        """
        if not self._prefix:
            return self._run[RANDOMKEY]()
        return self._several_round_trips(self._random_prefixed())

    async def _random_prefixed(self) -> str | None:
        found = await self._driver_keys(self._glob_prefix + "*")
        return random.choice(found)[len(self._prefix) :] if found else None

    @command
    def scan(
        self,
        cursor: int = 0,
        match: str | None = None,
        count: int | None = None,
        type: str | None = None,
    ) -> Awaitable[tuple[int, list[str]]]:
        """One step of a walk over the keyspace: ``(next_cursor, keys)``.

        Start with cursor 0 and pass each returned cursor back until it is 0 again. Every key
        present for the whole walk is returned at least once (on a server possibly twice;
        the memory driver returns it once); keys added or removed meanwhile may or may not
        be. A step may return fewer than ``count`` keys, or none, before the walk ends.

        Args:
            cursor: 0 to start, then the cursor the previous step returned.
            match: A Redis glob the keys must match (the key prefix is applied to it and
                stripped from the keys returned, as :meth:`keys` does).
            count: How much work a step does (a hint; the default is the server's, 10).
            type: Only keys of this type ("string", "hash", "list", "set", ...).

        The memory driver walks a snapshot of the keys taken at cursor 0 and remembers the
        64 most recent walks; a cursor of an older walk raises InvalidArgumentError.

        Raises:
            InvalidArgumentError: for a cursor that is not an int in [0, 2**64), a ``count``
                below 1, or (memory driver) a cursor it does not know.
        """
        if builtins.type(cursor) is not int or not 0 <= cursor <= _UINT64_MAX:
            raise InvalidArgumentError(f"ERR invalid cursor: {cursor!r}")
        if count is not None and check_int(count) < 1:
            raise InvalidArgumentError("count must be at least 1")
        if not self._prefix:
            return self._run[SCAN](cursor, match, count, type)
        pattern = self._glob_prefix + ("*" if match is None else match)
        return self._several_round_trips(self._scan_prefixed(cursor, pattern, count, type))

    async def _scan_prefixed(
        self, cursor: int, pattern: str, count: int | None, type_: str | None
    ) -> tuple[int, list[str]]:
        cursor, found = await self._run[SCAN](cursor, pattern, count, type_)
        cut = len(self._prefix)
        return cursor, [key[cut:] for key in found]

    # -- walks over the keyspace (not pipelined: they take several round trips) ---------------

    async def keys(self, pattern: str = "*") -> list[str]:
        """Return every key matching a Redis glob ``pattern`` (through SCAN on a server).

        The key prefix, if any, is applied to the pattern and stripped from the result. Prefer
        :meth:`scan_iter` for large keyspaces.
        """
        found = await self._driver_keys(self._glob_prefix + pattern)
        cut = len(self._prefix)
        return [key[cut:] for key in found] if cut else found

    async def scan_iter(self, pattern: str = "*", *, count: int = 1000) -> AsyncIterator[str]:
        """Iterate keys matching ``pattern`` without blocking the server.

        A key present for the whole iteration is yielded at least once; it may be yielded twice
        on a server (deduplicate if that matters). ``count`` is a batch-size hint (>= 1).

        Raises:
            InvalidArgumentError: if ``count`` is below 1.
        """
        if check_count(count) < 1:
            raise InvalidArgumentError("count must be at least 1")
        cut = len(self._prefix)
        async for key in self._driver_scan(self._glob_prefix + pattern, count):
            yield key[cut:]

    async def _driver_keys(self, pattern: str) -> list[str]:
        raise NotImplementedError  # provided by the client

    def _driver_scan(self, pattern: str, count: int) -> AsyncIterator[str]:
        raise NotImplementedError  # provided by the client


_UINT64_MAX = 2**64 - 1


def _expire_flags(nx: bool, xx: bool, gt: bool, lt: bool) -> tuple[str, ...]:
    """EXPIRE's condition words.

    Raises:
        InvalidArgumentError: for the combinations Redis refuses (its messages).
    """
    if nx and (xx or gt or lt):
        raise InvalidArgumentError(
            "ERR NX and XX, GT or LT options at the same time are not compatible"
        )
    if gt and lt:
        raise InvalidArgumentError("ERR GT and LT options at the same time are not compatible")
    flags: tuple[str, ...] = ()
    for word, on in (("NX", nx), ("XX", xx), ("GT", gt), ("LT", lt)):
        if on:
            flags += (word,)
    return flags
