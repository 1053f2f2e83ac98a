"""Pipelines, MULTI/EXEC transactions and optimistic (WATCH) transactions.

A :class:`Pipeline` has every command method of the client, with the same signature; each call
queues the command and returns the pipeline, so calls chain. ``await p.execute()`` sends the
queue in one round trip and returns the replies, each decoded as the client's method returns it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from typing_extensions import Self

from ._exceptions import InvalidArgumentError, TransactionAbortedError
from .commands import Commands
from .commands._base import Command, Table

if TYPE_CHECKING:
    from ._client import AsyncClient

__all__ = ["Pipeline", "Transaction", "WatchSession"]


class WatchSession(Protocol):
    """A driver's side of an optimistic transaction (see :meth:`Driver.watch`)."""

    table: Table
    """Runs commands at once, inside the watch (on the watching connection for a server)."""

    async def exec(self, calls: Sequence[tuple[Command, tuple[Any, ...]]]) -> list[Any] | None:
        """MULTI/EXEC ``calls``; None if a watched key changed (nothing applied)."""

    async def close(self) -> None:
        """UNWATCH and give back what the session holds."""


class _Queue(dict[Command, Callable[..., Any]]):
    """The command table of a pipeline: each command is queued, and the pipeline returned."""

    def __init__(self, pipeline: _Batch) -> None:
        super().__init__()
        self._pipeline = pipeline

    def __missing__(self, spec: Command) -> Callable[..., Any]:
        pipeline = self._pipeline
        append = pipeline._calls.append  # one list for the pipeline's life: execute() copies it

        def queue(*args: Any) -> Any:
            append((spec, args))
            return pipeline

        self[spec] = queue
        return queue


if TYPE_CHECKING:
    # For type checkers a pipeline's command methods return the pipeline (see _generate.py).
    from .commands._queued import QueuedCommands as _PipelineCommands
else:

    class _PipelineCommands:
        """At run time the command methods come from ``_Batch`` (the client's own)."""


class _Batch(Commands):
    """What pipelines and transactions share: the queue and its execution."""

    def __init__(self, client: AsyncClient, transaction: bool) -> None:
        self._client = client
        self._prefix = client._prefix
        self._glob_prefix = client._glob_prefix
        self._default_px = client._default_px
        self._transaction = transaction
        self._calls: list[tuple[Command | None, Any]] = []
        self._plain = True  # every entry is a command (no answer or error kept in place)
        self._queue = _Queue(self)
        self._run = self._queue

    def __len__(self) -> int:
        return len(self._calls)

    def __repr__(self) -> str:
        kind = "transaction" if self._transaction else "pipeline"
        return f"<{type(self).__name__} {kind} queued={len(self._calls)}>"

    def _refuse(self, error: BaseException) -> None:
        self._calls.append((None, error))
        self._plain = False

    def _constant(self, value: Any) -> Any:
        if self._run is not self._queue:  # a transaction before multi(): as the client does
            return super()._constant(value)
        self._calls.append((None, value))
        self._plain = False
        return self

    def _several_round_trips(self, steps: Coroutine[Any, Any, Any]) -> Any:
        if self._run is not self._queue:
            return steps
        steps.close()
        raise InvalidArgumentError(
            "this call takes several round trips here (a key prefix is set) and cannot be "
            "queued in a pipeline; call it on the client"
        )

    async def _driver_keys(self, pattern: str) -> list[str]:
        return await self._client._driver_keys(pattern)

    def _driver_scan(self, pattern: str, count: int) -> AsyncIterator[str]:
        return self._client._driver_scan(pattern, count)

    async def execute(self, *, raise_on_error: bool = True) -> list[Any]:
        """Send the queued commands; return their replies in order. The queue is emptied.

        Args:
            raise_on_error: By default the first failed command's error is raised once every
                command has run; its ``replies`` attribute holds the whole list. With False,
                each error takes its command's place in the returned list.

        Raises:
            TransactionAbortedError: in a transaction, if a command was refused when queued;
                nothing was applied.
            KVConnectionError: if the connection failed (``OutcomeUnknownError`` when the queue
                held a write: it may have been applied).
        """
        calls = self._calls.copy()  # the list itself stays: the queue closures append to it
        self._calls.clear()
        plain, self._plain = self._plain, True
        if not calls:
            return []
        if plain:
            replies = await self._send(calls)  # type: ignore[arg-type]
            if raise_on_error:
                _raise_first(replies)
            return replies
        if self._transaction:
            refused = [
                (i, arg)
                for i, (spec, arg) in enumerate(calls)
                if spec is None and isinstance(arg, BaseException)
            ]
            if refused:
                raise TransactionAbortedError(
                    f"EXECABORT Transaction discarded because of previous errors: {refused[0][1]}",
                    refused,
                ) from refused[0][1]
        sent = [(spec, args) for spec, args in calls if spec is not None]
        answers = iter(await self._send(sent) if sent else [])
        replies = [next(answers) if spec is not None else arg for spec, arg in calls]
        if raise_on_error:
            _raise_first(replies)
        return replies

    async def _send(self, calls: list[tuple[Command, Any]]) -> list[Any]:
        driver = self._client._driver_now()
        return await driver.execute_many(calls, self._transaction)


