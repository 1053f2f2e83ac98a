"""The redis driver's plumbing under the commands: the connection pool (waiting for a free
connection, event-loop changes) and the cancellations that redis-py drops."""

from __future__ import annotations

import asyncio
import inspect
import sys
from collections import deque
from collections.abc import AsyncGenerator, Coroutine
from typing import Any, NoReturn

from redis.asyncio import ConnectionPool
from redis.asyncio.connection import AbstractConnection

from ..observability import PoolStats

__all__ = [
    "NotNow",
    "OtherLoop",
    "Pool",
    "PoolFull",
    "cancel_requests",
    "close_at_loop_shutdown",
    "expire_waiter",
    "not_connected",
    "resume_cancellation",
    "running_loop",
    "step",
]


class NotNow(Exception):
    """The pool cannot hand out a connection at once; nothing was sent (see RedisDriver._later)."""


class PoolFull(NotNow):
    """Every connection is in use."""


class OtherLoop(NotNow):
    """The pool's connections belong to another event loop than the running one (or none)."""


def not_connected(*args: Any) -> NoReturn:
    raise OtherLoop()


# redis-py before 5.3 requires a command name (which it ignores); later versions deprecate it.
_COMMAND_NAME: tuple[str, ...] = (
    ("_",)
    if inspect.signature(ConnectionPool.get_connection).parameters["command_name"].default
    is inspect.Parameter.empty
    else ()
)


