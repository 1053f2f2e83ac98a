"""Blocking pops: BLPOP, BRPOP, BLMOVE on lists, BZPOPMIN, BZPOPMAX on sorted sets.

``timeout`` is in seconds (a float works), 0 waits for ever; a timeout returns None.

Where they wait:

* memory driver: the caller's task sleeps (no polling) in a queue per key; a push serves the
  waiters that blocked first, one element each, as many as it pushed, in the step of the
  event loop that pushed them. A ZADD, ZINCRBY, ZUNIONSTORE... that creates a sorted set
  serves its BZPOPMIN/BZPOPMAX waiters alike (a waiter for the other type waits on). A waiter
  cancelled before it was served takes nothing; one cancelled after an element was handed to
  it puts the element back where it came from (a member with its score).
* redis driver: on a connection of its own (never one that other commands wait for), with a
  socket timeout of ``timeout`` plus the client's ``socket_timeout`` (none for 0). Cancelling
  the call closes that connection. The server may already have popped an element and sent it:
  that element is then lost to everyone (at-most-once). :meth:`~aiokv.AsyncClient.queue` is
  immune: its jobs move into a processing list, where a lost reply leaves them to be retried.

In a transaction (MULTI/EXEC) a blocking pop does not wait, as on a server: it answers at once,
None when every key is empty. A plain pipeline refuses them (a server would block the whole
pipeline's connection).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Sequence
from typing import Any

from .._exceptions import ArgumentTypeError, InvalidArgumentError
from ._base import ALL_KEYS, Command, command, text, text_or_none
from ._facade import Facade
from .lists import _END, _two_keys, _word

__all__ = [
    "BLMOVE",
    "BLOCKING",
    "BLPOP",
    "BRPOP",
    "BZPOPMAX",
    "BZPOPMIN",
    "BlockingCommands",
    "check_timeout",
]


def _pair(raw: list[bytes] | None) -> tuple[str, str] | None:
    return None if raw is None else (text(raw[0]), text(raw[1]))


def _scored(raw: list[Any] | None) -> tuple[str, str, float] | None:
    """BZPOPMIN's reply: key, member and score (bytes in RESP2, a double in RESP3)."""
    return None if raw is None else (text(raw[0]), text(raw[1]), float(raw[2]))


BLPOP = Command("BLPOP", encode=lambda keys, t: ("BLPOP", *keys, t), decode=_pair, keys=ALL_KEYS)
BRPOP = Command("BRPOP", encode=lambda keys, t: ("BRPOP", *keys, t), decode=_pair, keys=ALL_KEYS)
BLMOVE = Command("BLMOVE", decode=text_or_none, keys=_two_keys)
BZPOPMIN = Command(
    "BZPOPMIN", encode=lambda keys, t: ("BZPOPMIN", *keys, t), decode=_scored, keys=ALL_KEYS
)
BZPOPMAX = Command(
    "BZPOPMAX", encode=lambda keys, t: ("BZPOPMAX", *keys, t), decode=_scored, keys=ALL_KEYS
)

BLOCKING: frozenset[Command] = frozenset({BLPOP, BRPOP, BLMOVE, BZPOPMIN, BZPOPMAX})
"""The specs a redis driver runs on a connection of their own."""


def check_timeout(timeout: float) -> float | int:
    """A blocking command's timeout in seconds, as the server reads it (0: for ever).

    Raises:
        ArgumentTypeError: if it is not a number.
        InvalidArgumentError: if it is negative or not finite.
    """
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise ArgumentTypeError(f"timeout must be a number of seconds, not {timeout!r}")
    if not math.isfinite(timeout) or timeout < 0:
        raise InvalidArgumentError(f"timeout must be 0 (for ever) or more seconds, not {timeout}")
    return timeout


async def _unprefixed(popped: Awaitable[tuple[Any, ...] | None], cut: int) -> Any:
    reply = await popped
    return None if reply is None else (reply[0][cut:], *reply[1:])


