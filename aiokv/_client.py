"""AsyncClient: settings, the driver's lifetime (unopened, open, closed), batches and the
patterns.

The commands themselves are in :mod:`aiokv.commands`.
"""

from __future__ import annotations

import builtins
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import timedelta
from types import TracebackType
from typing import Any, Final, Literal, NoReturn, TypeVar, overload

import anyio
import sniffio
from anyio.abc import TaskGroup
from typing_extensions import Self

from ._codec import (
    TTL,
    escape_glob,
    positive_ttl_ms,
)
from ._exceptions import ClientClosedError, InvalidArgumentError, TransactionConflictError
from ._pipeline import AtomicPipeline, Pipeline, Transaction, _Conflict
from ._protocol import Driver
from ._script import Script, ScriptArg
from ._settings import KVSettings
from .commands import DEFAULT, Commands, _Default
from .commands._base import Command
from .commands.strings import GET_BYTES
from .drivers import create_driver
from .observability import CacheCounters, Stats, collect, instrumented
from .patterns import cache
from .patterns.cache_entry import LastValues
from .patterns.json import ANY, adapter_for, dump
from .patterns.lock import Lock
from .patterns.queue import Queue
from .patterns.singleflight import SingleFlight
from .patterns.tags import invalidate_tags as drop_tags
from .patterns.tags import store_tagged
from .pubsub import Subscription

__all__ = ["DEFAULT", "AsyncClient"]


_State = Literal["unopened", "open", "closed"]


class _Unopened(dict[Command, Callable[..., Any]]):
    """The command table until first use: the first command awaited opens the client.

    Opening waits for the first *await*, not the first call, so ``asyncio.run(kv.set(k, v))``
    opens inside the loop that runs it.
    """

    def __init__(self, client: AsyncClient) -> None:
        super().__init__()
        self._client = client

    def __missing__(self, spec: Command) -> Callable[..., Any]:
        return functools.partial(self._client._first_use, spec)


class _Closed(dict[Command, Callable[..., Any]]):
    """The command table after aclose(): every command raises ClientClosedError when awaited."""

    def __missing__(self, spec: Command) -> Callable[..., Any]:
        return _closed


async def _closed(*args: Any) -> NoReturn:
    raise ClientClosedError()


T = TypeVar("T")


