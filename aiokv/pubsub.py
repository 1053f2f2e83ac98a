"""Publish/subscribe: ``await kv.publish(channel, message)`` and ``kv.subscribe(...)``.

::

    async with kv.subscribe("orders", patterns=["news.*"]) as sub:
        async for msg in sub:
            print(msg.channel, msg.pattern, msg.data)

Delivery is at most once, on both drivers: a message published while nobody is subscribed,
while a subscription is reconnecting to a server, or while its buffer is full, is not
delivered to it. For work that must not be lost, use :meth:`aiokv.AsyncClient.queue`.

* The subscription is active once ``async with`` has entered it (the server confirmed it): a
  message published after that reaches it.
* Each subscription buffers at most ``buffer`` messages that its consumer has not read yet.
  When a message arrives at a full buffer, the oldest buffered message is dropped and
  :attr:`Subscription.dropped` counts it: a slow consumer loses old messages instead of making
  memory grow. On a server the subscription reads its socket all the time, so the server's own
  output buffer for it stays small as well.
* On a server the subscription has a connection of its own. If that connection drops, it
  reconnects (backoff as for commands) and subscribes again; what was published meanwhile is
  lost, and :attr:`Subscription.reconnects` counts the reconnections. If the server stays out
  of reach for ``retry_attempts`` tries in a row, iterating raises ``KVConnectionError``
  once the buffered messages have been read.
* On the memory driver it is an in-process broadcast with the same reply counts and the same
  pattern rules (Redis globs) as a server.
* Channels are not keys: the client's ``key_prefix`` does not apply to them.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

import anyio

from ._exceptions import ArgumentTypeError, InvalidArgumentError, KVError

if TYPE_CHECKING:
    from typing_extensions import Self

    from ._client import AsyncClient

__all__ = ["Feed", "Message", "Subscription"]


@dataclass(frozen=True)
class Message:
    """One published message as a subscription receives it.

    Attributes:
        channel: The channel it was published to.
        pattern: The pattern it matched, or None if it came through a channel subscription.
        data: The message text (bytes that are not UTF-8 survive as surrogate escapes).
    """

    channel: str
    pattern: str | None
    data: str


class Feed(Protocol):
    """A driver's side of a subscription: it calls ``deliver`` for each message."""

    async def aclose(self) -> None:
        """Unsubscribe and release what the feed holds."""


Deliver = Callable[[Message], None]
"""Called by a driver for each message; ``deliver(None)``-free: errors go to ``fail``."""


class Subscription:
    """Messages of some channels and patterns; get one from :meth:`AsyncClient.subscribe`.

    Use it with ``async with``; iterate it with ``async for``, or call :meth:`get`.

    Attributes:
        dropped: Messages dropped because the buffer was full (the oldest go first).
        reconnects: Times the subscription reconnected to a server (messages may be lost).
    """

    def __init__(
        self,
        client: AsyncClient,
        channels: Sequence[str],
        patterns: Sequence[str],
        buffer: int,
    ) -> None:
        for name in (*channels, *patterns):
            if not isinstance(name, str):
                raise ArgumentTypeError(f"a channel or pattern is a str, not {name!r}")
        if not channels and not patterns:
            raise InvalidArgumentError("subscribe() needs at least one channel or pattern")
        if isinstance(buffer, bool) or not isinstance(buffer, int) or buffer < 1:
            raise InvalidArgumentError(f"buffer must be a positive int, not {buffer!r}")
        self.channels = tuple(channels)
        self.patterns = tuple(patterns)
        self.dropped = 0
        self.reconnects = 0
        self._client = client
        self._buffer: deque[Message] = deque()
        self._size = buffer
        self._arrived = anyio.Event()
        self._feed: Feed | None = None
        self._error: KVError | None = None
        self._closed = False

    def __repr__(self) -> str:
        return (
            f"<Subscription channels={list(self.channels)} patterns={list(self.patterns)} "
            f"buffered={len(self._buffer)} dropped={self.dropped}>"
        )

    # -- what drivers call -------------------------------------------------------------------

    def deliver(self, message: Message) -> None:
        """Buffer ``message``, dropping the oldest if the buffer is full."""
        buffer = self._buffer
        if len(buffer) >= self._size:
            buffer.popleft()
            self.dropped += 1
        buffer.append(message)
        self._arrived.set()

    def fail(self, error: KVError) -> None:
        """The feed stopped for good: iterating raises ``error`` once the buffer is read."""
        self._error = error
        self._arrived.set()

    def reconnected(self) -> None:
        self.reconnects += 1

    # -- lifetime ----------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._feed is not None or self._closed:
            raise InvalidArgumentError("a Subscription can be entered once")
        driver = self._client._driver_now()
        self._feed = await driver.subscribe(self.channels, self.patterns, self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Unsubscribe. Safe to call more than once."""
        self._closed = True
        feed, self._feed = self._feed, None
        if feed is not None:
            await feed.aclose()

    # -- reading -----------------------------------------------------------------------------

    async def get(self, timeout: float | None = None) -> Message | None:  # noqa: ASYNC109
        """The next message, waiting up to ``timeout`` seconds (None: as long as it takes).

        Returns:
            The message, or None if none came in time.

        Raises:
            KVConnectionError: if a server stayed out of reach (buffered messages come first).
            InvalidArgumentError: if the subscription is not entered.
        """
        with anyio.move_on_after(math.inf if timeout is None else timeout):
            return await self._next()
        return None

    async def _next(self) -> Message:
        while True:
            if self._buffer:
                return self._buffer.popleft()
            if self._error is not None:
                raise self._error
            if self._feed is None:
                raise InvalidArgumentError("the subscription is not open: use `async with`")
            self._arrived = anyio.Event()
            await self._arrived.wait()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Message:
        return await self._next()
