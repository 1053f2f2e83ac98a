"""Blocking commands on the cluster driver: BLPOP, BRPOP, BLMOVE on connections of their own.

As on the redis driver (:mod:`._redis_blocking`), a pop that waits must not hold a connection
that other commands queue for, nor share one with them: each call takes a connection to its
slot's node from a set kept apart from the node's pool (made the same way, so TLS and
authentication apply), with no limit, and gives it back after. The reply is read for the
command's ``timeout`` plus ``socket_timeout`` (no limit for 0). A call cancelled, timed out or
failed while it waits closes its connection, so the server stops waiting for it; the element
the server may have popped just before is then lost (at most once, see
:mod:`aiokv.commands.blocking`). ``MOVED``, ``ASK``, ``TRYAGAIN`` and ``CLUSTERDOWN`` are
followed as for other commands: the node refused without waiting or popping.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import anyio
from redis import exceptions as rexc
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from .._exceptions import (
    ClientClosedError,
    InvalidArgumentError,
    KVTimeoutError,
    OutcomeUnknownError,
)
from ..commands._base import Command
from ._redis_blocking import read_reply, write
from ._redis_errors import REDIRECTS, translate_error
from ._slots import slot_of

if TYPE_CHECKING:
    from .cluster import ClusterDriver

__all__ = ["Waiters", "execute_blocking"]

_MAX_REDIRECTS = 16


class Waiters:
    """Idle connections for blocking commands, per node, on one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._idle: dict[str, list[Connection]] = {}
        self._busy: set[Connection] = set()

    def take(self, node: ClusterNode) -> Connection:
        """An idle connection to ``node``, or a new one (not yet connected)."""
        idle = self._idle.get(node.name)
        if idle:
            conn = idle.pop()
        else:
            # No retries inside redis-py, as in the node's own pool: the driver decides.
            # No socket_timeout inside redis-py either: it bounds each write and read with
            # asyncio.wait_for, which up to Python 3.11 can drop the caller's cancellation
            # (CPython gh-86296); the driver bounds connecting, writing and reading itself.
            options = {
                **node.connection_kwargs,
                "retry": Retry(NoBackoff(), 0),
                "socket_timeout": None,
            }
            conn = node.connection_class(**options)
        self._busy.add(conn)
        return conn

    def give_back(self, node: ClusterNode, conn: Connection) -> None:
        self._busy.discard(conn)
        self._idle.setdefault(node.name, []).append(conn)

    async def drop(self, conn: Connection) -> None:
        """Close ``conn`` for good (the server stops waiting for it)."""
        self._busy.discard(conn)
        await conn.disconnect(nowait=True)

    async def close(self) -> None:
        """Close every connection; the calls waiting on one end (with ClientClosedError)."""
        idle, self._idle = self._idle, {}
        busy, self._busy = self._busy, set()
        for conn in [*busy, *(conn for conns in idle.values() for conn in conns)]:
            await conn.disconnect(nowait=True)


def waiters(driver: ClusterDriver) -> Waiters:
    """The driver's blocking connections on the running loop (made on first use)."""
    loop = asyncio.get_running_loop()
    current = driver._waiters
    if current is None or current.loop is not loop:
        # Those of a loop that has stopped went with its sockets: nothing to close here.
        current = driver._waiters = Waiters(loop)
    return current


async def execute_blocking(driver: ClusterDriver, spec: Command, *args: Any) -> Any:
    """Run one blocking command on its slot's node; see the module docstring.

    Raises:
        CrossSlotError: if its keys lie in several slots.
        KVTimeoutError: if no reply came within its timeout plus ``socket_timeout``.
        OutcomeUnknownError: if the connection failed while it waited.
    """
    from .redis import _decode, _words

    settings = driver._settings
    slot = slot_of(spec.keys(args), spec.name)
    words = _words(spec, args)
    timeout = float(words[-1])
    limit = None if timeout == 0 else timeout + (settings.socket_timeout or 1.0)
    connect_limit = (settings.connect_timeout or 5.0) + (settings.socket_timeout or 5.0)
    asking: ClusterNode | None = None
    failures = redirects = 0
    while True:
        cluster = await driver._ready()
        node = asking if asking is not None else driver._node(cluster, slot)
        if node is None:  # a slot without a primary (mid-failover): nothing was sent
            failures += 1
            await driver._wait_for_owner(cluster, slot, failures)
            continue
        pool = waiters(driver)
        conn = pool.take(node)
        try:
            reader = getattr(conn, "_reader", None)
            if reader is not None and reader.at_eof():
                await conn.disconnect()  # closed while idle: reconnect before writing
            if not conn.is_connected:
                with anyio.fail_after(connect_limit):
                    await conn.connect()  # type: ignore[no-untyped-call]
        except TimeoutError as exc:  # nothing was sent
            await pool.drop(conn)
            raise KVTimeoutError(
                f"connecting to {node.name} of {settings.masked_url} took longer than "
                f"{connect_limit} s (connect_timeout plus socket_timeout)"
            ) from exc
        except rexc.RedisError as exc:  # nothing was sent
            await pool.drop(conn)
            failures += 1
            if driver._closed:
                raise ClientClosedError() from exc
            if failures > settings.retry_attempts or not isinstance(exc, rexc.ConnectionError):
                raise translate_error(exc, settings, failures) from exc
            driver._stale(cluster, node)
            await asyncio.sleep(driver._backoff.compute(failures))
            continue
        try:
            sent = (("ASKING",), words) if asking is not None else (words,)
            packed = conn.pack_commands(sent) if len(sent) > 1 else conn.pack_command(*words)
        except (UnicodeEncodeError, TypeError) as exc:  # nothing was sent
            pool.give_back(node, conn)
            raise InvalidArgumentError(f"cannot send this argument: {exc}") from exc
        try:
            await write(conn, packed, settings.socket_timeout)
            if asking is not None:
                await read_reply(conn, settings.socket_timeout)  # ASKING: OK
            reply = await read_reply(conn, limit)
        except rexc.ResponseError as exc:
            pool.give_back(node, conn)
            if not isinstance(exc, REDIRECTS):
                raise translate_error(exc, settings) from exc
            redirects += 1
            if redirects > _MAX_REDIRECTS:
                raise translate_error(exc, settings) from exc
            asking = await driver._follow(cluster, exc, redirects)
            continue
        except TimeoutError as exc:
            await pool.drop(conn)
            if driver._closed:
                raise ClientClosedError() from exc
            raise KVTimeoutError(
                f"{spec.name} got no reply from {node.name} of {settings.masked_url} within its "
                f"timeout plus socket_timeout ({limit} s); an element may or may not have been "
                "taken"
            ) from exc
        except (rexc.ConnectionError, rexc.TimeoutError) as exc:
            await pool.drop(conn)
            if driver._closed:
                raise ClientClosedError() from exc
            driver._stale(cluster, node)
            raise OutcomeUnknownError(
                f"the connection to {node.name} of {settings.masked_url} failed while "
                f"{spec.name} waited ({exc}); an element may or may not have been taken"
            ) from exc
        except Exception as exc:
            await pool.drop(conn)
            if driver._closed:  # aclose() closed the connection under the read
                raise ClientClosedError() from exc
            raise
        except BaseException:
            # Cancelled while the server may still wait for us: closing makes it stop.
            await pool.drop(conn)
            raise
        pool.give_back(node, conn)
        return _decode(spec, args, reply)
