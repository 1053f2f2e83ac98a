"""The Driver protocol: the seam between the AsyncClient facade and a storage backend.

The seam is Redis's own command set, typed one method per command, rather than a generic
``execute(name, *args)``. A generic dispatcher would keep the protocol to two methods, but it puts
name dispatch and per-call argument packing on the hot path: a quick sizing ran it at ~0.15x an
``async def`` over a bare dict, against ~0.5x for a direct typed call. With one coroutine per
command, ``await kv.get(k)`` on the memory driver is a single coroutine doing dict work, and the
facade only normalises arguments (prefix, value encoding, TTL units) and hands back the driver's
coroutine without awaiting it.

Division of labour:
  * The facade (``AsyncClient``) validates and converts Python arguments: keys arrive here already
    prefixed, values as ``str``/``bytes``, TTLs as whole milliseconds, amounts as checked ints.
  * A driver executes the command with Redis 7 semantics and returns the final Python value.
    It raises only ``aiokv`` errors (translated at its edge) for the same mistakes on every driver.

Text replies (``get``, hash/list/set contents) are ``str``; bytes that are not UTF-8 inside
containers come back with surrogate escapes (``.encode("utf-8", "surrogateescape")`` restores them).
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Protocol

from anyio.abc import TaskGroup

from ._script import Script, ScriptArg

__all__ = ["Driver"]


class Driver(Protocol):
    """A storage backend. Methods mirror the Redis commands of the same name."""

    def open(self, task_group: TaskGroup | None) -> None:
        """Get ready for use inside a running event loop; start background work in ``task_group``.

        ``task_group`` is given when the client is opened with ``async with`` and is ``None`` when
        it opens itself on first use. Called once, without awaiting, so concurrent first uses
        cannot race.

        Raises:
            DriverUnavailableError: if the driver cannot run under the current event loop.
        """

    async def aclose(self) -> None:
        """Stop background work and release connections. Called once."""

    async def set(self, key: str, value: str | bytes, px: int | None, nx: bool, xx: bool) -> bool:
        """SET with optional PX (ms, > 0), NX or XX; True if written. No PX clears the TTL."""

    async def get(self, key: str) -> str | None:
        """GET decoded as UTF-8; None on a miss. Raises ValueDecodeError, WrongTypeError."""

    async def get_bytes(self, key: str) -> bytes | None:
        """GET as bytes; None on a miss. Raises WrongTypeError."""

    async def delete(self, keys: Sequence[str]) -> int:
        """DEL: number of keys removed, each distinct key counted once."""

    async def exists(self, keys: Sequence[str]) -> int:
        """EXISTS: number of existing keys, duplicates counted each time."""

    async def pexpire(self, key: str, ms: int) -> bool:
        """PEXPIRE; False on a missing key. ``ms <= 0`` deletes the key (and returns True)."""

    async def persist(self, key: str) -> bool:
        """PERSIST: True only when a TTL was removed."""

    async def pttl(self, key: str) -> int:
        """PTTL: ms left, -1 for no expiry, -2 for a missing key."""

    async def ttl(self, key: str) -> int:
        """TTL: seconds left rounded half up, -1 for no expiry, -2 for a missing key."""

    async def type(self, key: str) -> str:
        """TYPE: 'string', 'hash', 'list', 'set', or 'none' for a missing key."""

    async def keys(self, pattern: str) -> list[str]:
        """Every live key matching the Redis glob ``pattern`` (through SCAN on a server)."""

    def scan_iter(self, pattern: str, count: int) -> AsyncIterator[str]:
        """Iterate live keys matching ``pattern`` (each key present throughout at least once)."""

    async def incrby(self, key: str, amount: int) -> int:
        """INCRBY; a missing key counts from 0; the TTL is kept.

        Raises NotAnIntegerError, IntegerOverflowError (value unchanged), WrongTypeError.
        """

    async def hset(self, key: str, mapping: Mapping[str | bytes, str | bytes]) -> int:
        """HSET with at least one pair: number of fields that are new."""

    async def hget(self, key: str, field: str | bytes) -> str | None:
        """HGET; None when the key or the field is missing."""

    async def hgetall(self, key: str) -> dict[str, str]:
        """HGETALL; {} for a missing key."""

    async def hdel(self, key: str, fields: Sequence[str | bytes]) -> int:
        """HDEL: number of fields removed; the key vanishes with its last field."""

    async def lpush(self, key: str, values: Sequence[str | bytes]) -> int:
        """LPUSH each value in turn to the head: new length."""

    async def rpush(self, key: str, values: Sequence[str | bytes]) -> int:
        """RPUSH each value in turn to the tail: new length."""

    async def lpop(self, key: str, count: int | None) -> str | list[str] | None:
        """LPOP: one element, or up to ``count`` (head first); None for a missing key."""

    async def rpop(self, key: str, count: int | None) -> str | list[str] | None:
        """RPOP: one element, or up to ``count`` (tail first); None for a missing key."""

    async def llen(self, key: str) -> int:
        """LLEN; 0 for a missing key."""

    async def lrange(self, key: str, start: int, stop: int) -> list[str]:
        """LRANGE with inclusive, clamped indexes; negative ones count from the end."""

    async def sadd(self, key: str, members: Sequence[str | bytes]) -> int:
        """SADD: number of members that are new."""

    async def srem(self, key: str, members: Sequence[str | bytes]) -> int:
        """SREM: number of members removed; the key vanishes with its last member."""

    async def smembers(self, key: str) -> builtins.set[str]:
        """SMEMBERS; an empty set for a missing key."""

    async def sismember(self, key: str, member: str | bytes) -> bool:
        """SISMEMBER."""

    async def scard(self, key: str) -> int:
        """SCARD; 0 for a missing key."""

    async def dbsize(self) -> int:
        """DBSIZE: keys in the database, including expired keys not yet reclaimed."""

    async def flushdb(self) -> None:
        """FLUSHDB: remove every key of the database (all prefixes)."""

    async def ping(self) -> bool:
        """PING: True, or a connection error."""

    async def run_script(
        self, script: Script, keys: Sequence[str], args: Sequence[ScriptArg]
    ) -> Any:
        """Run ``script`` as one atomic step (see :mod:`aiokv._script`); return its reply.

        The redis driver runs ``script.lua`` (EVALSHA, then EVAL on NOSCRIPT); the memory driver
        awaits ``script.local(self, keys, args)``. Errors raised inside are aiokv errors.
        """
