"""Subscriptions on the redis driver (see :mod:`aiokv.pubsub` for the behaviour promised).

Each subscription has a connection of its own (from :class:`._redis_blocking.Dedicated`'s
settings, never pooled) and a reader task that reads every message as it comes and hands it
to the subscription's bounded buffer, so the server's output buffer for it stays small. When
the connection fails, the reader reconnects with the client's backoff and subscribes again;
messages published in between are lost (pub/sub is at most once). After ``retry_attempts``
failed reconnections in a row it gives up and the subscription raises the error.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import anyio
from redis import exceptions as rexc
from redis.asyncio.connection import AbstractConnection

from .._exceptions import ClientClosedError, KVError, KVTimeoutError
from ..commands._base import text
from ..pubsub import Message, Subscription
from ._redis_blocking import dedicated, dedicated_release, read_reply
from ._redis_errors import translate_error

if TYPE_CHECKING:
    from .redis import RedisDriver

__all__ = ["RedisFeed", "open_feed"]

_CONFIRMATIONS = {b"subscribe", b"psubscribe"}


class RedisFeed:
    """One subscription's connection and reader task."""

    def __init__(
        self,
        driver: RedisDriver,
        channels: Sequence[str],
        patterns: Sequence[str],
        sink: Subscription,
    ) -> None:
        self._driver = driver
        self._channels = list(dict.fromkeys(channels))
        self._patterns = list(dict.fromkeys(patterns))
        self._sink = sink
        self._conn: AbstractConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._unsubscribed = asyncio.Event()

    async def start(self) -> None:
        """Connect and subscribe; return once the server confirmed every subscription.

        Raises:
            KVConnectionError: if the server cannot be reached.
        """
        try:
            await self._subscribe()
        except rexc.RedisError as exc:
            raise translate_error(exc, self._driver._settings, 1) from exc
        except TimeoutError as exc:
            raise KVTimeoutError(
                f"{self._driver._settings.masked_url} did not confirm the subscription in time"
            ) from exc
        self._task = asyncio.get_running_loop().create_task(self._read_forever())

    async def _subscribe(self) -> None:
        # From the dedicated pool, so that closing the client closes it too; it is disconnected
        # before it goes back (a subscribed connection cannot run commands).
        pool = dedicated(self._driver)
        conn: AbstractConnection = await pool.pool.get_connection()
        self._conn = conn
        try:
            words: list[tuple[Any, ...]] = []
            if self._channels:
                words.append(("SUBSCRIBE", *self._channels))
            if self._patterns:
                words.append(("PSUBSCRIBE", *self._patterns))
            await conn.send_packed_command(conn.pack_commands(words), check_health=False)
            expected = len(self._channels) + len(self._patterns)
            while expected:
                reply = await read_reply(conn, self._driver._settings.socket_timeout, push=True)
                if isinstance(reply, list) and reply and reply[0] in _CONFIRMATIONS:
                    expected -= 1
                else:
                    self._handle(reply)
        except BaseException:
            await self._drop(conn)
            raise

    async def _drop(self, conn: AbstractConnection) -> None:
        if self._conn is conn:
            self._conn = None
        await conn.disconnect(nowait=True)
        await dedicated_release(self._driver, conn)

    def _handle(self, reply: Any) -> None:
        if not isinstance(reply, list) or not reply:
            return
        kind = reply[0]
        if kind == b"message":
            self._sink.deliver(Message(text(reply[1]), None, text(reply[2])))
        elif kind == b"pmessage":
            self._sink.deliver(Message(text(reply[2]), text(reply[1]), text(reply[3])))
        elif kind == b"punsubscribe" and reply[2] == 0:
            self._unsubscribed.set()  # the last reply to aclose()'s UNSUBSCRIBE + PUNSUBSCRIBE

    async def _read_forever(self) -> None:
        settings = self._driver._settings
        while True:
            conn = self._conn
            try:
                assert conn is not None
                while True:
                    self._handle(await read_reply(conn, None, push=True))
            except (rexc.ConnectionError, rexc.TimeoutError, OSError):
                if conn is not None:
                    await self._drop(conn)
            if self._driver._closed:
                self._sink.fail(ClientClosedError())
                return
            # The connection dropped: reconnect, subscribe again; what was sent meanwhile is lost.
            failures = 0
            while True:
                failures += 1
                await asyncio.sleep(self._driver._backoff.compute(failures))
                try:
                    await self._subscribe()
                except (rexc.RedisError, OSError, KVError, TimeoutError) as exc:
                    if failures > settings.retry_attempts:
                        error = (
                            translate_error(exc, settings, failures)
                            if isinstance(exc, rexc.RedisError)
                            else exc
                        )
                        self._sink.fail(error if isinstance(error, KVError) else KVError(str(exc)))
                        return
                    continue
                self._sink.reconnected()
                break

    def _limit(self) -> float:
        return self._driver._settings.socket_timeout or 5.0

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        task, self._task = self._task, None
        conn = self._conn
        if task is not None and not task.done() and conn is not None:
            # Unsubscribe and wait for the server to confirm, so that a PUBLISH sent after
            # aclose() returns no longer counts this subscription (a mere close of the socket
            # reaches the server some time later).
            with contextlib.suppress(Exception), anyio.move_on_after(self._limit()):
                await conn.send_packed_command(
                    conn.pack_commands([("UNSUBSCRIBE",), ("PUNSUBSCRIBE",)]), check_health=False
                )
                await self._unsubscribed.wait()
        if task is not None:
            task.cancel()
            await asyncio.wait((task,))
        conn = self._conn
        if conn is not None:
            await self._drop(conn)


async def open_feed(
    driver: RedisDriver, channels: Sequence[str], patterns: Sequence[str], sink: Subscription
) -> RedisFeed:
    feed = RedisFeed(driver, channels, patterns, sink)
    await feed.start()
    return feed
