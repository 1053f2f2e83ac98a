"""Keyspace commands: DEL, EXISTS, expiry, TYPE, KEYS/SCAN, DBSIZE, FLUSHDB, PING."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable

from .._codec import TTL, check_count, ttl_to_ms
from .._exceptions import InvalidArgumentError
from ._base import ALL_KEYS, NO_KEYS, SAME, SUM, Command, command, constant, text
from ._facade import Facade

__all__ = ["KeyCommands"]

DEL = Command("DEL", encode=lambda keys: ("DEL", *keys), keys=ALL_KEYS, merge=SUM)
EXISTS = Command(
    "EXISTS", readonly=True, encode=lambda keys: ("EXISTS", *keys), keys=ALL_KEYS, merge=SUM
)
PEXPIRE = Command("PEXPIRE", decode=bool)
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
            return constant(0)
        return self._run[DEL](self._keys(keys))

    @command
    def exists(self, *keys: str) -> Awaitable[int]:
        """Return how many of ``keys`` exist, duplicates counted (so truthy for one key)."""
        if not keys:
            return constant(0)
        return self._run[EXISTS](self._keys(keys))

    @command
    def expire(self, key: str, ttl: TTL) -> Awaitable[bool]:
        """Set a TTL on an existing key; a TTL <= 0 deletes it.

        Returns:
            True if the key exists (and was updated or deleted), False on a miss.

        Raises:
            InvalidArgumentError: for a TTL that is NaN, infinite, not a number, or out of range.
        """
        return self._run[PEXPIRE](self._key(key), ttl_to_ms(ttl))

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
        return self._count_prefixed()

    async def _count_prefixed(self) -> int:
        return len(await self._driver_keys(self._glob_prefix + "*"))

    @command
    def flushdb(self) -> Awaitable[None]:
        """Delete every key; with a key prefix, only the keys under the prefix."""
        if not self._prefix:
            return self._run[FLUSHDB]()
        return self._flush_prefixed()

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
