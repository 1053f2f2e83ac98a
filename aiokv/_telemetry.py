"""OpenTelemetry for one client (see :mod:`aiokv.observability` for what is emitted).

Imported only when telemetry is turned on: it imports ``opentelemetry-api``. The client then
holds an :class:`InstrumentedDriver` in place of its driver: its command table wraps each entry
of the driver's table in a coroutine that opens a span and records a duration, and its batch,
watch and script methods do the same around the driver's. With telemetry off none of this is
in the way: the client calls the driver's own table.

Metrics other than the duration are observable instruments, created once per meter provider
and shared by every instrumented client of it; their callbacks read each client's
``kv.stats()`` when the SDK collects.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from time import perf_counter
from typing import TYPE_CHECKING, Any

from anyio.abc import TaskGroup
from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Meter, Observation
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from . import __version__
from ._script import Script, ScriptArg
from ._url import parse_url
from .commands._base import Command, Table
from .observability import Stats

if TYPE_CHECKING:
    from ._client import AsyncClient
    from ._pipeline import WatchSession
    from ._protocol import Driver
    from .pubsub import Feed, Subscription

__all__ = ["InstrumentedDriver", "Telemetry"]

SCOPE = "aiokv"
MEMORY_SYSTEM = "aiokv.memory"
KEYS = "aiokv.keys"
ERROR_TYPE = "error.type"
OPERATION = "db.operation.name"
BATCH_SIZE = "db.operation.batch.size"
# The conventions' advice, with finer steps below a millisecond for local servers.
DURATION_BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)

Calls = Sequence[tuple[Command, tuple[Any, ...]]]


def error_type(exc: BaseException) -> str:
    """``error.type``: the exception's class, by its public name for aiokv's own."""
    cls = type(exc)
    module = "aiokv" if cls.__module__.startswith("aiokv.") else cls.__module__
    return f"{module}.{cls.__qualname__}"


def base_attributes(kv: AsyncClient) -> dict[str, Any]:
    """The attributes every span and measurement of ``kv`` carries."""
    s = kv.settings
    if s.driver == "memory":
        return {"db.system.name": MEMORY_SYSTEM}
    attributes: dict[str, Any] = {"db.system.name": "redis", "db.namespace": str(s.db)}
    socket = None if s.url is None else parse_url(s.url).socket_path
    if socket is not None:
        attributes["server.address"] = socket
    else:
        attributes["server.address"] = s.host
        attributes["server.port"] = s.port
    return attributes


_API_MODULES = ("opentelemetry.trace", "opentelemetry.metrics")


def _is_sdk(provider: object) -> bool:
    """False for the API's own providers (no-op, or the global proxy while no SDK is set)."""
    return not type(provider).__module__.startswith(_API_MODULES)


