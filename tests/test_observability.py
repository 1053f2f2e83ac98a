"""Observability: ``kv.stats()``, and OpenTelemetry spans and metrics read back through the SDK's
in-memory span exporter and metric reader, on both drivers; the Prometheus example under uvicorn.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from docsnippets import doc_snippet
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NoOpTracerProvider, SpanKind, StatusCode
from servers import RedisServer
from test_fastapi import _clean_env, serve

from aiokv import AsyncClient, KVSettings, Script, WrongTypeError
from aiokv._telemetry import InstrumentedDriver
from aiokv.drivers.memory import MemoryDriver
from aiokv.observability import CacheStats, MemoryStats, PoolStats, Stats, instrument

ROOT = Path(__file__).resolve().parents[1]


@dataclasses.dataclass
class Otel:
    spans: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider
    meter_provider: MeterProvider

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def names(self) -> list[str]:
        return [span.name for span in self.finished()]

    def points(self, name: str) -> list[Any]:
        """The data points of metric ``name`` (empty if it has none)."""
        data = self.reader.get_metrics_data()
        if data is None:
            return []
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        return list(metric.data.data_points)
        return []

    def value(self, name: str, **attributes: Any) -> Any:
        """The one data point of ``name`` whose attributes include ``attributes``."""
        found = [
            p
            for p in self.points(name)
            if all(p.attributes.get(k.replace("_", ".")) == v for k, v in attributes.items())
        ]
        assert len(found) == 1, (name, attributes, self.points(name))
        return found[0]


@pytest.fixture
def otel() -> Iterator[Otel]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider(shutdown_on_exit=False)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    yield Otel(spans, reader, tracer_provider, meter_provider)
    tracer_provider.shutdown()
    meter_provider.shutdown()


@pytest.fixture
async def tkv(kv_settings: dict[str, Any], otel: Otel) -> AsyncIterator[AsyncClient]:
    """An open, instrumented client over an empty database; no span recorded yet."""
    client = AsyncClient(**kv_settings)
    instrument(client, tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    async with client:
        await client.flushdb()
        otel.spans.clear()
        yield client


def expected_base(kv: AsyncClient, request: pytest.FixtureRequest) -> dict[str, Any]:
    if kv.settings.driver == "memory":
        return {"db.system.name": "aiokv.memory"}
    if kv.settings.driver == "cluster":  # the first node the settings name
        port = request.getfixturevalue("redis_cluster").nodes[0].port
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        port = server.port
    return {
        "db.system.name": "redis",
        "db.namespace": "0",
        "server.address": "127.0.0.1",
        "server.port": port,
    }


# -- spans and durations ----------------------------------------------------------------------


async def test_a_span_per_command_with_the_database_conventions(
    tkv: AsyncClient, otel: Otel, request: pytest.FixtureRequest
) -> None:
    assert await tkv.set("user:secret-key", "secret-value") is True
    assert await tkv.get("user:secret-key") == "secret-value"
    assert await tkv.get("missing") is None
    spans = otel.finished()
    assert [s.name for s in spans] == ["SET", "GET", "GET"]
    base = expected_base(tkv, request)
    kind = SpanKind.INTERNAL if tkv.settings.driver == "memory" else SpanKind.CLIENT
    for span, name in zip(spans, ["SET", "GET", "GET"], strict=True):
        assert dict(span.attributes or {}) == {**base, "db.operation.name": name}
        assert span.kind is kind
        assert span.status.status_code is StatusCode.UNSET
        assert span.instrumentation_scope is not None
        assert span.instrumentation_scope.name == "aiokv"
    # No key or value anywhere in the attributes.
    assert not any("secret" in str(v) for s in spans for v in (s.attributes or {}).values())

    assert otel.value("db.client.operation.duration", db_operation_name="GET").count == 2
    set_point = otel.value("db.client.operation.duration", db_operation_name="SET")
    assert set_point.count == 1
    assert set_point.sum > 0
    assert dict(set_point.attributes) == {**base, "db.operation.name": "SET"}


async def test_a_failed_command_marks_its_span_and_duration(tkv: AsyncClient, otel: Otel) -> None:
    await tkv.set("s", "text")
    otel.spans.clear()
    with pytest.raises(WrongTypeError):
        await tkv.lpush("s", "x")
    (span,) = otel.finished()
    assert span.name == "LPUSH"
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description is None  # messages can name keys: not without the setting
    assert (span.attributes or {})["error.type"] == "aiokv.WrongTypeError"
    point = otel.value("db.client.operation.duration", db_operation_name="LPUSH")
    assert point.attributes["error.type"] == "aiokv.WrongTypeError"
    assert point.count == 1


async def test_pipelines_and_transactions_are_one_span_each(tkv: AsyncClient, otel: Otel) -> None:
    p = tkv.pipeline()
    p.get("a").get("b").get("c")
    assert await p.execute() == [None, None, None]
    p.set("a", "1").incr("n")
    assert await p.execute() == [True, 1]
    p.get("a")
    assert await p.execute() == ["1"]
    t = tkv.pipeline(transaction=True)
    t.incr("n").incr("n")
    assert await t.execute() == [2, 3]
    spans = otel.finished()
    assert [s.name for s in spans] == ["BATCH GET", "BATCH", "GET", "MULTI"]
    sizes = [(s.attributes or {}).get("db.operation.batch.size") for s in spans]
    assert sizes == [3, 2, None, 2]  # a pipeline of one command is that command
    assert [(s.attributes or {})["db.operation.name"] for s in spans] == [s.name for s in spans]
    point = otel.value("db.client.operation.duration", db_operation_name="BATCH GET")
    assert point.attributes["db.operation.batch.size"] == 3


async def test_a_pipeline_with_a_failed_command_is_a_failed_span(
    tkv: AsyncClient, otel: Otel
) -> None:
    await tkv.set("s", "text")
    otel.spans.clear()
    p = tkv.pipeline()
    p.incr("n").lpush("s", "x")
    replies = await p.execute(raise_on_error=False)
    assert replies[0] == 1
    assert isinstance(replies[1], WrongTypeError)
    (span,) = otel.finished()
    assert span.name == "BATCH"
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "aiokv.WrongTypeError"


async def test_optimistic_transactions_trace_watch_reads_and_exec(
    tkv: AsyncClient, otel: Otel
) -> None:
    async def bump(tx: Any) -> None:
        current = int(await tx.get("n") or 0)
        tx.multi()
        tx.set("n", current + 1)

    assert await tkv.transaction(bump, "n") == [True]
    assert otel.names() == ["WATCH", "GET", "MULTI"]
    assert await tkv.get("n") == "1"


async def test_keys_are_recorded_only_when_allowed(kv_settings: dict[str, Any], otel: Otel) -> None:
    kv = AsyncClient(**kv_settings, key_prefix="app:")
    instrument(
        kv,
        tracer_provider=otel.tracer_provider,
        meter_provider=otel.meter_provider,
        record_keys=True,
    )
    async with kv:
        await kv.delete("k1", "k2")
        await kv.mset({"k1": "value-1", "k2": "value-2"})
        await kv.set("s", "text")
        with pytest.raises(WrongTypeError) as raised:
            await kv.lpush("s", "x")
        p = kv.pipeline()
        p.get("k1").get("k2")
        await p.execute()
        await kv.delete("k1", "k2", "s")
    spans = {s.name: s for s in otel.finished()}
    assert tuple((spans["MSET"].attributes or {})["aiokv.keys"]) == ("app:k1", "app:k2")
    assert tuple((spans["BATCH GET"].attributes or {})["aiokv.keys"]) == ("app:k1", "app:k2")
    assert spans["LPUSH"].status.description == str(raised.value)
    assert not any(
        "value-" in str(v) for s in spans.values() for v in (s.attributes or {}).values()
    )
    # Durations never carry keys (cardinality).
    assert all(
        "aiokv.keys" not in p.attributes for p in otel.points("db.client.operation.duration")
    )


async def test_scripts_are_traced(tkv: AsyncClient, otel: Otel) -> None:
    async def local(driver: Any, keys: Sequence[str], args: Sequence[Any]) -> Any:
        return await driver.get(keys[0])

    script = Script("return redis.call('GET', KEYS[1])", local)
    await tkv.set("k", "v")
    otel.spans.clear()
    assert await tkv.run_script(script, ["k"]) in ("v", b"v")
    (span,) = otel.finished()
    assert span.name == "EVALSHA"
    assert (span.attributes or {})["db.operation.name"] == "EVALSHA"
    assert span.status.status_code is StatusCode.UNSET


# -- get_or_set and kv.stats() ----------------------------------------------------------------


async def test_get_or_set_hits_misses_and_computations(tkv: AsyncClient, otel: Otel) -> None:
    calls = 0
    gate = asyncio.Event()

    async def compute() -> int:
        nonlocal calls
        calls += 1
        await gate.wait()  # until every caller has missed and joined this computation
        return 42

    callers = [asyncio.create_task(tkv.get_or_set("answer", compute)) for _ in range(5)]
    for _ in range(5000):  # polled: the waiters have nothing to signal with
        flight = tkv._flights._flights.get("answer")
        if flight is not None and flight.waiters >= 5:
            break
        await asyncio.sleep(0.001)
    gate.set()
    results = await asyncio.gather(*callers)
    assert results == [42] * 5
    assert await tkv.get_or_set("answer", compute) == 42
    assert calls == 1
    stats = tkv.stats().get_or_set
    assert stats == CacheStats(hits=1, misses=5, computations=1)
    attrs = {"aiokv_cache_name": "get_or_set"}
    assert otel.value("aiokv.cache.hits", **attrs).value == 1
    assert otel.value("aiokv.cache.misses", **attrs).value == 5
    assert otel.value("aiokv.cache.computations", **attrs).value == 1


async def test_stale_serves_and_tag_invalidations_are_exported(
    tkv: AsyncClient, otel: Otel
) -> None:
    values = iter(["v1", "v2"])

    async def compute() -> str:
        return next(values)

    async def broken() -> str:
        raise ConnectionRefusedError("database down")

    await tkv.get_or_set("swr", compute, ttl=0.05, stale_ttl=60)
    # One hash tag for the entry and its tag: a cluster stores them in one slot.
    await tkv.get_or_set("{c}sie", compute, ttl=0.05, stale_if_error=60, tags=["{c}t"])
    await anyio.sleep(0.1)
    assert await tkv.get_or_set("swr", broken, ttl=0.05, stale_ttl=60) == "v1"  # stale, refresh
    assert await tkv.get_or_set("{c}sie", broken, ttl=0.05, stale_if_error=60) == "v2"
    assert await tkv.invalidate_tags("{c}t") == 1
    stats = tkv.stats().get_or_set
    assert (stats.stale, stats.stale_on_error, stats.invalidated) == (1, 1, 1)
    attrs = {"aiokv_cache_name": "get_or_set"}
    assert otel.value("aiokv.cache.stale", **attrs).value == 1
    assert otel.value("aiokv.cache.stale_on_error", **attrs).value == 1
    assert otel.value("aiokv.cache.invalidated", **attrs).value == 1


async def test_stats_without_opentelemetry(kv: AsyncClient) -> None:
    # Off by default: the client calls the driver's own table, nothing wraps it.
    assert not isinstance(kv._driver, InstrumentedDriver)
    assert kv._telemetry is None
    await kv.get_or_set("x", lambda: 1)
    await kv.get_or_set("x", lambda: 1)
    stats = kv.stats()
    assert isinstance(stats, Stats)
    assert stats.driver == kv.settings.driver
    assert stats.get_or_set == CacheStats(hits=1, misses=1, computations=1)
    if kv.settings.driver == "memory":
        assert kv._run is kv._driver.table  # type: ignore[union-attr]
        assert stats.pool is None
        assert stats.memory == MemoryStats(keys=1, expired=0, evicted=0)
    elif kv.settings.driver == "cluster":
        assert stats.memory is None
        # The nodes' pools added up: loading the topology (CLUSTER SLOTS) took a connection of
        # one, and without auto-pipelining the commands took one of theirs.
        assert stats.pool is not None
        assert stats.pool.idle >= 1
        assert stats.pool == PoolStats(0, stats.pool.idle, 0, max_connections=64)
    else:
        assert stats.memory is None
        # With auto-pipelining the commands went over the shared connection, not the pool.
        idle = 0 if kv.settings.auto_pipeline else 1
        assert stats.pool == PoolStats(in_use=0, idle=idle, waiters=0, max_connections=64)
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.driver = "redis"  # type: ignore[misc]


async def test_stats_before_opening_do_not_open(make_client: Callable[..., AsyncClient]) -> None:
    kv = make_client(max_connections=3)
    stats = kv.stats()
    assert stats.memory is None
    if kv.settings.driver != "memory":
        assert stats.pool == PoolStats(0, 0, 0, 3)
    assert kv._driver is None
    await kv.aclose()


async def test_memory_expired_and_evicted_counts(otel: Otel) -> None:
    kv = AsyncClient(driver="memory", memory_max_keys=3, memory_eviction_policy="allkeys-lru")
    instrument(kv, tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    async with kv:
        await kv.set("short", "v", ttl=0.001)
        await anyio.sleep(0.02)
        assert await kv.get("short") is None  # lazy expiry
        for i in range(5):
            await kv.set(f"k{i}", "v")
        assert await kv.delete("k4") == 1  # a delete is neither
        assert kv.stats().memory == MemoryStats(keys=2, expired=1, evicted=2)
        assert otel.value("aiokv.memory.keys").value == 2
        assert otel.value("aiokv.memory.expired").value == 1
        assert otel.value("aiokv.memory.evicted").value == 2


async def test_the_reaper_counts_what_it_expires() -> None:
    now = [1000.0]
    driver = MemoryDriver(KVSettings(), clock=lambda: now[0])
    await driver.set("a", "1", 1000, False, False)
    await driver.set("b", "1", 5000, False, False)
    await driver.set("c", "1", None, False, False)
    now[0] += 3
    assert driver.reap(1.0) is False
    assert driver.stats() == MemoryStats(keys=2, expired=1, evicted=0)
    now[0] += 10
    await driver.delete(("b", "c"))  # deleting a key past its deadline counts it as expired
    assert driver.stats() == MemoryStats(keys=0, expired=2, evicted=0)


async def test_pool_in_use_idle_and_waiters(redis_server: RedisServer, otel: Otel) -> None:
    # The pool itself is measured here: commands take pooled connections (no auto-pipelining).
    kv = AsyncClient(driver="redis", url=redis_server.url, max_connections=1, auto_pipeline=False)
    instrument(kv, tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    async with kv:
        assert kv.stats().pool == PoolStats(0, 0, 0, 1)
        await kv.delete("k")  # the server is shared: another test may have left it
        assert kv.stats().pool == PoolStats(in_use=0, idle=1, waiters=0, max_connections=1)
        holding, release = asyncio.Event(), asyncio.Event()

        async def hold(tx: Any) -> None:
            holding.set()
            await release.wait()
            tx.multi()

        transaction = asyncio.create_task(kv.transaction(hold, "k"))
        await holding.wait()
        waiting = asyncio.create_task(kv.get("k"))
        for _ in range(100):
            if kv.stats().pool == PoolStats(1, 0, 1, 1):
                break
            await asyncio.sleep(0)
        assert kv.stats().pool == PoolStats(in_use=1, idle=0, waiters=1, max_connections=1)
        assert (
            otel.value("db.client.connection.count", db_client_connection_state="used").value == 1
        )
        assert (
            otel.value("db.client.connection.count", db_client_connection_state="idle").value == 0
        )
        assert otel.value("db.client.connection.pending_requests").value == 1
        assert otel.value("db.client.connection.max").value == 1
        release.set()
        assert await transaction == []
        assert await waiting is None
        assert kv.stats().pool == PoolStats(0, 1, 0, 1)
    # A closed client is no longer observed.
    assert otel.points("db.client.connection.count") == []


# -- turning it on ----------------------------------------------------------------------------


async def test_without_an_sdk_the_otel_setting_wraps_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No SDK is configured globally in this process: every span would be a no-op, so the
    # client keeps calling the driver's own table (the zero-cost path).
    monkeypatch.setenv("KV_OTEL", "1")
    async with AsyncClient(driver="memory") as kv:
        assert kv.settings.otel is True
        assert kv._telemetry is not None
        assert not isinstance(kv._driver, InstrumentedDriver)
        assert kv._run is kv._driver.table  # type: ignore[union-attr]
        assert await kv.set("a", "1") is True
        assert await kv.get("a") == "1"
    kv = AsyncClient(driver="memory")
    instrument(kv, tracer_provider=NoOpTracerProvider(), meter_provider=NoOpMeterProvider())
    async with kv:
        assert kv._run is kv._driver.table  # type: ignore[union-attr]


async def test_an_sdk_tracer_alone_turns_it_on(otel: Otel) -> None:
    kv = AsyncClient(driver="memory")
    instrument(kv, tracer_provider=otel.tracer_provider, meter_provider=NoOpMeterProvider())
    async with kv:
        assert isinstance(kv._driver, InstrumentedDriver)
        await kv.get("a")
    assert otel.names() == ["GET"]


async def test_instrumenting_an_open_client(kv: AsyncClient, otel: Otel) -> None:
    await kv.set("a", "1")
    instrument(kv, tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    assert await kv.get("a") == "1"
    assert otel.names() == ["GET"]
    with pytest.raises(RuntimeError, match="already instrumented"):
        instrument(kv)


async def test_without_the_extra_the_error_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "aiokv._telemetry")
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    kv = AsyncClient(driver="memory")
    with pytest.raises(ImportError, match=re.escape('pip install "aiokv[otel]"')):
        instrument(kv)
    await kv.aclose()


# -- examples/fastapi_prometheus.py -----------------------------------------------------------


@pytest.mark.parametrize("driver", ["memory", "redis"])
async def test_prometheus_example_serves_aiokv_series(
    driver: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if driver == "memory":
        env = _clean_env()
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        server.command("FLUSHDB")
        env = _clean_env(KV_DRIVER="redis", REDIS_URL=server.url)
    log = tmp_path / "uvicorn.log"
    with serve("examples.fastapi_prometheus:app", ROOT, env, log) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            first = await http.get("/products/1")
            assert first.json() == {"id": 1, "name": "product 1"}
            assert (await http.get("/products/1")).json() == first.json()
            stats = (await http.get("/stats")).json()
            assert stats["get_or_set"] == {
                "hits": 1,
                "misses": 1,
                "computations": 1,
                "stale": 0,
                "stale_on_error": 0,
                "invalidated": 0,
            }
            page = (await http.get("/metrics")).text
    system = "aiokv.memory" if driver == "memory" else "redis"
    assert re.search(
        r'^aiokv_cache_hits_total\{[^}]*aiokv_cache_name="get_or_set"[^}]*\} 1\.0$', page, re.M
    ), page
    assert re.search(r"^aiokv_cache_misses_total\{[^}]*\} 1\.0$", page, re.M), page
    assert re.search(r"^aiokv_cache_computations_total\{[^}]*\} 1\.0$", page, re.M), page
    duration = re.compile(
        r'^db_client_operation_duration_seconds_count\{[^}]*db_operation_name="GET"[^}]*'
        rf'db_system_name="{re.escape(system)}"[^}}]*\}} (\d+)\.0$',
        re.M,
    )
    found = duration.search(page)
    assert found is not None, page
    assert int(found.group(1)) >= 2
    if driver == "memory":
        assert re.search(r"^aiokv_memory_keys(_total)?\{[^}]*\} 1\.0$", page, re.M), page
    else:
        assert re.search(
            r'^db_client_connection_count\{[^}]*db_client_connection_state="idle"', page, re.M
        ), page
    # Spans went to the console (flushed at shutdown).
    output = log.read_text()
    assert '"name": "GET"' in output, output
    assert '"name": "SET"' in output, output


# -- the README's example ---------------------------------------------------------------------


def test_readme_observability_example(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in list(os.environ):
        if name.startswith(("KV_", "REDIS_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env file
    exec(compile(doc_snippet("observability.py"), "README.md", "exec"), {"__name__": "readme"})
    assert capsys.readouterr().out.splitlines() == [
        "['GET', 'GET', 'SET', 'GET']",
        "CacheStats(hits=1, misses=1, computations=1, stale=0, stale_on_error=0, invalidated=0)",
        "['aiokv.cache.computations', 'aiokv.cache.hits', 'aiokv.cache.invalidated', "
        "'aiokv.cache.misses', 'aiokv.cache.stale', 'aiokv.cache.stale_on_error', "
        "'aiokv.memory.evicted', 'aiokv.memory.expired', 'aiokv.memory.keys', "
        "'db.client.operation.duration']",
    ]
