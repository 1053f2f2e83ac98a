"""Publish/subscribe on the memory driver: an in-process broadcast (see :mod:`aiokv.pubsub`).

PUBLISH answers what a server answers: one per subscription to the channel, plus one per
matching pattern of each subscription (a subscription with the channel and two matching
patterns receives the message three times, and counts three). Patterns are Redis globs,
matched by :func:`aiokv._glob.compile_glob` as ``PSUBSCRIBE`` matches them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..._exceptions import ClientClosedError
from ..._glob import compile_glob
from ...commands import pubsub as spec
from ...pubsub import Message, Subscription
from .store import Store, handles, text

__all__ = ["MemoryFeed", "PubSubHandlers"]


def _matches(pattern: str, channel: str) -> bool:
    # A server matches channels with stringmatchlen(), whose loop never runs for an empty
    # channel: "" matches only the empty pattern ("*" included, unlike KEYS *).
    if not channel:
        return not pattern
    return compile_glob(pattern)(channel)


class MemoryFeed:
    """One subscription's place in the driver's registry."""

    def __init__(
        self,
        handlers: PubSubHandlers,
        sink: Subscription,
        channels: Sequence[str],
        patterns: Sequence[str],
    ) -> None:
        self._handlers = handlers
        self.sink = sink
        self.channels = list(dict.fromkeys(channels))
        self.patterns = list(dict.fromkeys(patterns))

    async def aclose(self) -> None:
        self._handlers._forget(self)


class PubSubHandlers(Store):
    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__(clock)
        self._channel_feeds: dict[str, dict[MemoryFeed, None]] = {}
        self._pattern_feeds: dict[str, dict[MemoryFeed, None]] = {}

    @handles(spec.PUBLISH)
    async def publish(self, channel: str, message: str | bytes) -> int:
        data = text(message)
        received = 0
        feeds = self._channel_feeds.get(channel)
        if feeds:
            for feed in list(feeds):
                feed.sink.deliver(Message(channel, None, data))
                received += 1
        for pattern, feeds in list(self._pattern_feeds.items()):
            if _matches(pattern, channel):
                for feed in list(feeds):
                    feed.sink.deliver(Message(channel, pattern, data))
                    received += 1
        return received

    async def subscribe(
        self, channels: Sequence[str], patterns: Sequence[str], sink: Subscription
    ) -> MemoryFeed:
        feed = MemoryFeed(self, sink, channels, patterns)
        for channel in feed.channels:
            self._channel_feeds.setdefault(channel, {})[feed] = None
        for pattern in feed.patterns:
            self._pattern_feeds.setdefault(pattern, {})[feed] = None
        return feed

    def _close_feeds(self) -> None:
        """The client is closing: every subscription raises ClientClosedError once read."""
        feeds = {
            feed
            for registry in (self._channel_feeds, self._pattern_feeds)
            for subscribed in registry.values()
            for feed in subscribed
        }
        self._channel_feeds.clear()
        self._pattern_feeds.clear()
        for feed in feeds:
            feed.sink.fail(ClientClosedError())

    def _forget(self, feed: MemoryFeed) -> None:
        for names, registry in (
            (feed.channels, self._channel_feeds),
            (feed.patterns, self._pattern_feeds),
        ):
            for name in names:
                feeds = registry.get(name)
                if feeds is not None:
                    feeds.pop(feed, None)
                    if not feeds:
                        del registry[name]