class Pool(ConnectionPool):
    """redis-py's ConnectionPool, with a queue of commands waiting for a free connection.

    redis-py's BlockingConnectionPool also waits, but every acquisition takes an
    ``asyncio.Condition`` and starts a timeout, which cost ~20% of the client's CPU per command
    in a sequential-GET profile. Here a command that finds a free connection pays one check;
    only one that finds the pool full waits (:meth:`RedisDriver._wait_for_connection`), and each
    release hands the connection to the longest waiter: until that waiter has taken it
    (``handoffs``), and while anyone waits, a newcomer queues too. Without that, a task that
    releases a connection and issues its next command in the same step of the loop takes the
    connection back every time, and the waiters starve until ``pool_timeout``.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.loop = asyncio.get_running_loop()
        self.waiters: deque[asyncio.Future[bool]] = deque()
        self.handoffs = 0
        self.closed = False

    def must_wait(self) -> bool:
        """True if a newcomer must queue: the pool is full, or others are ahead of it."""
        return bool(self.waiters or self.handoffs) or self.is_full()

    def is_full(self) -> bool:
        return (
            not self._available_connections
            and len(self._in_use_connections) >= self.max_connections
        )

    # Not ``async``: it returns redis-py's coroutine, so a command awaits no extra frame.
    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        # Checked before redis-py touches a socket: a connection of a closed loop can still
        # *send* (the write goes straight to the socket), and only the read fails.
        if asyncio.get_running_loop() is not self.loop:
            raise OtherLoop()
        if (
            self.waiters
            or self.handoffs
            or (
                not self._available_connections
                and len(self._in_use_connections) >= self.max_connections
            )
        ):
            raise PoolFull()
        return super().get_connection(*(args or _COMMAND_NAME), **kwargs)  # type: ignore[no-untyped-call]

    def stats(self) -> PoolStats:
        """Connections in use and idle, and commands waiting for one."""
        waiting = sum(1 for waiter in self.waiters if not waiter.done())
        return PoolStats(
            len(self._in_use_connections),
            len(self._available_connections),
            waiting,
            self.max_connections,
        )

    def take_handoff(self) -> Any:
        """Take the connection a release handed to this (woken) waiter."""
        self.handoffs -= 1
        if asyncio.get_running_loop() is not self.loop:
            raise OtherLoop()
        if self.is_full():
            raise PoolFull()
        return super().get_connection(*_COMMAND_NAME)  # type: ignore[no-untyped-call]

    def get_available_connection(self) -> Any:
        # Checked again here: redis-py 6 holds the pool's lock while it connects, so a command
        # that found a free slot in get_connection may find it taken once it has the lock, and
        # would fail with "Too many connections" instead of waiting its turn.
        if self.is_full():
            raise PoolFull()
        return super().get_available_connection()  # type: ignore[no-untyped-call]

    async def release(self, connection: AbstractConnection) -> None:
        await super().release(connection)
        if self.closed:  # a command that was in flight during aclose() reconnected
            await connection.disconnect()
        elif self.waiters:
            self.wake_one()

    def wake_one(self) -> None:
        """Wake the longest-waiting command (if any) to try for a connection."""
        waiters = self.waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(True)
                self.handoffs += 1
                return


def running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def step(coroutine: Coroutine[Any, Any, Any]) -> None:
    """Run ``coroutine`` synchronously; it must finish without suspending."""
    try:
        coroutine.send(None)
    except StopIteration:
        return
    raise AssertionError("a step that must not suspend did suspend")


async def close_at_loop_shutdown(pool: Pool, mux: Any = None) -> AsyncGenerator[None, None]:
    """Disconnect ``pool`` when the client is closed, or when its loop shuts down first.

    asyncio.run(), asyncio.Runner and pytest-asyncio close every open async generator before
    they close the loop, and an async generator dropped while suspended is closed on its loop.
    Keeping one suspended per pool is the hook asyncio offers for running code *in* a loop that
    is about to close (or in which a client was dropped), so a client that outlives its loop
    (created at import time, never closed) still closes its sockets instead of leaking them.
    It refers to the pool only, not to the driver, so that dropping the driver frees it at once
    rather than in a garbage-collector pass that would find the connections unclosed.
    ``mux`` (the multiplexed connections, if any) is closed with it.
    """
    try:
        yield
    finally:
        pool.closed = True
        # Sockets can only be closed from their own loop; from any other, drop them.
        if running_loop() is pool.loop:
            if mux is not None:
                mux.close(shut_down=True)
            await pool.disconnect()


def expire_waiter(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


# -- cancellations dropped by redis-py ---------------------------------------------------------
#
# redis-py writes every command under ``asyncio.wait_for(..., socket_timeout)`` (redis.asyncio
# Connection.send_packed_command). Up to Python 3.11, wait_for runs the write in a task of its
# own and, if the caller is cancelled after that task finished but before wait_for resumed (a
# window of one or two event-loop steps), returns the write's result instead of raising:
# the CancelledError is gone, the command goes on to read its reply, and the caller's task
# keeps running with its cancellation request still counted (``Task.cancelling()`` > 0) but
# never delivered (CPython gh-86296, fixed in 3.12 by rebuilding wait_for on asyncio.timeout).
# The driver compares that count before and after each command and delivers the cancellation
# itself when it went up; the command's reply has been read by then, so the connection goes
# back to the pool clean.

if sys.version_info >= (3, 11):

    def cancel_requests() -> int:
        """Cancellation requests of the running task not yet withdrawn (``Task.cancelling()``)."""
        task = asyncio.current_task()
        return 0 if task is None else task.cancelling()

else:

    def cancel_requests() -> int:
        """Python 3.10 keeps no count of cancellation requests: a dropped one cannot be seen."""
        return 0


async def resume_cancellation() -> NoReturn:
    """Raise in the running task the cancellation that redis-py dropped.

    One bare event-loop step first: a canceller that repeats its request while the task runs
    on (anyio's cancel scopes do, every loop iteration) delivers it there, with the message by
    which anyio knows its own cancellations; so does a request made since the task last
    resumed, exactly once. A plain ``Task.cancel()`` (asyncio.timeout, wait_for, TaskGroup) is
    made once and stays counted, so the error raised here stands for it, and their
    ``uncancel()`` bookkeeping holds.
    """
    await asyncio.sleep(0)
    raise asyncio.CancelledError()
