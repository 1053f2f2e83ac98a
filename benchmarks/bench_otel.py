"""``otel``: what OpenTelemetry instrumentation costs on the memory driver's hot path.

Five contenders run the same loop of ``set`` + ``get`` on the memory driver, interleaved
round-robin in one process:

* ``off``: the default; the client calls the driver's own command table;
* ``off, extra imported``: the same code again, with ``opentelemetry`` and the SDK imported. Its
  ratio to ``off`` is the noise of the run: the other ratios stand against it;
* ``API only``: instrumentation asked for (``instrument(kv)``, as ``KV_OTEL=1`` does) with the
  global providers while no SDK is configured. Every span would be a no-op, so the client is
  left unwrapped: this should read as ``off``;
* ``SDK, nothing sampled``: an SDK tracer provider that samples no span and an SDK meter
  provider without a reader: the wrapper's own cost plus the SDK's cheapest path;
* ``SDK, no-op exporter``: an SDK tracer provider whose simple span processor feeds an exporter
  that drops every span, and an SDK meter provider with a reader that is never collected:
  every span and duration is really built.

Every figure is the median over rounds of one sample per contender; ratios are against ``off``.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable, Sequence
from time import perf_counter_ns
from typing import Any

from ._common import (
    TargetResult,
    banner,
    fmt_rate,
    fmt_ratio,
    median,
    render_table,
    render_targets,
    write_json,
)

Sample = Callable[[], Awaitable[None]]


async def _rounds(samples: dict[str, Sample], rounds: int) -> dict[str, list[int]]:
    names = list(samples)
    for name in names:  # warm up
        await samples[name]()
    out: dict[str, list[int]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            start = perf_counter_ns()
            await samples[name]()
            out[name].append(perf_counter_ns() - start)
    return out


async def _measure(args: argparse.Namespace) -> dict[str, Any]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import (
        SimpleSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    from aiokv import AsyncClient
    from aiokv.observability import instrument

    class Drop(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider(shutdown_on_exit=False)
    tracer_provider.add_span_processor(SimpleSpanProcessor(Drop()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()], shutdown_on_exit=False)

    off = AsyncClient(driver="memory")
    off_again = AsyncClient(driver="memory")
    api_only = AsyncClient(driver="memory")
    instrument(api_only)  # the global providers: no SDK is configured in this process
    unsampled = AsyncClient(driver="memory")
    quiet_tracer = TracerProvider(sampler=ALWAYS_OFF, shutdown_on_exit=False)
    quiet_meter = MeterProvider(shutdown_on_exit=False)
    instrument(unsampled, tracer_provider=quiet_tracer, meter_provider=quiet_meter)
    sdk = AsyncClient(driver="memory")
    instrument(sdk, tracer_provider=tracer_provider, meter_provider=meter_provider)
    clients = {
        "off": off,
        "off, extra imported": off_again,
        "API only": api_only,
        "SDK, nothing sampled": unsampled,
        "SDK, no-op exporter": sdk,
    }
    n = args.ops
    keys = [f"key:{i}" for i in range(100)]

    def loop(kv: AsyncClient) -> Sample:
        async def sample() -> None:
            for i in range(n // 2):
                key = keys[i % 100]
                await kv.set(key, "v")
                await kv.get(key)

        return sample

    try:
        times = await _rounds({name: loop(kv) for name, kv in clients.items()}, args.rounds)
    finally:
        for kv in clients.values():
            await kv.aclose()
        for provider in (tracer_provider, meter_provider, quiet_tracer, quiet_meter):
            provider.shutdown()
    return {name: n / (median(t) / 1e9) for name, t in times.items()}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ops", type=int, default=20_000, help="commands per sample")
    parser.add_argument("--rounds", type=int, default=30, help="timed rounds (default 30)")


def run(args: argparse.Namespace) -> int:
    try:
        import opentelemetry.sdk  # noqa: F401
    except ImportError:
        print("otel: opentelemetry-sdk is not installed (pip install -e '.[bench]'); skipped")
        return 0
    rates = asyncio.run(_measure(args))
    base = rates["off"]
    print(banner(f"memory driver: set+get, {args.ops} commands per sample, {args.rounds} rounds"))
    rows = [[name, fmt_rate(rate), fmt_ratio(rate / base)] for name, rate in rates.items()]
    print(render_table(["instrumentation", "ops/s", "vs off"], rows))
    # The first pair runs the very same code: its ratio is the noise of the run. Asking for
    # instrumentation without an SDK must cost nothing beyond that noise.
    targets = [
        TargetResult("off, extra imported / off", rates["off, extra imported"] / base, 0.9),
        TargetResult("API only / off", rates["API only"] / base, 0.9),
    ]
    print(banner("targets (median wall clock)"))
    print(render_targets(targets, "median"))
    payload = {
        "rates": rates,
        "ratios": {name: rate / base for name, rate in rates.items()},
        "targets": [t.as_json() for t in targets],
    }
    if args.json is not None:
        print(f"\nJSON written to {write_json('otel', payload, args.json or None)}")
    return 0
