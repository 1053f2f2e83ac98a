"""PUBLISH. Subscribing is :meth:`aiokv.AsyncClient.subscribe` (see :mod:`aiokv.pubsub`)."""

from __future__ import annotations

from collections.abc import Awaitable

from .._codec import Value, encode_value
from .._exceptions import ArgumentTypeError
from ._base import NO_KEYS, Command, command
from ._facade import Facade

__all__ = ["PUBLISH", "PubSubCommands"]

PUBLISH = Command("PUBLISH", keys=NO_KEYS)


class PubSubCommands(Facade):
    @command
    def publish(self, channel: str, message: Value) -> Awaitable[int]:
        """Send ``message`` to the subscribers of ``channel``.

        Channels are not keys: the client's ``key_prefix`` does not apply to them. Delivery is
        at most once: a subscriber that is disconnected (or too slow, see
        :class:`~aiokv.pubsub.Subscription`) misses the message.

        Returns:
            How many subscriptions received it: one per subscriber of the channel plus one per
            matching pattern of each pattern subscriber (as a server counts).

        Raises:
            ArgumentTypeError: if ``channel`` is not a str.
        """
        if not isinstance(channel, str):
            raise ArgumentTypeError(f"a channel is a str, not {type(channel).__name__}")
        return self._run[PUBLISH](channel, encode_value(message))
