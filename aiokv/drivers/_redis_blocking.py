"""Blocking commands on the redis driver, on connections outside the main pool.

A BLPOP that waits a minute must not hold a connection that other commands queue for, so
blocking commands (and subscriptions, see :mod:`._redis_pubsub`) use :class:`Dedicated`: a
second pool, made like the main one on the same loop, that nothing else waits for. It has no
limit: each blocking call holds one of its connections while it waits, and returns it after.

Timeouts: the reply is read with a socket timeout of the command's ``timeout`` plus the
client's ``socket_timeout`` (the server answers nil at ``timeout``); ``timeout=0`` reads with
none. Cancellation: a call cancelled while it waits closes its connection (the server then
stops waiting for it) and gives it back to the pool, so the pool's counts stay right. The
server may have popped an element and sent the reply just before: that element is then lost
(see :mod:`aiokv.commands.blocking`).
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio
from redis import exceptions as rexc
from redis.asyncio.connection import AbstractConnection

from .._exceptions import ClientClosedError, KVTimeoutError, OutcomeUnknownError
from ..commands._base import Command
from ..commands.blocking import BLOCKING
from ._redis_errors import translate_error
from ._redis_pool import Pool, close_at_loop_shutdown, step

if TYPE_CHECKING:
    from .redis import RedisDriver

__all__ = [
    "Dedicated",
    "blocking_table",
    "dedicated",
    "dedicated_release",
    "read_reply",
    "write",
]

_UNLIMITED = 2**31 - 1


class Dedicated:
    """Connections outside the main pool, on one event loop; closed with the client or the loop."""

    def __init__(self, main: Pool) -> None:
        # No socket_timeout inside redis-py: it bounds each write and read with
        # asyncio.wait_for, which up to Python 3.11 can drop the caller's cancellation (CPython
        # gh-86296), and a blocking loop (a queue's get()) would then never stop. The callers
        # bound connecting, writing and reading themselves (anyio.fail_after).
        self.pool = Pool(
            connection_class=main.connection_class,
            max_connections=_UNLIMITED,
            **{**main.connection_kwargs, "socket_timeout": None},
        )
        self.loop = self.pool.loop
        self._guard: AsyncGenerator[None, None] | None = close_at_loop_shutdown(self.pool)
        step(self._guard.asend(None))

    async def release(self, conn: AbstractConnection) -> None:
        if conn in self.pool._in_use_connections:
            await self.pool.release(conn)
        else:
            await conn.disconnect()

    async def aclose(self) -> None:
        guard, self._guard = self._guard, None
        if guard is not None:
            await guard.aclose()

    def forget(self) -> None:
        """Drop it from a loop that has stopped (its sockets cannot be closed from here)."""
        guard, self._guard = self._guard, None
        if guard is not None:
            step(guard.aclose())


def dedicated(driver: RedisDriver) -> Dedicated:
    """The driver's dedicated connections on the running loop (made on first use).

    Raises:
        ClientClosedError: if the client is closed.
        DriverUnavailableError: if the client is in use by a loop in another thread.
    """
    if driver._closed:
        raise ClientClosedError()
    loop = asyncio.get_running_loop()
    pool = driver._pool
    if pool is None or pool.loop is not loop:
        driver._move_to(loop, pool)
        pool = driver._pool
        assert pool is not None
    current = driver._dedicated_pool
    if current is None or current.loop is not loop:
        if current is not None:
            current.forget()
        current = driver._dedicated_pool = Dedicated(pool)
    return current


async def read_reply(conn: AbstractConnection, limit: float | None, push: bool = False) -> Any:
    """Read one reply, for up to ``limit`` seconds (None: no limit).

    redis-py's own ``read_response(timeout=...)`` answers None when its timeout passes and
    leaves the reply to come on the connection; here the read is cancelled instead (which
    makes redis-py close the connection) and ``TimeoutError`` raised.
    """
    with anyio.fail_after(limit):
        return await conn.read_response(timeout=math.inf, push_request=push)


async def write(conn: AbstractConnection, packed: bytes | list[bytes], limit: float | None) -> None:
    """Write ``packed`` on ``conn`` (connected), for up to ``limit`` seconds (None: no limit).

    Not redis-py's ``send_packed_command``: it writes under ``asyncio.wait_for``, which up to
    Python 3.11 can drop a cancellation of the caller (CPython gh-86296). A blocking pop that
    lost its cancellation would read its reply and carry on, and a loop of them (a queue's
    ``get()``) would never stop.

    Raises:
        TimeoutError: if the write did not finish within ``limit`` (the connection is closed).
        redis.exceptions.ConnectionError: if the connection failed (it is closed).
    """
    writer = conn._writer
    if writer is None:
        raise rexc.ConnectionError("the connection is closed")
    try:
        with anyio.fail_after(limit):
            writer.writelines([packed] if isinstance(packed, bytes) else packed)
            await writer.drain()
    except OSError as exc:
        await conn.disconnect(nowait=True)
        raise rexc.ConnectionError(f"writing to the socket failed: {exc}") from exc
    except BaseException:
        await conn.disconnect(nowait=True)  # the command may be half written
        raise


async def dedicated_release(driver: RedisDriver, conn: AbstractConnection) -> None:
    """Give ``conn`` back to the dedicated pool it came from (or just close it)."""
    current = driver._dedicated_pool
    if current is not None:
        await current.release(conn)
    else:
        await conn.disconnect()


def blocking_table(driver: RedisDriver) -> dict[Command, Callable[..., Awaitable[Any]]]:
    """Table entries that run the blocking commands on dedicated connections."""
    return {spec: functools.partial(execute_blocking, driver, spec) for spec in BLOCKING}


async def execute_blocking(driver: RedisDriver, spec: Command, *args: Any) -> Any:
    """Run one blocking command on a dedicated connection; see the module docstring."""
    from .redis import _decode, _words

    settings = driver._settings
    words = _words(spec, args)
    timeout = float(words[-1])
    read_timeout = None if timeout == 0 else timeout + (settings.socket_timeout or 1.0)
    connect_limit = (settings.connect_timeout or 5.0) + (settings.socket_timeout or 5.0)
    failures = 0
    while True:
        pool = dedicated(driver)
        try:
            with anyio.fail_after(connect_limit):
                conn: AbstractConnection = await pool.pool.get_connection()
        except TimeoutError as exc:  # nothing was sent
            raise KVTimeoutError(
                f"connecting to {settings.masked_url} took longer than {connect_limit} s "
                "(connect_timeout plus socket_timeout)"
            ) from exc
        except rexc.ConnectionError as exc:
            failures += 1  # nothing was sent: connecting failed
            if failures > settings.retry_attempts or driver._closed:
                raise _translated(driver, exc, failures) from exc
            await asyncio.sleep(driver._backoff.compute(failures))
            continue
        except rexc.RedisError as exc:
            raise translate_error(exc, settings, failures + 1) from exc
        try:
            if not conn.is_connected:
                await conn.connect()  # type: ignore[no-untyped-call]
            await write(conn, conn.pack_command(*words), settings.socket_timeout)
            reply = await read_reply(conn, read_timeout)
        except rexc.ResponseError as exc:
            await pool.release(conn)
            raise translate_error(exc, settings) from exc
        except TimeoutError as exc:
            await conn.disconnect(nowait=True)
            await pool.release(conn)
            raise KVTimeoutError(
                f"{spec.name} got no reply from {settings.masked_url} within its timeout plus "
                f"socket_timeout ({read_timeout} s); an element may or may not have been taken"
            ) from exc
        except (rexc.ConnectionError, rexc.TimeoutError) as exc:
            await conn.disconnect(nowait=True)
            await pool.release(conn)
            if driver._closed:
                raise ClientClosedError() from exc
            raise OutcomeUnknownError(
                f"the connection to {settings.masked_url} failed while {spec.name} waited "
                f"({exc}); an element may or may not have been taken"
            ) from exc
        except BaseException:
            # Cancelled (or worse) while the server may still be waiting for us: close the
            # connection so that it stops, and give it back so that the counts stay right.
            await conn.disconnect(nowait=True)
            await pool.release(conn)
            raise
        await pool.release(conn)
        return _decode(spec, args, reply)


def _translated(driver: RedisDriver, exc: rexc.RedisError, attempts: int) -> Exception:
    if driver._closed:
        return ClientClosedError()
    return translate_error(exc, driver._settings, attempts)