class Telemetry:
    """A client's tracer, instruments and attributes."""

    def __init__(
        self, kv: AsyncClient, tracer_provider: Any, meter_provider: Any, record_keys: bool
    ) -> None:
        self._client = weakref.ref(kv)
        self.record_keys = record_keys
        # Without an SDK behind either provider every span and measurement would be a no-op:
        # then nothing is wrapped, and the hot path stays the driver's own.
        self.active = _is_sdk(
            trace.get_tracer_provider() if tracer_provider is None else tracer_provider
        ) or _is_sdk(metrics.get_meter_provider() if meter_provider is None else meter_provider)
        self.attributes = base_attributes(kv)
        self.kind = SpanKind.INTERNAL if kv.settings.driver == "memory" else SpanKind.CLIENT
        if not self.active:
            return
        self.tracer = trace.get_tracer(SCOPE, __version__, tracer_provider)
        self.instruments = Instruments.of(meter_provider)
        self.duration = self.instruments.duration
        self.instruments.add(self)

    def stats(self) -> Stats | None:
        """The client's stats, or None once it is closed or gone."""
        kv = self._client()
        return None if kv is None or kv.closed else kv.stats()

    def wrap(self, driver: Driver) -> Driver:
        """``driver`` behind an :class:`InstrumentedDriver`; itself if no SDK is configured."""
        return InstrumentedDriver(driver, self) if self.active else driver

    def close(self) -> None:
        self.instruments.discard(self)

    # -- spans -------------------------------------------------------------------------------

    def traced(self, spec: Command, inner: Table) -> Callable[..., Awaitable[Any]]:
        """A table entry running ``inner[spec]`` in a span (looked up per call: the memory
        driver swaps its entries while a WATCH is active)."""
        start_span = self.tracer.start_span
        record = self.duration.record
        failed = self.failed
        name, kind = spec.name, self.kind
        attributes = {**self.attributes, OPERATION: name}
        keys_of = spec.keys if self.record_keys else None

        async def run(*args: Any) -> Any:
            span_attributes = attributes
            if keys_of is not None:
                span_attributes = {**attributes, KEYS: [str(key) for key in keys_of(args)]}
            span = start_span(name, kind=kind, attributes=span_attributes)
            start = perf_counter()
            try:
                reply = await inner[spec](*args)
            except BaseException as exc:
                failed(span, exc, attributes, start)
                raise
            record(perf_counter() - start, attributes)
            span.end()
            return reply

        return run

    def failed(
        self, span: Span, exc: BaseException, attributes: dict[str, Any], start: float
    ) -> None:
        """End ``span`` as failed with ``exc`` and record the duration with ``error.type``."""
        error = error_type(exc)
        self.duration.record(perf_counter() - start, {**attributes, ERROR_TYPE: error})
        if span.is_recording():
            span.set_attribute(ERROR_TYPE, error)
            span.set_status(Status(StatusCode.ERROR, str(exc) if self.record_keys else None))
        span.end()

    async def around(
        self,
        name: str,
        attributes: dict[str, Any],
        keys: Sequence[str],
        run: Callable[[], Awaitable[Any]],
    ) -> Any:
        """Await ``run()`` in a span; a reply list holding an error marks the span failed."""
        span_attributes = {**attributes, KEYS: list(keys)} if self.record_keys else attributes
        span = self.tracer.start_span(name, kind=self.kind, attributes=span_attributes)
        start = perf_counter()
        try:
            reply = await run()
        except BaseException as exc:
            self.failed(span, exc, attributes, start)
            raise
        error = None
        if isinstance(reply, list):
            error = next((r for r in reply if isinstance(r, BaseException)), None)
        if error is not None:
            self.failed(span, error, attributes, start)
        else:
            self.duration.record(perf_counter() - start, attributes)
            span.end()
        return reply

    def batch(self, calls: Calls, atomic: bool) -> tuple[str, dict[str, Any]]:
        """A batch's span name and attributes (a one-command pipeline is that command)."""
        names = {spec.name for spec, _ in calls}
        if atomic:
            name = "MULTI"
        elif len(calls) == 1:
            name = calls[0][0].name
            return name, {**self.attributes, OPERATION: name}
        else:
            name = f"BATCH {names.pop()}" if len(names) == 1 else "BATCH"
        return name, {**self.attributes, OPERATION: name, BATCH_SIZE: len(calls)}

    def batch_keys(self, calls: Calls) -> list[str]:
        if not self.record_keys:
            return []
        return [str(key) for spec, args in calls for key in spec.keys(args)]


class TracedTable(dict[Command, Callable[..., Awaitable[Any]]]):
    """A command table whose entries run the inner table's in a span."""

    def __init__(self, inner: Table, telemetry: Telemetry) -> None:
        super().__init__()
        self._inner = inner
        self._telemetry = telemetry

    def __missing__(self, spec: Command) -> Callable[..., Awaitable[Any]]:
        run = self[spec] = self._telemetry.traced(spec, self._inner)
        return run


