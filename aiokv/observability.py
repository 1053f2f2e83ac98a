"""Observability: ``kv.stats()`` snapshots, and OpenTelemetry traces and metrics.

Statistics are always kept (a few integer counters off the hot path) and read with
``kv.stats()``, a :class:`Stats` of frozen dataclasses; no extra package is needed.

OpenTelemetry is off by default and then costs nothing: the client calls the driver's command
table directly. Turn it on with the ``otel`` setting (``KV_OTEL=1`` or
``AsyncClient(otel=True)``; the global tracer and meter providers are used) or with
:func:`instrument` (explicit providers). The client then calls every command through a wrapper
that opens a span and records a duration. It needs ``opentelemetry-api`` only
(``pip install "aiokv[otel]"``); the application brings the SDK and its exporters, and must
configure them before the client opens (on its first command, or ``async with``): a client that
opens while neither provider is an SDK's stays unwrapped, since every span would be a no-op.

What is emitted (database semantic conventions, stable names):

* a span per command (named for it: ``GET``), per pipeline (``BATCH``, or ``BATCH GET`` when
  every command is a GET; a pipeline of one command is that command), per transaction
  (``MULTI``), per WATCH and per script (``EVALSHA``), with ``db.system.name`` (``redis``, or
  ``aiokv.memory`` on the memory driver), ``db.operation.name``, ``db.operation.batch.size``,
  and on the redis driver ``server.address``, ``server.port`` and ``db.namespace`` (the database
  index). A failed command (or a batch with a failed command) has status ERROR and
  ``error.type`` (the exception's class, ``aiokv.WrongTypeError``). Keys and values are never
  recorded, nor error messages (they can hold a key), unless ``otel_record_keys`` is set: then
  the span gets ``aiokv.keys`` (the keys as stored, prefix included) and the error message.
  Spans are ``CLIENT`` spans on the redis driver and ``INTERNAL`` spans on the memory driver.
* metrics: ``db.client.operation.duration`` (histogram, seconds, with the span's attributes
  less ``aiokv.keys``); ``db.client.connection.count`` (``db.client.connection.state`` ``used``
  or ``idle``), ``db.client.connection.max`` and ``db.client.connection.pending_requests`` (the
  redis driver's pool); ``aiokv.memory.keys``, ``aiokv.memory.expired`` and
  ``aiokv.memory.evicted`` (the memory driver); ``aiokv.cache.hits``, ``aiokv.cache.misses`` and
  ``aiokv.cache.computations`` (``get_or_set`` and ``@cached``, with ``aiokv.cache.name`` =
  ``get_or_set``); ``aiokv.near_cache.hits``, ``.misses``, ``.invalidations``, ``.evictions``,
  ``.flushes`` and ``.keys`` (the redis driver's near cache, when on). All but the histogram are
  read from ``kv.stats()`` when the SDK collects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from ._client import AsyncClient
    from ._protocol import Driver

__all__ = [
    "CacheCounters",
    "CacheStats",
    "MemoryStats",
    "NearCacheCounters",
    "NearCacheStats",
    "PoolStats",
    "Stats",
    "instrument",
]


@dataclass(frozen=True)
class PoolStats:
    """The redis driver's connection pool at one moment (on a cluster: the nodes' pools added
    up, ``max_connections`` being per node).

    Attributes:
        in_use: Connections running a command (or held by a WATCH).
        idle: Open connections waiting in the pool.
        waiters: Commands waiting for a connection (the pool was full).
        max_connections: The ``max_connections`` setting.
    """

    in_use: int
    idle: int
    waiters: int
    max_connections: int


@dataclass(frozen=True)
class MemoryStats:
    """The memory driver's store.

    Attributes:
        keys: Keys held, expired ones not yet reclaimed included (as DBSIZE counts).
        expired: Keys deleted because their TTL had passed, since the client opened.
        evicted: Keys evicted to stay within ``memory_max_keys``, since the client opened.
    """

    keys: int
    expired: int
    evicted: int


@dataclass(frozen=True)
class CacheStats:
    """Cache-aside lookups by ``get_or_set`` (and ``@cached``) on one client.

    Attributes:
        hits: Calls answered with a fresh value from the store.
        misses: Calls that found no (valid, servable) value; concurrent misses on one key each
            count, and so does every ``refresh=True`` call.
        computations: Calls of a factory (concurrent misses on one key share one; background
            refreshes count).
        stale: Calls answered with a value past its fresh TTL, within ``stale_ttl``, while it
            was refreshed in the background.
        stale_on_error: Calls answered with the last value because the factory or the server
            failed (``stale_if_error``).
        invalidated: Entries deleted by ``invalidate_tags`` through this client.
    """

    hits: int
    misses: int
    computations: int
    stale: int = 0
    stale_on_error: int = 0
    invalidated: int = 0


@dataclass(frozen=True)
class NearCacheStats:
    """The near cache of a redis or cluster client (``near_cache_max_keys``).

    Attributes:
        hits: Reads answered in process.
        misses: Reads of cacheable keys sent to the server on the tracking connection (their
            replies are kept unless the key changed meanwhile).
        invalidations: Keys the server said changed (CLIENT TRACKING messages).
        evictions: Keys dropped to stay within ``near_cache_max_keys``.
        flushes: Times the whole cache was emptied: the tracking connection dropped (or timed
            out), or the server was flushed.
        keys: Keys held now.
    """

    hits: int
    misses: int
    invalidations: int
    evictions: int
    flushes: int
    keys: int


@dataclass(frozen=True)
class Stats:
    """What ``kv.stats()`` returns.

    Attributes:
        driver: ``"memory"``, ``"redis"`` or ``"cluster"``.
        get_or_set: Cache-aside counters.
        pool: The connection pool (redis driver; the nodes' pools added up on the cluster
            driver; None on the memory driver).
        memory: The store (memory driver; None on the redis driver, and before the client
            opened).
        near_cache: The near cache (redis or cluster driver with ``near_cache_max_keys``;
            else None).
    """

    driver: Literal["memory", "redis", "cluster"]
    get_or_set: CacheStats
    pool: PoolStats | None
    memory: MemoryStats | None
    near_cache: NearCacheStats | None = None


class CacheCounters:
    """The running counts behind :class:`CacheStats` (mutable, one per client)."""

    __slots__ = ("computations", "hits", "invalidated", "misses", "stale", "stale_on_error")

    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0
        self.computations = 0
        self.stale = 0
        self.stale_on_error = 0
        self.invalidated = 0

    def snapshot(self) -> CacheStats:
        return CacheStats(
            self.hits,
            self.misses,
            self.computations,
            self.stale,
            self.stale_on_error,
            self.invalidated,
        )


class NearCacheCounters:
    """The running counts behind :class:`NearCacheStats` (mutable, one per near cache)."""

    __slots__ = ("evictions", "flushes", "hits", "invalidations", "misses")

    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0
        self.invalidations = 0
        self.evictions = 0
        self.flushes = 0

    def snapshot(self, keys: int) -> NearCacheStats:
        return NearCacheStats(
            self.hits, self.misses, self.invalidations, self.evictions, self.flushes, keys
        )


def collect(kv: AsyncClient) -> Stats:
    """Implement ``AsyncClient.stats()``."""
    settings = kv.settings
    driver: Any = kv._driver
    near: NearCacheStats | None = None
    while hasattr(driver, "inner"):  # under instrumentation, and the near cache
        if hasattr(driver, "near_cache_stats"):
            near = driver.near_cache_stats()
        driver = driver.inner
    pool: PoolStats | None = None
    memory: MemoryStats | None = None
    if settings.driver == "redis":
        live = None if driver is None else driver._pool
        pool = PoolStats(0, 0, 0, settings.max_connections) if live is None else live.stats()
    elif settings.driver == "cluster":
        if driver is None:
            pool = PoolStats(0, 0, 0, settings.max_connections)
        else:
            pool = driver.pool_stats()
    elif driver is not None:
        memory = driver.stats()
    if near is None and settings.near_cache_max_keys is not None and settings.driver != "memory":
        near = NearCacheStats(0, 0, 0, 0, 0, 0)  # not opened yet
    return Stats(settings.driver, kv._cache_counters.snapshot(), pool, memory, near)


def instrument(
    kv: AsyncClient,
    *,
    tracer_provider: Any = None,
    meter_provider: Any = None,
    record_keys: bool | None = None,
) -> None:
    """Trace and measure ``kv`` with OpenTelemetry (see the module docstring for what).

    Call it before or after the client opens; the ``otel`` setting does the same with the
    global providers when the client opens. If neither provider is an SDK's (the global ones
    before the application configured the SDK), nothing is wrapped: the client runs as if
    uninstrumented, at no cost. So configure the SDK before the client opens.

    Args:
        kv: The client.
        tracer_provider: An ``opentelemetry.trace.TracerProvider``; by default the global one.
        meter_provider: An ``opentelemetry.metrics.MeterProvider``; by default the global one.
        record_keys: Put keys (and error messages) on spans; by default the
            ``otel_record_keys`` setting.

    Raises:
        ImportError: if ``opentelemetry-api`` is not installed (``pip install "aiokv[otel]"``).
        RuntimeError: if ``kv`` is already instrumented, or closed.
    """
    if kv._telemetry is not None:
        raise RuntimeError("this client is already instrumented")
    if kv.closed:
        raise RuntimeError("this client is closed")
    telemetry = kv._telemetry = telemetry_for(kv, tracer_provider, meter_provider, record_keys)
    if kv._driver is not None and telemetry.active:
        kv._driver = telemetry.wrap(kv._driver)
        kv._run = kv._driver.table


def telemetry_for(
    kv: AsyncClient, tracer_provider: Any, meter_provider: Any, record_keys: bool | None
) -> Any:
    """The client's :class:`aiokv._telemetry.Telemetry` (imported here: it needs the extra)."""
    try:
        from ._telemetry import Telemetry
    except ImportError as exc:
        raise ImportError(
            'OpenTelemetry support needs opentelemetry-api: pip install "aiokv[otel]"'
        ) from exc
    keys = kv.settings.otel_record_keys if record_keys is None else record_keys
    return Telemetry(kv, tracer_provider, meter_provider, keys)


def instrumented(kv: AsyncClient, driver: Driver) -> Driver:
    """``driver`` wrapped for telemetry if ``kv`` has it (or its ``otel`` setting asks)."""
    if kv._telemetry is None:
        if not kv.settings.otel:
            return driver
        kv._telemetry = telemetry_for(kv, None, None, None)
    return kv._telemetry.wrap(driver)  # type: ignore[no-any-return]
