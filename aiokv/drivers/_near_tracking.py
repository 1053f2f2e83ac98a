"""The near cache's connection: its reads, and the server's invalidations, on one socket.

The connection speaks RESP3 (``HELLO 3``) with ``CLIENT TRACKING ON`` (or ``... BCAST PREFIX``
for ``near_cache_prefixes``), so the server pushes an ``invalidate`` message on this very
connection when a key it read (or a key under a tracked prefix) changes, expires or is evicted,
and ``invalidate`` with no key when the database is flushed. A push and the replies share one
ordered stream: a change the server made after answering a read reaches us after that read's
reply, which is what lets :class:`~aiokv.drivers._near_cache.NearCache` decide whether the
reply may be kept.

Like a multiplexed lane (``_redis_mux``), the connection is opened by redis-py (TLS, AUTH,
SELECT and Sentinel apply unchanged; on a cluster, as the node's own pool opens them), then its
transport is read here with hiredis. Requests are written at once, and their replies handed out
in order; a push is handed to the cache as it is read. The connection is checked every
:data:`HEARTBEAT` seconds with a PING: a reply later than the timeout (``socket_timeout``, or
:data:`DEFAULT_TIMEOUT`) fails the connection, as a closed socket does, and the cache then
empties itself: a server that went silent (a network partition, which TCP may not report for
minutes) cannot leave reads served locally for longer than ``HEARTBEAT`` plus the timeout.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import Any

import hiredis
from redis import exceptions as rexc
from redis._parsers.base import BaseParser
from redis.asyncio.connection import AbstractConnection

from ._redis_mux import Connections, pack
from ._redis_pool import step

__all__ = ["DEFAULT_TIMEOUT", "HEARTBEAT", "TrackingConnection", "TrackingLost"]

HEARTBEAT = 1.0
"""Seconds between the liveness checks (PING) of an idle tracking connection."""

DEFAULT_TIMEOUT = 5.0
"""The reply timeout of the tracking connection when ``socket_timeout`` is None."""

_MORE = object()  # hiredis's answer when the buffer holds no complete reply
_PUSH: type | None = getattr(hiredis, "PushNotification", None)  # hiredis >= 3.2


class TrackingLost(Exception):
    """The tracking connection failed (closed, reset, timed out) before the reply came."""

    def __init__(self, cause: rexc.RedisError) -> None:
        super().__init__(str(cause))
        self.cause = cause


class TrackingRefused(Exception):
    """The server refused HELLO 3 or CLIENT TRACKING (an old server, an ACL)."""


def _is_invalidation(reply: Any) -> bool:
    if _PUSH is not None and not isinstance(reply, _PUSH):
        return False
    # Without hiredis's push type: no reply the cache asks for is a list of two items whose
    # second is a list or nil (set members are bulk strings), so this is unambiguous.
    return (
        isinstance(reply, list)
        and len(reply) == 2
        and reply[0] == b"invalidate"
        and (reply[1] is None or isinstance(reply[1], list))
    )


class TrackingConnection(asyncio.Protocol):
    """One connection with client-side caching on (see the module docstring).

    Args:
        pool: The driver's pool (or a cluster node's), whose ``make_connection`` opens the
            socket.
        timeout: Seconds a request may wait for its reply.
        address: The server, masked, for messages.
        prefixes: Keys prefixes for broadcast tracking; None to track the keys read.
        invalidated: Called with each push's keys (bytes), or None for a flush.
        lost: Called once when the connection fails.
    """

    def __init__(
        self,
        pool: Connections,
        timeout: float,
        address: str,
        prefixes: Sequence[str] | None,
        invalidated: Callable[[list[bytes] | None], None],
        lost: Callable[[TrackingConnection], None],
    ) -> None:
        self.pool = pool
        self.loop = pool.loop
        self.timeout = timeout
        self.address = address
        self.prefixes = prefixes
        self.invalidated = invalidated
        self.lost = lost
        self.transport: asyncio.Transport | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.opening: asyncio.Task[None] | None = None
        self.ready = False
        self.opened = False  # tracking was on at some point
        self.dead = False
        self.reader = hiredis.Reader(
            protocolError=rexc.InvalidResponse,
            replyError=BaseParser.parse_error,
            notEnoughData=_MORE,
        )
        # Written, unanswered, in order: the future, the replies read so far, how many to read.
        self.waiting: deque[tuple[asyncio.Future[list[Any]], list[Any], int]] = deque()
        self.deadlines: deque[float] = deque()
        self.timer: asyncio.TimerHandle | None = None
        self.beat: asyncio.TimerHandle | None = None
        # Closes the connection when its loop shuts down (see close_at_loop_shutdown).
        self.guard: AsyncGenerator[None, None] | None = None

    # -- requests ----------------------------------------------------------------------------

    def request(self, *packed: bytes) -> asyncio.Future[list[Any]]:
        """Write the packed commands; a future of their replies (errors as redis-py errors)."""
        future: asyncio.Future[list[Any]] = self.loop.create_future()
        if self.dead or self.transport is None:
            future.set_exception(TrackingLost(self._closed_error()))
            return future
        self.transport.write(b"".join(packed) if len(packed) > 1 else packed[0])
        self.waiting.append((future, [], len(packed)))
        deadline = self.loop.time() + self.timeout
        self.deadlines.append(deadline)
        if self.timer is None:
            self.timer = self.loop.call_at(deadline, self._check)
        return future

    def _check(self) -> None:
        """The timer: fail the connection if its oldest request is past its deadline."""
        self.timer = None
        if not self.deadlines:
            return
        first = self.deadlines[0]
        if first > self.loop.time():
            self.timer = self.loop.call_at(first, self._check)
            return
        self.fail(rexc.TimeoutError(f"Timeout reading from {self.address}"))

    def _heartbeat(self) -> None:
        self.beat = None
        if self.dead:
            return
        if not self.waiting:  # requests in flight already prove (or disprove) liveness
            self.request(pack(("PING",))).add_done_callback(_ignore)
        self.beat = self.loop.call_later(HEARTBEAT, self._heartbeat)

    # -- asyncio.Protocol --------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        reader.feed(data)
        try:
            while (reply := reader.gets()) is not _MORE:
                if _is_invalidation(reply):
                    self.invalidated(reply[1])
                    continue
                if _PUSH is not None and isinstance(reply, _PUSH):
                    continue  # another kind of push: nothing of the cache's
                future, replies, count = self.waiting[0]
                replies.append(reply)
                if len(replies) == count:
                    self.waiting.popleft()
                    self.deadlines.popleft()
                    if not future.done():  # a cancelled caller's replies are read and dropped
                        future.set_result(replies)
        except (rexc.InvalidResponse, IndexError) as exc:  # a reply nobody asked for
            self.fail(rexc.ConnectionError(f"protocol error from {self.address}: {exc!r}"))

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        reason = f" ({exc})" if exc is not None else ""
        self.fail(rexc.ConnectionError(f"Connection closed by {self.address}{reason}"))

    def _closed_error(self) -> rexc.ConnectionError:
        return rexc.ConnectionError(f"Connection closed by {self.address}")

    # -- lifetime ----------------------------------------------------------------------------

    def fail(self, error: rexc.RedisError) -> None:
        """Close the connection, fail every request in flight, and tell the cache (once)."""
        if self.dead:
            return
        self.dead = True
        self.ready = False
        for handle in (self.timer, self.beat):
            if handle is not None:
                handle.cancel()
        self.timer = self.beat = None
        if self.transport is not None and not self.loop.is_closed():
            self.transport.abort()
        waiting, self.waiting = self.waiting, deque()
        self.deadlines.clear()
        for future, _, _ in waiting:
            if not future.done():
                future.set_exception(TrackingLost(error))
        self.lost(self)

    async def open(self) -> None:
        """Connect and turn tracking on (shared by every read that finds it unopened).

        Raises:
            TrackingLost: the connection could not be opened, or failed meanwhile.
            TrackingRefused: the server refused RESP3 or tracking.
        """
        if self.opening is None:
            self.guard = _closed_at_loop_shutdown(self)
            step(self.guard.asend(None))
            self.opening = self.loop.create_task(self._open())
            self.opening.add_done_callback(_retrieve)
        # Shielded: a cancelled reader must not abort the connection others wait for.
        await asyncio.shield(self.opening)

    async def _open(self) -> None:
        conn: AbstractConnection = self.pool.make_connection()
        try:
            await conn.connect()  # type: ignore[no-untyped-call]
        except rexc.RedisError as exc:
            await conn.disconnect()
            self.fail(exc)
            raise TrackingLost(exc) from exc
        except BaseException:
            await conn.disconnect()
            self.fail(self._closed_error())
            raise
        writer = conn._writer
        transport: asyncio.Transport = writer.transport  # type: ignore[union-attr,assignment]
        # The transport is ours from here (as a multiplexed lane's): redis-py never reads it
        # again. The writer is kept: a StreamWriter closes its transport when collected.
        conn._reader = conn._writer = None
        self.writer = writer
        if self.dead or transport.is_closing():
            transport.abort()
            self.fail(self._closed_error())
            raise TrackingLost(self._closed_error())
        transport.set_protocol(self)
        self.transport = transport
        tracking: tuple[str, ...] = ("CLIENT", "TRACKING", "ON")
        if self.prefixes is not None:
            tracking += ("BCAST", *(word for p in self.prefixes for word in ("PREFIX", p)))
        replies = await self.request(pack(("HELLO", 3)), pack(tracking))
        refused = next((r for r in replies if isinstance(r, rexc.RedisError)), None)
        if refused is not None:
            self.fail(self._closed_error())
            raise TrackingRefused(str(refused))
        self.ready = self.opened = not self.dead
        self.beat = self.loop.call_later(HEARTBEAT, self._heartbeat)

    def close(self) -> None:
        """Close the connection (the client is closing, or moved to another loop)."""
        self.fail(rexc.ConnectionError(f"the near cache's connection to {self.address} closed"))
        guard, self.guard = self.guard, None
        if guard is not None and not self.loop.is_closed():
            step(guard.aclose())


async def _closed_at_loop_shutdown(tracking: TrackingConnection) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        tracking.guard = None  # closing now: close() must not close this generator again
        tracking.close()


def _retrieve(task: asyncio.Task[None]) -> None:
    # Every waiter may have been cancelled: the exception is then nobody's to log.
    if not task.cancelled():
        task.exception()


def _ignore(future: asyncio.Future[list[Any]]) -> None:
    if not future.cancelled():
        future.exception()
