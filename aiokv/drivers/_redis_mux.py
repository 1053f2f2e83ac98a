"""Auto-pipelining: the commands of concurrent tasks share a few connections, written together.

A :class:`Mux` owns ``multiplexed_connections`` :class:`Lane` objects, each one connection.
A command is packed, put on a lane, and its caller waits on a future of its own. A command
that finds its lane idle is written at once (a single caller pays no batching delay); one that
finds replies outstanding joins the lane's buffer, which is written in one piece at the end of
the event-loop step, so the commands issued by many tasks in the same step cost one write.
Replies come back in order: each is handed to the oldest unanswered future of its lane.

What holds whatever the interleaving:

* A cancelled caller's future is cancelled; its reply, when it comes, is read and dropped, so
  no reply ever reaches the wrong caller. A command cancelled before its lane wrote the buffer
  is never sent.
* ``socket_timeout`` bounds each caller's wait: one timer per lane watches the oldest
  unanswered command; if its reply is late, the lane is closed, every command it carried fails
  with a timeout, and the next command opens a fresh connection.
* A lane whose connection fails fails exactly the commands it carried, with :class:`Lost`
  (written: the driver never re-sends a write) or :class:`Unsent` (still in the buffer: safe
  to send again), and is replaced.

A connection is opened by redis-py (so TLS, authentication, ``SELECT`` and every connection
option of the pool apply unchanged), then its transport is handed to the lane, an
``asyncio.Protocol`` feeding hiredis's ``Reader``: no StreamReader, lock or ``wait_for`` per
command, which is where redis-py spends most of its CPU per command.

Commands that block the connection or change its state (:data:`PINNED_COMMANDS`) never come
here: the driver runs them, pipelines, transactions and WATCH on pooled connections.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import hiredis
from redis import exceptions as rexc
from redis._parsers.base import BaseParser
from redis.asyncio.connection import AbstractConnection

from .._exceptions import ClientClosedError
from ._redis_pool import OtherLoop

__all__ = ["PINNED_COMMANDS", "Connections", "Lost", "Mux", "Unsent", "pack"]

PINNED_COMMANDS = frozenset(
    {
        # blocking: they would hold up every command behind them on a shared connection
        "BLPOP", "BRPOP", "BLMOVE", "BRPOPLPUSH", "BLMPOP", "BZPOPMIN", "BZPOPMAX", "BZMPOP",
        "XREAD", "XREADGROUP", "WAIT", "WAITAOF",
        # connection state: they would change it for every caller of the connection
        "SELECT", "AUTH", "HELLO", "CLIENT", "RESET", "QUIT", "READONLY", "READWRITE",
        "WATCH", "UNWATCH", "MULTI", "EXEC", "DISCARD",
        "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "MONITOR",
    }
)  # fmt: skip
"""Command names the driver never multiplexes."""

_MORE = object()  # hiredis's answer when the buffer holds no complete reply


class Connections(Protocol):
    """What a :class:`Mux` needs of its pool: the loop, and new unconnected connections with
    every option (TLS, authentication, ``SELECT``) set. A :class:`~._redis_pool.Pool` is one;
    the cluster driver gives one per node."""

    loop: asyncio.AbstractEventLoop

    def make_connection(self) -> AbstractConnection: ...


class Unsent(Exception):
    """The command was never written (its connection failed first): it may be sent again."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class Lost(Exception):
    """The command was written, and its connection failed before the reply came."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def pack(words: Sequence[Any]) -> bytes:
    """RESP-encode one command as redis-py would (``repr`` of numbers, surrogate escapes).

    Raises:
        redis.exceptions.DataError: an argument of a type Redis cannot take (bool, None...).
        UnicodeEncodeError: text that cannot be sent even with surrogate escapes.
    """
    try:
        return hiredis.pack_command(tuple(words))  # type: ignore[no-any-return]
    except (TypeError, UnicodeEncodeError):
        pass
    parts = [b"*%d\r\n" % len(words)]
    for word in words:
        data = _encode(word)
        parts += (b"$%d\r\n" % len(data), data, b"\r\n")
    return b"".join(parts)


def _encode(word: Any) -> bytes:
    if isinstance(word, (bytes, bytearray, memoryview)):
        return bytes(word)
    if isinstance(word, bool):
        raise rexc.DataError("Invalid input of type: 'bool'. Convert to a string first.")
    if isinstance(word, (int, float)):
        return repr(word).encode()
    if isinstance(word, str):
        return word.encode("utf-8", "surrogateescape")
    raise rexc.DataError(f"Invalid input of type: {type(word).__name__!r}.")


class Lane(asyncio.Protocol):
    """One multiplexed connection: a buffer of commands to write, and futures awaiting replies."""

    def __init__(self, mux: Mux) -> None:
        self.mux = mux
        self.loop = mux.loop
        self.transport: asyncio.Transport | None = None
        self.opening: asyncio.Task[None] | None = None
        self.dead = False
        self.reader = hiredis.Reader(
            protocolError=rexc.InvalidResponse,
            replyError=BaseParser.parse_error,
            notEnoughData=_MORE,
        )
        self.waiting: deque[asyncio.Future[Any]] = deque()  # written, unanswered, in order
        self.deadlines: deque[float] = deque()  # when each of them times out
        self.chunks: list[bytes] = []  # packed, not yet written
        self.queued: list[asyncio.Future[Any]] = []
        self.timer: asyncio.TimerHandle | None = None
        self.writer: asyncio.StreamWriter | None = None

    # -- sending -----------------------------------------------------------------------------

    def send(self, packed: bytes) -> asyncio.Future[Any]:
        """Write ``packed`` now if the lane is idle, else at the end of this loop step."""
        future = self.loop.create_future()
        if self.waiting or self.chunks:
            if not self.chunks:
                self.mux.filling = self
                self.loop.call_soon(self.flush)
            self.chunks.append(packed)
            self.queued.append(future)
            return future
        self.transport.write(packed)  # type: ignore[union-attr]
        self.waiting.append(future)
        timeout = self.mux.timeout
        if timeout is not None:
            deadline = self.loop.time() + timeout
            self.deadlines.append(deadline)
            if self.timer is None:
                self.timer = self.loop.call_at(deadline, self.check)
        return future

    def flush(self) -> None:
        if self.mux.filling is self:
            self.mux.filling = None
        chunks, queued = self.chunks, self.queued
        if self.dead or not chunks:
            return
        self.chunks, self.queued = [], []
        if any(future.done() for future in queued):  # cancelled before the write: never sent
            chunks = [c for c, f in zip(chunks, queued, strict=True) if not f.done()]
            queued = [f for f in queued if not f.done()]
            if not queued:
                return
        self.transport.write(b"".join(chunks))  # type: ignore[union-attr]
        self.waiting.extend(queued)
        timeout = self.mux.timeout
        if timeout is not None:
            deadline = self.loop.time() + timeout
            self.deadlines.extend([deadline] * len(queued))
            if self.timer is None:
                self.timer = self.loop.call_at(deadline, self.check)

    def check(self) -> None:
        """The timer: fail the lane if its oldest unanswered command is past its deadline."""
        self.timer = None
        if not self.deadlines:
            return
        first = self.deadlines[0]
        if first > self.loop.time():
            self.timer = self.loop.call_at(first, self.check)
            return
        where = self.mux.address
        self.fail(
            lambda: rexc.TimeoutError(f"Timeout reading from {where}"),
            lambda: Unsent(rexc.TimeoutError(f"Timeout reading from {where}")),
        )

    # -- asyncio.Protocol --------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        reader.feed(data)
        waiting = self.waiting
        deadlines = self.deadlines
        try:
            while (reply := reader.gets()) is not _MORE:
                future = waiting.popleft()
                if deadlines:
                    deadlines.popleft()
                if not future.done():  # a cancelled caller's reply is read and dropped
                    future.set_result(reply)
        except (rexc.InvalidResponse, IndexError) as exc:  # a reply nobody asked for
            error = rexc.ConnectionError(f"protocol error from {self.mux.address}: {exc!r}")
            self.fail(lambda: Lost(error), lambda: Unsent(error))

    def eof_received(self) -> bool | None:
        return None  # the transport closes itself; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        if self.dead:
            return
        reason = f" ({exc})" if exc is not None else ""
        error = rexc.ConnectionError(f"Connection closed by {self.mux.address}{reason}")
        self.fail(lambda: Lost(error), lambda: Unsent(error))

    # -- lifetime ----------------------------------------------------------------------------

    def fail(
        self, written: Callable[[], BaseException], unwritten: Callable[[], BaseException]
    ) -> None:
        """Close the connection; fail what it carried (``written()`` or ``unwritten()`` each)."""
        if self.dead:
            return
        self.dead = True
        self.mux.forget(self)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.transport is not None:
            self.transport.abort()
        for future in self.waiting:
            if not future.done():
                future.set_exception(written())
        for future in self.queued:
            if not future.done():
                future.set_exception(unwritten())
        self.waiting.clear()
        self.deadlines.clear()
        self.queued.clear()
        self.chunks.clear()

    async def open(self) -> None:
        """Connect (shared by every command that finds the lane unopened).

        Raises:
            redis.exceptions.RedisError: as redis-py's ``connect()`` raises it (nothing sent).
            ClientClosedError: the client was closed meanwhile.
        """
        if self.opening is None:
            self.opening = self.loop.create_task(self._open())
            self.opening.add_done_callback(_retrieve)
        # Shielded: a cancelled caller must not abort the connection others wait for.
        await asyncio.shield(self.opening)

    async def _open(self) -> None:
        conn = self.mux.pool.make_connection()
        try:
            await conn.connect()  # type: ignore[no-untyped-call]
        except BaseException:
            self.dead = True
            self.mux.forget(self)
            await conn.disconnect()
            raise
        writer = conn._writer
        transport: asyncio.Transport = writer.transport  # type: ignore[union-attr,assignment]
        # The transport is the lane's from here: redis-py's streams never see it again. The
        # writer is kept: a StreamWriter closes its transport when it is garbage-collected.
        conn._reader = conn._writer = None
        self.writer = writer
        if self.dead or self.mux.closed or transport.is_closing():
            transport.abort()
            self.dead = True
            self.mux.forget(self)
            if self.mux.closed:
                raise ClientClosedError()
            raise rexc.ConnectionError(f"Connection closed by {self.mux.address}")
        transport.set_protocol(self)
        self.transport = transport


def _retrieve(task: asyncio.Task[None]) -> None:
    # Every waiter may have been cancelled: the exception is then nobody's to log.
    if not task.cancelled():
        task.exception()


class Mux:
    """The multiplexed connections of one driver on one event loop (see the module docstring)."""

    def __init__(self, pool: Connections, size: int, timeout: float | None, address: str) -> None:
        self.pool = pool
        self.loop = pool.loop
        self.timeout = timeout
        self.address = address
        self.lanes = [Lane(self) for _ in range(size)]
        self.filling: Lane | None = None  # the lane whose buffer this loop step fills
        self.closed = False
        self.shut_down = False  # closed by its loop's shutdown, not by the client

    async def call(self, packed: bytes) -> Any:
        """Send one packed command; its reply (an error reply as a redis-py error object).

        Raises:
            Unsent: the connection failed before the command was written (or could not open).
            Lost: the connection failed after it was written.
            redis.exceptions.TimeoutError: no reply within ``socket_timeout``.
            redis.exceptions.RedisError: the connection could not be set up (not retryable).
            ClientClosedError: the client was closed.
            OtherLoop: the running loop is not this mux's.
        """
        if self.closed:
            raise OtherLoop() if self.shut_down else ClientClosedError()
        lane = self.filling
        if lane is None:
            if asyncio.get_running_loop() is not self.loop:
                raise OtherLoop()
            lanes = self.lanes
            lane = lanes[0] if len(lanes) == 1 else min(lanes, key=_load)
            if lane.transport is None:
                try:
                    await lane.open()
                except rexc.ConnectionError as exc:
                    raise Unsent(exc) from exc
                if self.closed:
                    raise ClientClosedError()
                if lane.dead:
                    raise Unsent(rexc.ConnectionError(f"Connection closed by {self.address}"))
        return await lane.send(packed)

    def forget(self, lane: Lane) -> None:
        """Replace a dead lane with a fresh (unopened) one."""
        if self.filling is lane:
            self.filling = None
        lanes = self.lanes
        for i, other in enumerate(lanes):
            if other is lane:
                lanes[i] = Lane(self)

    def close(self, shut_down: bool = False) -> None:
        """Fail every command in flight or queued with ClientClosedError; send nothing more.

        ``shut_down``: the loop is shutting down; the client moves to the next loop it runs in.
        """
        self.closed = True
        self.shut_down = shut_down
        for lane in list(self.lanes):
            lane.fail(ClientClosedError, ClientClosedError)
        self.lanes = []


def _load(lane: Lane) -> int:
    return len(lane.waiting) + len(lane.queued)
