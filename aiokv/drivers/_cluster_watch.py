"""WATCH on a cluster: one connection of the node serving the watched slot, held by a session."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from redis import exceptions as rexc
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.connection import Connection

from .._exceptions import ClientClosedError, InvalidArgumentError, OutcomeUnknownError
from ..commands._base import Command, Table
from ._cluster_batch import exec_replies
from ._redis_errors import translate_error
from ._slots import cross_slot_error, key_slot, refuse_in_transaction
from .redis import _decode, _exchange, _WatchFailed, _without_unsendable, _words

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

    async def _check(self, keys: Sequence[str]) -> None:
        """Raise CrossSlotError for a key outside the session's slot.

        A session that watches no key takes the slot of the first key it meets, and moves to
        that slot's node if it is another (nothing is watched yet, so nothing is lost).
        """
        for key in keys:
            slot = key_slot(key)
            if self._slot is None:
                await self._move_to(slot)
                self._slot, self._watched = slot, key
            elif slot != self._slot:
                raise cross_slot_error(
                    "a transaction on a cluster (keys of one slot, the watched keys')",
                    ((self._watched, self._slot), (key, slot)),
                )

    async def _move_to(self, slot: int) -> None:
        driver = self._driver
        cluster = await driver._ready()
        node = driver._node(cluster, slot)
        if node is None or node is self._node or self._conn is None:
            return  # no owner now: the command meets the cluster's own refusal or MOVED
        conn = await driver._acquire(node)
        try:
            if not conn.is_connected:
                await conn.connect()  # type: ignore[no-untyped-call]
        except rexc.RedisError as exc:
            release(node, conn)
            raise translate_error(exc, driver._settings, 1) from exc
        old, self._conn = self._conn, conn
        old_node, self._node = self._node, node
        release(old_node, old)

    async def run(self, *words: Words, readonly: bool = True) -> list[Any]:
        conn = self._conn
        if conn is None:
            raise ClientClosedError()
        settings = self._driver._settings
        try:
            return await _exchange(conn, words)
        except (UnicodeEncodeError, TypeError) as exc:  # nothing was sent: the watch holds
            raise InvalidArgumentError(f"cannot send this argument: {exc}") from exc
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
        refuse_in_transaction(spec)
        await self._check(spec.keys(args))
        reply = (await self.run(_words(spec, args), readonly=spec.readonly))[0]
        if isinstance(reply, rexc.RedisError):
            raise translate_error(reply, self._driver._settings) from reply
        return _decode(spec, args, reply)

    async def exec(self, calls: Sequence[tuple[Command, tuple[Any, ...]]]) -> list[Any] | None:
        for spec, _ in calls:
            refuse_in_transaction(spec)
        await self._check([key for spec, args in calls for key in spec.keys(args)])
        try:
            return await self._exec(calls)
        except InvalidArgumentError as exc:  # a command that cannot be sent: it fails alone
            return await _without_unsendable(exc, calls, self._exec)

    async def _exec(self, calls: Sequence[tuple[Command, tuple[Any, ...]]]) -> list[Any] | None:
        words = [("MULTI",), *(_words(spec, args) for spec, args in calls), ("EXEC",)]
        replies = await self.run(*words, readonly=False)
        self._watching = False
        try:
            return exec_replies(self._driver, calls, replies)
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