class Pipeline(_PipelineCommands, _Batch):  # type: ignore[misc]
    """Commands queued and sent together: ``kv.pipeline()``.

    Every command method of :class:`~aiokv.AsyncClient` is here with the same arguments; it
    queues the command and returns the pipeline (``p.set("a", 1).incr("n").get("a")``).
    Arguments are checked when a command is queued: an argument error is raised by that call,
    as by the client's method, and nothing is queued for it.

    ``async with kv.pipeline() as p:`` executes the queue when the block ends without an
    exception (the replies are then in ``p.replies``).

    With ``transaction=True`` the queue runs as MULTI/EXEC: nothing else interleaves, on both
    drivers. As on a server, a command that fails while running (WRONGTYPE, say) fails alone and
    the others still apply, while a command refused when queued (a bad argument) is not raised
    at the call but aborts the whole transaction: ``execute()`` raises
    :class:`~aiokv.TransactionAbortedError` and nothing applies.
    """

    def __init__(self, client: AsyncClient, transaction: bool) -> None:
        super().__init__(client, transaction)
        self.replies: list[Any] = []

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.replies = await self.execute()
        else:  # the queue is dropped, not sent
            self._calls.clear()
            self._plain = True


class AtomicPipeline(Pipeline):
    """``kv.pipeline(transaction=True)``: a :class:`Pipeline` run as MULTI/EXEC.

    A command refused when queued (a bad argument) is not raised at the call: it aborts the
    whole transaction when it executes (:class:`~aiokv.TransactionAbortedError`), as on a server.
    """


class Transaction(_Batch):
    """The ``tx`` handed to the function of :meth:`AsyncClient.transaction`.

    Until :meth:`multi`, its commands run at once (``await tx.get(k)`` reads a watched key);
    after :meth:`multi` they are queued (``tx.set(k, v)``, not awaited), and run as MULTI/EXEC
    when the function returns, unless a watched key changed in between.
    """

    def __init__(self, client: AsyncClient, session: WatchSession) -> None:
        super().__init__(client, transaction=True)
        self._session = session
        self._run = session.table
        self._queued = False

    def multi(self) -> None:
        """Queue the commands that follow; they run atomically when the function returns."""
        if self._queued:
            raise InvalidArgumentError("multi() was already called in this transaction")
        self._queued = True
        self._run = self._queue

    async def _send(self, calls: list[tuple[Command, Any]]) -> list[Any]:
        replies = await self._session.exec(calls)
        if replies is None:
            raise _Conflict()
        return replies


def _raise_first(replies: list[Any]) -> None:
    # The types first (a loop in C): most batches hold no error, and then nothing is walked.
    if not any(issubclass(kind, BaseException) for kind in set(map(type, replies))):
        return
    for reply in replies:
        if isinstance(reply, BaseException):
            reply.replies = replies  # type: ignore[attr-defined]
            raise reply


class _Conflict(Exception):
    """A watched key changed: run the transaction's function again."""


def _queued(method: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a command method for a transaction: an argument error is kept in its place (it
    aborts the transaction at ``execute()``, as EXECABORT does), and before ``multi()`` the
    command runs at once."""

    @functools.wraps(method)
    def queue(self: _Batch, *args: Any, **kwargs: Any) -> Any:
        if self._run is not self._queue:
            return method(self, *args, **kwargs)  # a transaction before multi(): run at once
        try:
            return method(self, *args, **kwargs)
        except Exception as error:
            self._refuse(error)
            return self

    return queue


def _not_queued(method: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a walk (``scan_iter``, ``keys``...): it takes several round trips, so a pipeline
    cannot queue it; a transaction runs it at once before ``multi()``."""

    @functools.wraps(method)
    def refuse(self: _Batch, *args: Any, **kwargs: Any) -> Any:
        if self._run is not self._queue:
            return method(self, *args, **kwargs)
        raise InvalidArgumentError(
            f"{method.__name__}() takes several round trips and cannot be queued in a "
            "pipeline; call it on the client"
        )

    return refuse


for _name, _method in inspect.getmembers(Commands, inspect.isfunction):
    if getattr(_method, "__aiokv_command__", False):
        setattr(AtomicPipeline, _name, _queued(_method))
        setattr(Transaction, _name, _queued(_method))
    elif not _name.startswith("_") and (
        inspect.iscoroutinefunction(_method) or inspect.isasyncgenfunction(_method)
    ):
        setattr(_Batch, _name, _not_queued(_method))