class BlockingCommands(Facade):
    def _blocking_pop(
        self, spec: Command, keys: str | Sequence[str], timeout: float
    ) -> Awaitable[Any]:
        if getattr(self, "_transaction", True) is False:
            # A plain pipeline (a transaction has _transaction True, the client has none).
            raise InvalidArgumentError(
                f"{spec.name.lower()}() blocks its connection; a pipeline cannot queue it "
                "(in a transaction it answers at once)"
            )
        names = (keys,) if isinstance(keys, str) else tuple(keys)
        if not names:
            raise InvalidArgumentError(f"{spec.name.lower()} needs at least one key")
        popped = self._run[spec](self._keys(names), check_timeout(timeout))
        if self._prefix:
            return self._several_round_trips(_unprefixed(popped, len(self._prefix)))
        return popped

    @command
    def blpop(self, keys: str | Sequence[str], timeout: float) -> Awaitable[tuple[str, str] | None]:
        """Pop the head of the first non-empty list among ``keys``, waiting for one if all are
        empty.

        Args:
            keys: One key or several, tried in order.
            timeout: Seconds to wait; 0 waits for ever.

        Returns:
            ``(key, element)``, or None if ``timeout`` passed first (at once in a transaction).

        Raises:
            WrongTypeError: if a key tried before a non-empty list holds another type.
            InvalidArgumentError: for no key, a negative timeout, or in a plain pipeline.
        """
        return self._blocking_pop(BLPOP, keys, timeout)

    @command
    def brpop(self, keys: str | Sequence[str], timeout: float) -> Awaitable[tuple[str, str] | None]:
        """Pop the tail of the first non-empty list among ``keys``, waiting for one if all are
        empty; ``(key, element)``, or None on timeout. See :meth:`blpop`."""
        return self._blocking_pop(BRPOP, keys, timeout)

    @command
    def blmove(
        self, source: str, destination: str, wherefrom: str, whereto: str, timeout: float
    ) -> Awaitable[str | None]:
        """Move an element from one end of ``source`` to one end of ``destination`` atomically,
        waiting for ``source`` to have one.

        Args:
            source: The list to take from.
            destination: The list to push to (created if missing; may be ``source``).
            wherefrom: ``"LEFT"`` (head) or ``"RIGHT"`` (tail) of ``source``.
            whereto: ``"LEFT"`` or ``"RIGHT"`` of ``destination``.
            timeout: Seconds to wait; 0 waits for ever.

        Returns:
            The element moved, or None if ``timeout`` passed first (at once in a transaction).

        Raises:
            WrongTypeError: if ``source``, or ``destination`` when an element is moved, holds
                another type.
            InvalidArgumentError: for a bad end, a negative timeout, or in a plain pipeline.
        """
        if getattr(self, "_transaction", True) is False:
            raise InvalidArgumentError(
                "blmove() blocks its connection; a pipeline cannot queue it "
                "(in a transaction it answers at once)"
            )
        return self._run[BLMOVE](
            self._key(source),
            self._key(destination),
            _word(wherefrom, _END, "wherefrom"),
            _word(whereto, _END, "whereto"),
            check_timeout(timeout),
        )

    @command
    def bzpopmin(
        self, keys: str | Sequence[str], timeout: float
    ) -> Awaitable[tuple[str, str, float] | None]:
        """Pop the member of lowest score from the first non-empty sorted set among ``keys``,
        waiting for one if all are empty.

        Args:
            keys: One key or several, tried in order.
            timeout: Seconds to wait; 0 waits for ever.

        Returns:
            ``(key, member, score)``, or None if ``timeout`` passed first (at once in a
            transaction).

        Raises:
            WrongTypeError: if a key tried before a non-empty sorted set holds another type.
            InvalidArgumentError: for no key, a negative timeout, or in a plain pipeline.
        """
        return self._blocking_pop(BZPOPMIN, keys, timeout)

    @command
    def bzpopmax(
        self, keys: str | Sequence[str], timeout: float
    ) -> Awaitable[tuple[str, str, float] | None]:
        """Pop the member of highest score from the first non-empty sorted set among ``keys``,
        waiting for one if all are empty; ``(key, member, score)``, or None on timeout. See
        :meth:`bzpopmin`."""
        return self._blocking_pop(BZPOPMAX, keys, timeout)
