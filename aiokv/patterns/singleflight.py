"""Single-flight: concurrent callers asking for one key share one computation.

Cancellation is the subtle part. If the computation ran in the task of the first caller, cancelling
that caller (a client disconnect, a timeout) would cancel the work every other caller is waiting
for. So the computation runs in a task of its own, and every caller, the first one included, only
waits for it:

  * a cancelled caller stops waiting; the computation carries on for the others;
  * when the last caller stops waiting, nobody wants the result: the computation is cancelled, so
    no task outlives its callers (no background work that nobody awaits);
  * its value, or its exception, goes to every caller; nothing is kept once it has finished, so an
    error is not cached and the next caller starts afresh.

A computation may also start with nobody waiting (:meth:`SingleFlight.start`, the background
refresh of a stale cache entry): it is not cancelled when callers who joined it stop waiting,
and :meth:`SingleFlight.aclose` (called when the client closes) cancels it.

The task is a plain asyncio task under asyncio. Elsewhere (trio, memory driver only) it runs in the
client's task group, which a client always has there since it must be opened with ``async with``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, TypeVar

import anyio
from anyio.abc import TaskGroup

from .._exceptions import DriverUnavailableError

__all__ = ["SingleFlight"]

T = TypeVar("T")


class _Flight:
    """One running computation and the number of callers waiting for it."""

    __slots__ = (
        "background",
        "done",
        "error",
        "finished",
        "scope",
        "traceback",
        "value",
        "waiters",
    )

    def __init__(self, background: bool = False) -> None:
        self.background = background
        self.done = anyio.Event()
        self.scope = anyio.CancelScope()
        self.waiters = 0
        self.finished = False
        self.value: Any = None
        self.error: Exception | None = None
        self.traceback: TracebackType | None = None

    def outcome(self) -> Any:
        if self.error is not None:
            # Every waiter re-raises the same exception: restore its own traceback each time
            # (as asyncio.Future does) instead of letting the waiters' frames pile onto it.
            raise self.error.with_traceback(self.traceback)
        return self.value


class SingleFlight:
    """Runs at most one computation per key at a time; concurrent callers share its outcome.

    Args:
        task_group: Returns the task group to run computations in when the event loop is not
            asyncio (the owning client's); not called under asyncio.
    """

    def __init__(self, task_group: Callable[[], TaskGroup | None]) -> None:
        self._task_group = task_group
        self._flights: dict[str, _Flight] = {}
        # asyncio keeps only weak references to tasks: hold them until they finish.
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        """Number of keys being computed now."""
        return len(self._flights)

    async def run(self, key: str, compute: Callable[[], Awaitable[T]]) -> T:
        """Return the result of ``compute()``, or of the computation already running for ``key``.

        Raises:
            Exception: whatever the shared computation raised, to every caller.
            DriverUnavailableError: outside asyncio, if the client was not opened with
                ``async with`` (there is no task group to run the computation in).
        """
        while True:
            flight = self._flights.get(key)
            if flight is None:
                # Registered before the task starts: an eager task factory may run it to the end
                # inside create_task(), and its clean-up must find the entry.
                flight = self._flights[key] = _Flight()
                try:
                    self._start(key, flight, compute)
                except BaseException:
                    del self._flights[key]
                    raise
            flight.waiters += 1
            try:
                await flight.done.wait()
            finally:
                flight.waiters -= 1
                if flight.waiters == 0 and not flight.done.is_set() and not flight.background:
                    # This caller was cancelled and was the last one waiting.
                    flight.scope.cancel()
                    self._forget(key, flight)
            if flight.finished:
                return flight.outcome()  # type: ignore[no-any-return]
            # Cancelled from outside (event loop or task group shutting down) while callers
            # were still waiting: they start a new computation rather than hang.

    def start(self, key: str, compute: Callable[[], Awaitable[Any]]) -> bool:
        """Start ``compute()`` for ``key`` without waiting for it, unless one is running.

        Callers of :meth:`run` for ``key`` join it meanwhile. Its outcome goes to them only: an
        exception with nobody waiting is dropped (``compute`` should report its own errors).

        Returns:
            True if started, False if a computation for ``key`` was already running.

        Raises:
            DriverUnavailableError: outside asyncio, without the client's task group.
        """
        if key in self._flights:
            return False
        flight = self._flights[key] = _Flight(background=True)
        try:
            self._start(key, flight, compute)
        except BaseException:
            del self._flights[key]
            raise
        return True

    async def aclose(self) -> None:
        """Cancel every computation still running (the client is closing) and wait for them."""
        for flight in list(self._flights.values()):
            flight.scope.cancel()
        tasks = list(self._tasks)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _start(self, key: str, flight: _Flight, compute: Callable[[], Awaitable[Any]]) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not asyncio: trio
            loop = None
        if loop is not None:
            task = loop.create_task(self._fly(key, flight, compute))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        task_group = self._task_group()
        if task_group is None:
            raise DriverUnavailableError(
                "outside asyncio, single-flight runs in the client's task group: "
                "open the client with `async with AsyncClient() as kv:`"
            )
        task_group.start_soon(self._fly, key, flight, compute)

    async def _fly(self, key: str, flight: _Flight, compute: Callable[[], Awaitable[Any]]) -> None:
        try:
            with flight.scope:
                try:
                    flight.value = await compute()
                except Exception as exc:
                    flight.error, flight.traceback = exc, exc.__traceback__
                flight.finished = True
        finally:
            self._forget(key, flight)
            flight.done.set()

    def _forget(self, key: str, flight: _Flight) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