class AsyncClient(Commands):
    """An asyncio (and, for the memory driver, trio) client for Redis-compatible storage.

    Create it anywhere, even at import time; it opens itself on first use inside an event loop.
    Close it with ``await kv.aclose()`` or use ``async with AsyncClient() as kv:``.

    Args:
        settings: A :class:`KVSettings`; by default one is read from the environment and `.env`.
        **overrides: Any ``KVSettings`` field by name (``driver=``, ``url=``, ``host=``, ...),
            taking precedence over ``settings`` and the environment.

    Raises:
        pydantic.ValidationError: (a ``ValueError``) for an invalid setting, naming its variable.
    """

    def __init__(self, settings: KVSettings | None = None, **overrides: Any) -> None:
        if settings is None:
            settings = KVSettings(**overrides)
        elif overrides:
            settings = settings.with_overrides(**overrides)
        self.settings: Final = settings
        self._prefix = settings.key_prefix
        self._glob_prefix = escape_glob(settings.key_prefix)
        self._default_px = (
            None if settings.default_ttl is None else positive_ttl_ms(settings.default_ttl, "set")
        )
        self._state: _State = "unopened"
        self._task_group: TaskGroup | None = None
        self._driver: Driver | None = None
        self._run = _Unopened(self)
        self._telemetry: Any = None  # see aiokv.observability
        self._cache_counters = CacheCounters()

    @classmethod
    def from_url(cls, url: str, **overrides: Any) -> Self:
        """Create a client from a ``redis://``, ``rediss://``, ``unix://`` or ``memory://`` URL."""
        return cls(url=url, **overrides)

    def __repr__(self) -> str:
        s = self.settings
        return f"<AsyncClient driver={s.driver} url={s.masked_url} state={self._state}>"

    # -- lifetime ----------------------------------------------------------------------------

    def _open(self, task_group: TaskGroup | None) -> Driver:
        if self._state == "closed":
            raise ClientClosedError()
        if self._driver is None:
            driver = create_driver(self.settings)
            driver.open(task_group)
            if self.settings.near_cache_max_keys is not None and self.settings.driver != "memory":
                from .drivers._near_cache import NearCachedDriver

                driver = NearCachedDriver(driver)  # type: ignore[arg-type]
            driver = instrumented(self, driver)
            self._driver = driver
            self._run = driver.table
            self._state = "open"
        return self._driver

    def _driver_now(self) -> Driver:
        """The driver, opening the client on first use (call from inside a coroutine)."""
        driver = self._driver
        if driver is None or self._state == "closed":
            return self._open(None)
        return driver

    async def _first_use(self, spec: Command, *args: Any) -> Any:
        self._open(None)
        return await self._run[spec](*args)

    async def _driver_keys(self, pattern: str) -> list[str]:
        return await self._driver_now().keys(pattern)

    async def _driver_scan(self, pattern: str, count: int) -> AsyncIterator[str]:
        async for key in self._driver_now().scan_iter(pattern, count):
            yield key

    async def __aenter__(self) -> Self:
        if self._state == "unopened":
            if sniffio.current_async_library() == "asyncio":
                # A detached task, not a task group: pytest-asyncio may tear a fixture down in
                # another task than the one that set it up, which a cancel scope forbids.
                self._open(None)
            else:
                task_group = anyio.create_task_group()
                await task_group.__aenter__()
                try:
                    self._open(task_group)
                except BaseException:
                    await task_group.__aexit__(None, None, None)
                    raise
                self._task_group = task_group
        elif self._state == "closed":
            raise ClientClosedError()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop background work and close connections. Safe to call more than once."""
        if self._state == "closed":
            return
        if "_flights" in self.__dict__:  # background refreshes of stale values
            await self._flights.aclose()
        driver = self._driver
        self._state = "closed"
        self._run = _Closed()
        if driver is not None:
            await driver.aclose()
        if self._task_group is not None:
            task_group, self._task_group = self._task_group, None
            await task_group.__aexit__(None, None, None)

    @property
    def closed(self) -> bool:
        """True once ``aclose()`` has been called."""
        return self._state == "closed"

    def stats(self) -> Stats:
        """A snapshot of the client's counters: pool, store, cache-aside hits and misses.

        Also the source of the OpenTelemetry metrics (see :mod:`aiokv.observability`). Never
        opens the client and never raises; the redis pool reads as empty before the client has
        connected.
        """
        return collect(self)

    # -- patterns: JSON values, cache-aside, invalidation, locks, scripts ---------------------
    # The logic lives in aiokv/patterns/; these methods only hand the client over.

    async def set_json(
        self,
        key: str,
        value: object,
        ttl: TTL | _Default | None = DEFAULT,
        *,
        tags: Sequence[str] = (),
    ) -> None:
        """Store ``value`` as JSON: a model, a dataclass, a list or dict of them, a datetime, ...

        Serialised by pydantic (never pickled: unpickling runs code chosen by whoever can write
        to the store). Read it back with :meth:`get_json`.

        Args:
            key: The key.
            value: Anything pydantic can serialise to JSON.
            ttl: Seconds or a timedelta; ``None`` for no expiry; omitted: ``default_ttl``.
            tags: Tags to drop it by with :meth:`invalidate_tags`; the value and its tags are
                written in one atomic step (see :mod:`aiokv.patterns.tags`).

        Raises:
            pydantic_core.PydanticSerializationError: (a ``ValueError``) if ``value`` has no
                JSON form.
            InvalidArgumentError: for a TTL <= 0.
            CrossSlotError: on a cluster, if the key and its tags have no common hash tag.
        """
        if not tags:
            await self.set(key, dump(value), ttl)
            return
        options = cache.CacheOptions.build(self, ttl, tags=tags)
        await store_tagged(self, key, dump(value), options.ttl_ms, options.tags, "")

    async def invalidate_tags(self, *tags: str) -> int:
        """Delete every entry stored with any of ``tags`` (by ``get_or_set``, ``@cached`` or
        ``set_json``), atomically: one script on a server or in memory, one per hash slot on a
        cluster.

        Returns:
            How many entries were deleted (0 if no entry had these tags).
        """
        deleted = await drop_tags(self, tags, "")
        self._cache_counters.invalidated += deleted
        return deleted

    @overload
    async def get_json(self, key: str, type: None = None) -> Any: ...
    @overload
    async def get_json(self, key: str, type: builtins.type[T]) -> T | None: ...
    async def get_json(self, key: str, type: Any = None) -> Any:
        """Read the JSON at ``key``, validated into ``type`` if given.

        Args:
            key: The key.
            type: A model, dataclass, ``list[Model]``, ``dict[str, int]``, ... Without it, plain
                JSON data comes back (dict, list, str, int, float, bool or None).

        Returns:
            The value, or None on a miss (and for a stored JSON ``null``).

        Raises:
            pydantic.ValidationError: (a ``ValueError``) if the stored text is not JSON or does
                not fit ``type``.
            WrongTypeError: if the key holds a hash, list or set.
        """
        raw = await self._run[GET_BYTES](self._key(key))
        if raw is None:
            return None
        return adapter_for(ANY if type is None else type).validate_json(raw)

    @overload
    async def get_or_set(
        self,
        key: str,
        factory: Callable[[], Awaitable[T]],
        ttl: TTL | _Default | None = DEFAULT,
        *,
        type: builtins.type[T] | None = None,
        lock: bool = False,
        lock_timeout: TTL = 10,
        stale_ttl: TTL | None = None,
        stale_if_error: TTL | None = None,
        refresh: bool = False,
        condition: Callable[[T], bool] | None = None,
        tags: Sequence[str] = (),
    ) -> T: ...
    @overload
    async def get_or_set(
        self,
        key: str,
        factory: Callable[[], T],
        ttl: TTL | _Default | None = DEFAULT,
        *,
        type: builtins.type[T] | None = None,
        lock: bool = False,
        lock_timeout: TTL = 10,
        stale_ttl: TTL | None = None,
        stale_if_error: TTL | None = None,
        refresh: bool = False,
        condition: Callable[[T], bool] | None = None,
        tags: Sequence[str] = (),
    ) -> T: ...
    async def get_or_set(
        self,
        key: str,
        factory: Callable[[], Any],
        ttl: TTL | _Default | None = DEFAULT,
        *,
        type: Any = None,
        lock: bool = False,
        lock_timeout: TTL = 10,
        stale_ttl: TTL | None = None,
        stale_if_error: TTL | None = None,
        refresh: bool = False,
        condition: Callable[[Any], bool] | None = None,
        tags: Sequence[str] = (),
    ) -> Any:
        """Return the value cached at ``key``; on a miss, compute it with ``factory`` and store it.

        Concurrent misses on one key in this client share one call of ``factory`` (single-flight)
        and all get its value; an exception reaches them all and is not cached. A caller that is
        cancelled stops waiting without cancelling the call for the others. Values are stored as
        JSON, ``None`` included. Hits, stale hits and misses are counted in
        ``kv.stats().get_or_set``.

        Args:
            key: The key.
            factory: A function without arguments, sync or async, returning the value. A sync
                one runs in the event loop: keep it quick.
            ttl: Seconds or a timedelta; ``None`` for no expiry; omitted: ``default_ttl``.
            type: The type to validate a hit into; by default the factory's return annotation.
                Without either (a lambda), hits return plain JSON data, so the factory must
                return plain JSON data too.
            lock: Compute a missing value once across every process using the store: the
                others wait for its value (they are told, not polling), up to ``lock_timeout``.
            lock_timeout: Seconds or a timedelta: how long waiters wait before computing
                anyway, and how long the lock outlives a crashed holder.
            stale_ttl: Past ``ttl``, serve the old value for this long while one task of this
                client recomputes it in the background (stale-while-revalidate).
            stale_if_error: When the factory raises or the server fails, return the last value
                seen (read from the server, or kept in this client when the server is out of
                reach) if it went stale less than this long ago, and log a WARNING on the
                ``aiokv`` logger.
            refresh: Compute and store a new value even if one is cached.
            condition: Called with a computed value: store it only if this returns True (the
                value is returned either way).
            tags: Tags to drop the entry by with :meth:`invalidate_tags`.

        Returns:
            The cached or computed value. A cached value that does not fit the type counts as a
            miss and is recomputed.

        Raises:
            Exception: whatever ``factory`` raises (without a recent last value to serve).
            KVError: a failure of the server (without a recent last value to serve). A cache
                write whose reply was lost (``OutcomeUnknownError``) is not raised: the value
                may or may not be cached, and both are valid.
            InvalidArgumentError: for a ``ttl``, ``lock_timeout`` or stale window <= 0.
            pydantic_core.PydanticSerializationError: (a ``ValueError``) if the value has no JSON
                form.
            TypeError: without a type, if the factory returns what JSON cannot give back as it
                is (a model, a tuple, a datetime): pass ``type=``. Also if the factory's return
                annotation cannot be resolved.
        """
        options = cache.CacheOptions.build(
            self,
            ttl,
            lock=lock,
            lock_timeout=lock_timeout,
            stale_ttl=stale_ttl,
            stale_if_error=stale_if_error,
            refresh=refresh,
            condition=condition,
            tags=tags,
        )
        return await cache.get_or_set(
            self, self._flights, self._cache_counters, key, factory, type, options
        )

    async def delete_matching(self, pattern: str, *, batch: int = 1000) -> int:
        """Delete every key matching the Redis glob ``pattern``; return how many were deleted.

        Keys are found with SCAN (never KEYS, which blocks a server) and deleted ``batch`` at a
        time. Keys written while it runs may survive. With a key prefix, only keys under the
        prefix are considered.
        """
        return await cache.delete_matching(self, pattern, batch)

    def lock(
        self, name: str, ttl: TTL = 10, blocking_timeout: float | timedelta | None = None
    ) -> Lock:
        """A lock on ``name`` shared by every client of this store: ``async with kv.lock(name):``.

        Args:
            name: The lock's name; its key is ``"lock:" + name``.
            ttl: Seconds or a timedelta after which an unreleased lock frees itself.
            blocking_timeout: Seconds to wait for it: None waits as long as it takes, 0 tries once.

        Returns:
            A :class:`~aiokv.Lock`, not yet acquired. Entering it raises
            :class:`~aiokv.LockError` if it is not acquired in time; leaving it raises
            :class:`~aiokv.LockNotOwnedError` if its TTL ran out meanwhile.
        """
        return Lock(self, name, ttl=ttl, blocking_timeout=blocking_timeout)

    def queue(self, name: str, *, visibility_timeout: float = 30.0) -> Queue:
        """A work queue that loses nothing: ``put`` jobs, ``get`` them, ``ack`` each when done.

        Delivery is at least once: a job taken but neither acked nor nacked within
        ``visibility_timeout`` seconds (its worker died, say) goes back to the queue.

        Args:
            name: The queue's name; its keys are ``queue:{name}:...``.
            visibility_timeout: Seconds a worker has to ack a job (``job.extend()`` adds more).

        Returns:
            A :class:`~aiokv.Queue` (it holds nothing open).
        """
        return Queue(self, name, visibility_timeout=visibility_timeout)

    def subscribe(
        self, *channels: str, patterns: Sequence[str] = (), buffer: int = 1000
    ) -> Subscription:
        """Subscribe to channels and Redis-glob patterns: ``async with kv.subscribe("a") as s:``.

        Delivery is at most once (see :mod:`aiokv.pubsub`); channels are not prefixed.

        Args:
            *channels: Channel names.
            patterns: Glob patterns (``"news.*"``).
            buffer: Messages kept for a slow consumer; past that the oldest are dropped.

        Returns:
            A :class:`~aiokv.Subscription`, active once entered; iterate it for
            :class:`~aiokv.Message` objects.

        Raises:
            InvalidArgumentError: if no channel or pattern is given, or ``buffer`` < 1.
        """
        return Subscription(self, channels, patterns, buffer)

    async def run_script(
        self, script: Script, keys: Sequence[str], args: Sequence[ScriptArg] = ()
    ) -> Any:
        """Run ``script`` as one atomic step on ``keys`` (prefixed here) with ``args``.

        See :class:`~aiokv.Script` for how to write one that works on both drivers.

        Returns:
            The script's reply: ints, lists, or None (Lua's false).

        Raises:
            CommandError: (or a subclass) for an error raised inside the script.
        """
        return await self._driver_now().run_script(script, self._keys(tuple(keys)), args)

    # -- batches and transactions -------------------------------------------------------------

    def pipeline(self, *, transaction: bool = False) -> Pipeline:
        """A pipeline: queue commands, then send them together with ``await p.execute()``.

        Args:
            transaction: Run the queue as MULTI/EXEC: atomically, nothing else interleaving.

        Returns:
            A :class:`~aiokv.Pipeline` with every command method of the client.
        """
        return AtomicPipeline(self, True) if transaction else Pipeline(self, False)

    async def transaction(
        self,
        func: Callable[[Transaction], Awaitable[None]],
        *keys: str,
        max_attempts: int = 10,
    ) -> list[Any]:
        """Optimistic check-and-set: WATCH ``keys``, run ``func``, then MULTI/EXEC its queue.

        ``func(tx)`` reads with ``await tx.get(...)`` (the commands run at once), calls
        ``tx.multi()``, then queues writes (``tx.set(...)``). If another client changed a watched
        key before EXEC, nothing is applied and ``func`` runs again, up to ``max_attempts``
        times in all.

        Returns:
            The replies of the queued commands.

        Raises:
            TransactionConflictError: if every attempt met a change to a watched key.
            TransactionAbortedError: if a queued command was refused (nothing applied).
            Exception: whatever ``func`` raises (nothing applied).
        """
        if max_attempts < 1:
            raise InvalidArgumentError("max_attempts must be at least 1")
        watched = self._keys(keys)
        for _ in range(max_attempts):
            session = await self._driver_now().watch(watched)
            try:
                tx = Transaction(self, session)
                await func(tx)
                return await tx.execute()
            except _Conflict:
                continue
            finally:
                await session.close()
        raise TransactionConflictError(
            f"a watched key ({', '.join(keys)}) changed before EXEC on each of "
            f"{max_attempts} attempts; nothing was applied"
        )

    @functools.cached_property
    def _flights(self) -> SingleFlight:
        # Single-flight state is per client (one client, one event loop).
        return SingleFlight(lambda: self._task_group)

    @functools.cached_property
    def _last_values(self) -> LastValues:
        # The last values seen by get_or_set(stale_if_error=...), for when the server is down.
        return LastValues()