class InstrumentedDriver:
    """A driver's stand-in that traces what goes through it. See :class:`aiokv._protocol.Driver`.

    ``inner`` is the driver itself.
    """

    def __init__(self, driver: Driver, telemetry: Telemetry) -> None:
        self.inner = driver
        self._telemetry = telemetry
        self.table: Table = TracedTable(driver.table, telemetry)

    def open(self, task_group: TaskGroup | None) -> None:
        self.inner.open(task_group)

    async def aclose(self) -> None:
        self._telemetry.close()
        await self.inner.aclose()

    async def execute_many(self, calls: Calls, atomic: bool) -> list[Any]:
        t = self._telemetry
        name, attributes = t.batch(calls, atomic)
        result: list[Any] = await t.around(
            name, attributes, t.batch_keys(calls), lambda: self.inner.execute_many(calls, atomic)
        )
        return result

    async def watch(self, keys: Sequence[str]) -> WatchSession:
        t = self._telemetry
        attributes = {**t.attributes, OPERATION: "WATCH"}
        session = await t.around("WATCH", attributes, keys, lambda: self.inner.watch(keys))
        return InstrumentedWatch(session, t)

    async def keys(self, pattern: str) -> list[str]:
        return await self.inner.keys(pattern)

    def scan_iter(self, pattern: str, count: int) -> AsyncIterator[str]:
        return self.inner.scan_iter(pattern, count)

    async def subscribe(
        self, channels: Sequence[str], patterns: Sequence[str], sink: Subscription
    ) -> Feed:
        return await self.inner.subscribe(channels, patterns, sink)

    async def run_script(
        self, script: Script, keys: Sequence[str], args: Sequence[ScriptArg]
    ) -> Any:
        t = self._telemetry
        attributes = {**t.attributes, OPERATION: "EVALSHA"}
        return await t.around(
            "EVALSHA", attributes, keys, lambda: self.inner.run_script(script, keys, args)
        )


class InstrumentedWatch:
    """A WATCH session whose commands and EXEC are traced."""

    def __init__(self, session: WatchSession, telemetry: Telemetry) -> None:
        self._inner = session
        self._telemetry = telemetry
        self.table: Table = TracedTable(session.table, telemetry)

    async def exec(self, calls: Calls) -> list[Any] | None:
        t = self._telemetry
        name, attributes = t.batch(calls, True)
        result: list[Any] | None = await t.around(
            name, attributes, t.batch_keys(calls), lambda: self._inner.exec(calls)
        )
        return result

    async def close(self) -> None:
        await self._inner.close()


class _Global:
    """Stands for the global meter provider among the providers' instruments."""


_GLOBAL = _Global()
_BY_PROVIDER: weakref.WeakKeyDictionary[Any, Instruments] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


