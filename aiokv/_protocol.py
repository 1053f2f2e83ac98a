"""The Driver protocol: the seam between the facade and a storage backend.

A driver executes commands; it does not define them. Each command is defined once in
:mod:`aiokv.commands` (a typed facade method and a :class:`~aiokv.commands._base.Command` spec
with its argument encoding and reply decoding), and a driver offers:

* ``table``: for each spec, a callable returning an awaitable of the command's Python reply.
  The facade calls ``table[spec](*args)`` and hands back the awaitable without awaiting it, so
  on the memory driver (whose table holds its ``async def`` handlers) one command is one
  coroutine, which is what keeps it within reach of a bare dict. The redis driver's entries
  all run :meth:`execute`.
* ``execute_many``: a batch (a pipeline), atomic (MULTI/EXEC) or not.
* ``subscribe`` for pub/sub (:mod:`aiokv.pubsub`), ``watch`` for optimistic transactions,
  ``keys``/``scan_iter`` for walks over the keyspace,
  ``run_script`` for atomic steps, and the lifetime (``open``, ``aclose``).

Division of labour: the facade validates and converts arguments (keys arrive prefixed and
spelled as a server stores them, values as ``str``/``bytes``, TTLs as whole milliseconds,
integers checked); a driver executes with Redis 7 semantics and raises only ``aiokv`` errors,
translated at its edge, the same class for the same mistake on every driver.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from anyio.abc import TaskGroup

from ._script import Script, ScriptArg
from .commands._base import Command, Table

if TYPE_CHECKING:
    from ._pipeline import WatchSession
    from .pubsub import Feed, Subscription

__all__ = ["Driver"]


class Driver(Protocol):
    """A storage backend."""

    @property
    def table(self) -> Table:
        """Command spec -> a callable returning an awaitable of the decoded reply."""

    def open(self, task_group: TaskGroup | None) -> None:
        """Get ready for use inside a running event loop; start background work in ``task_group``.

        ``task_group`` is given when the client is opened with ``async with`` and is ``None`` when
        it opens itself on first use. Called once, without awaiting, so concurrent first uses
        cannot race.

        Raises:
            DriverUnavailableError: if the driver cannot run under the current event loop.
        """

    async def aclose(self) -> None:
        """Stop background work and release connections; commands in flight fail with
        ``ClientClosedError``. Called once."""

    async def execute_many(
        self, calls: Sequence[tuple[Command, tuple[Any, ...]]], atomic: bool
    ) -> list[Any]:
        """Run ``calls`` in order in one round trip; atomically (MULTI/EXEC) if ``atomic``.

        Returns:
            One entry per call: its decoded reply, or the aiokv error it failed with.

        Raises:
            TransactionAbortedError: if ``atomic`` and the store refused a command while
                queueing it (nothing applied).
            KVConnectionError: (``OutcomeUnknownError`` if any call writes) if the connection
                failed.
        """

    async def watch(self, keys: Sequence[str]) -> WatchSession:
        """Start an optimistic transaction watching ``keys`` (WATCH).

        The session's ``table`` runs commands at once inside the watch; ``exec`` runs a batch
        as MULTI/EXEC and returns None if a watched key changed meanwhile; ``close`` ends it.
        """

    async def keys(self, pattern: str) -> list[str]:
        """Every live key matching the Redis glob ``pattern`` (through SCAN on a server)."""

    def scan_iter(self, pattern: str, count: int) -> AsyncIterator[str]:
        """Iterate live keys matching ``pattern`` (each key present throughout at least once)."""

    async def run_script(
        self, script: Script, keys: Sequence[str], args: Sequence[ScriptArg]
    ) -> Any:
        """Run ``script`` as one atomic step (see :mod:`aiokv._script`); return its reply.

        The redis driver runs ``script.lua`` (EVALSHA, then EVAL on NOSCRIPT); the memory driver
        awaits ``script.local(self, keys, args)``. Errors raised inside are aiokv errors.
        """

    async def subscribe(
        self, channels: Sequence[str], patterns: Sequence[str], sink: Subscription
    ) -> Feed:
        """Subscribe to ``channels`` and ``patterns``; hand each message to ``sink.deliver``.

        Returns once the subscriptions are active (a message published after that reaches
        ``sink``); the returned feed's ``aclose`` unsubscribes.

        Raises:
            KVConnectionError: if the server cannot be reached.
        """
