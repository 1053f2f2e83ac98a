"""WATCH on a cluster: one connection of the node serving the watched slot, held by a session."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from redis import exceptions as rexc
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.connection import Connection

from .._exceptions import ClientClosedError, OutcomeUnknownError
from ..commands._base import Command, Table
from ._redis_errors import translate_error
from ._slots import cross_slot_error, key_slot
from .redis import _decode, _exchange, _WatchFailed, _words

if TYPE_CHECKING:
    from .cluster import ClusterDriver

__all__ = ["ClusterWatch"]

Words = tuple[Any, ...]


def release(node: ClusterNode, conn: Connection) -> None:
    """Give ``conn`` back to ``node``'s free list (redis-py < 6.1 has no ClusterNode.release)."""
    give_back = getattr(node, "release", None)
    if give_back is not None:
        give_back(conn)
    else:
        node._free.append(conn)


class _SessionTable(dict[Command, Callable[..., Awaitable[Any]]]):
    def __init__(self, session: ClusterWatch) -> None:
        super().__init__()
        self._session = session

    def __missing__(self, spec: Command) -> Callable[..., Awaitable[Any]]:
        run = self[spec] = functools.partial(self._session.execute, spec)
        return run


class ClusterWatch:
    """WATCH on one connection of the node serving the watched slot, held until :meth:`close`.

    Every command inside the watch, and every queued command, must be on that slot.
    """

    def __init__(
        self,
        driver: ClusterDriver,
        node: ClusterNode,
        conn: Connection,
        keys: Sequence[str],
        slot: int | None,
    ) -> None:
        self._driver = driver
        self._watched = keys[0] if keys else ""
        self._node = node
        self._conn: Connection | None = conn
        self._slot = slot
        self._watching = True
        self.table: Table = _SessionTable(self)

    def _check(self, keys: Sequence[str]) -> None:
        for key in keys:
            slot = key_slot(key)
            if slot != self._slot:
                watched = (self._watched, self._slot) if self._slot is not None else None
                raise cross_slot_error(
                    "a transaction on a cluster (keys of one slot, the watched keys')",
                    (*(() if watched is None else (watched,)), (key, slot)),
                )

    async def run(self, *words: Words, readonly: bool = True) -> list[Any]:
        conn = self._conn
        if conn is None:
            raise ClientClosedError()
        settings = self._driver._settings
        try:
            return await _exchange(conn, words)
        except rexc.ConnectionError as exc:
            await self.close()
            if not readonly:
                raise OutcomeUnknownError(
                    f"the connection to {self._node.name} failed during EXEC ({exc}); "
                    "the transaction may or may not have been applied"
                ) from exc
            raise translate_error(exc, settings, 1) from exc
        except rexc.RedisError as exc:
            await self.close()
            raise translate_error(exc, settings, 1) from exc
        except BaseException:
            await self.close()
            raise

    async def execute(self, spec: Command, *args: Any) -> Any:
        self._check(spec.keys(args))
        reply = (await self.run(_words(spec, args), readonly=spec.readonly))[0]
        if isinstance(reply, rexc.RedisError):
            raise translate_error(reply, self._driver._settings) from reply
        return _decode(spec, args, reply)

    async def exec(self, calls: Sequence[tuple[Command, tuple[Any, ...]]]) -> list[Any] | None:
        self._check([key for spec, args in calls for key in spec.keys(args)])
        words = [("MULTI",), *(_words(spec, args) for spec, args in calls), ("EXEC",)]
        replies = await self.run(*words, readonly=False)
        self._watching = False
        try:
            return self._driver._exec_replies(calls, replies)
        except _WatchFailed:
            return None

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._watching:
            try:
                await _exchange(conn, [("UNWATCH",)])
            except BaseException:
                await conn.disconnect()
        release(self._node, conn)