class Instruments:
    """The instruments of one meter provider, shared by the clients instrumented with it."""

    @classmethod
    def of(cls, meter_provider: Any) -> Instruments:
        """The instruments for ``meter_provider`` (None: the global one), created once."""
        with _LOCK:
            key = _GLOBAL if meter_provider is None else meter_provider
            found = _BY_PROVIDER.get(key)
            if found is None:
                # The global provider may be a proxy that binds to the SDK once it is set.
                meter = metrics.get_meter(SCOPE, __version__, meter_provider)
                found = _BY_PROVIDER[key] = cls(meter)
            return found

    def __init__(self, meter: Meter) -> None:
        self._clients: weakref.WeakSet[Telemetry] = weakref.WeakSet()
        self._clients_lock = threading.Lock()
        self.duration = meter.create_histogram(
            "db.client.operation.duration",
            unit="s",
            description="Duration of database client operations.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        up_down = meter.create_observable_up_down_counter
        counter = meter.create_observable_counter
        up_down(
            "db.client.connection.count",
            [self._connections],
            unit="{connection}",
            description="Connections in the pool, by state (used or idle).",
        )
        up_down(
            "db.client.connection.max",
            [self._max_connections],
            unit="{connection}",
            description="The most connections the pool opens.",
        )
        up_down(
            "db.client.connection.pending_requests",
            [self._pending],
            unit="{request}",
            description="Commands waiting for a free connection.",
        )
        up_down("aiokv.memory.keys", [self._memory_keys], unit="{key}", description="Keys held.")
        counter(
            "aiokv.memory.expired",
            [self._expired],
            unit="{key}",
            description="Keys deleted because their TTL passed.",
        )
        counter(
            "aiokv.memory.evicted",
            [self._evicted],
            unit="{key}",
            description="Keys evicted to stay within memory_max_keys.",
        )
        for field, description in _CACHE_COUNTERS.items():
            counter(
                f"aiokv.cache.{field}",
                [self._cache_callback(field)],
                unit="{entry}" if field == "invalidated" else "{call}",
                description=description,
            )
        for field, description in _NEAR_CACHE_COUNTERS.items():
            counter(
                f"aiokv.near_cache.{field}",
                [self._near_cache_callback(field)],
                unit="{key}" if field in ("invalidations", "evictions") else "{event}",
                description=description,
            )
        up_down(
            "aiokv.near_cache.keys",
            [self._near_cache_callback("keys")],
            unit="{key}",
            description="Keys held by the near cache.",
        )

    def add(self, telemetry: Telemetry) -> None:
        with self._clients_lock:
            self._clients.add(telemetry)

    def discard(self, telemetry: Telemetry) -> None:
        with self._clients_lock:
            self._clients.discard(telemetry)

    def _stats(self) -> list[tuple[Stats, dict[str, Any]]]:
        # Callbacks may run in the SDK's export thread: copy the set under the lock.
        with self._clients_lock:
            clients = list(self._clients)
        found = []
        for telemetry in clients:
            stats = telemetry.stats()
            if stats is not None:
                found.append((stats, telemetry.attributes))
        return found

    def _connections(self, options: CallbackOptions) -> Iterable[Observation]:
        for stats, attributes in self._stats():
            if stats.pool is not None:
                pool = {**attributes, "db.client.connection.pool.name": _pool_name(attributes)}
                state = "db.client.connection.state"
                yield Observation(stats.pool.in_use, {**pool, state: "used"})
                yield Observation(stats.pool.idle, {**pool, state: "idle"})

    def _max_connections(self, options: CallbackOptions) -> Iterable[Observation]:
        for stats, attributes in self._stats():
            if stats.pool is not None:
                pool = {**attributes, "db.client.connection.pool.name": _pool_name(attributes)}
                yield Observation(stats.pool.max_connections, pool)

    def _pending(self, options: CallbackOptions) -> Iterable[Observation]:
        for stats, attributes in self._stats():
            if stats.pool is not None:
                pool = {**attributes, "db.client.connection.pool.name": _pool_name(attributes)}
                yield Observation(stats.pool.waiters, pool)

    def _memory(self, field: str) -> Iterable[Observation]:
        for stats, attributes in self._stats():
            if stats.memory is not None:
                yield Observation(getattr(stats.memory, field), attributes)

    def _memory_keys(self, options: CallbackOptions) -> Iterable[Observation]:
        return self._memory("keys")

    def _expired(self, options: CallbackOptions) -> Iterable[Observation]:
        return self._memory("expired")

    def _evicted(self, options: CallbackOptions) -> Iterable[Observation]:
        return self._memory("evicted")

    def _cache_callback(self, field: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            for stats, attributes in self._stats():
                cache = {**attributes, "aiokv.cache.name": "get_or_set"}
                yield Observation(getattr(stats.get_or_set, field), cache)

        return observe

    def _near_cache_callback(
        self, field: str
    ) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            for stats, attributes in self._stats():
                if stats.near_cache is not None:
                    yield Observation(getattr(stats.near_cache, field), attributes)

        return observe


_CACHE_COUNTERS = {  # the fields of CacheStats
    "hits": "Cache-aside calls answered with a fresh value.",
    "misses": "Cache-aside calls that found no servable value.",
    "computations": "Values computed by a cache-aside factory.",
    "stale": "Calls answered with a stale value while it was refreshed (stale_ttl).",
    "stale_on_error": "Calls answered with the last value after a failure (stale_if_error).",
    "invalidated": "Entries deleted by invalidate_tags.",
}

_NEAR_CACHE_COUNTERS = {
    "hits": "Reads answered by the near cache.",
    "misses": "Near-cacheable reads sent to the server.",
    "invalidations": "Keys the server reported changed to the near cache.",
    "evictions": "Keys evicted from the near cache to stay within near_cache_max_keys.",
    "flushes": "Times the near cache was emptied (tracking lost, or the server flushed).",
}


def _pool_name(attributes: dict[str, Any]) -> str:
    address = attributes.get("server.address", "")
    port = attributes.get("server.port")
    where = address if port is None else f"{address}:{port}"
    return f"{where}/{attributes.get('db.namespace', '0')}"
