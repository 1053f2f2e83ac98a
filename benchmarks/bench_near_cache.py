"""``near-cache``: what a near-cache hit costs, and how soon another client's write is seen.

Three contenders read one key ``--ops`` times per sample, interleaved round-robin in one event
loop against a throwaway ``redis-server`` on loopback:

* ``memory get``: the memory driver (the floor a local read can reach through the client);
* ``near-cache hit``: the redis driver with ``near_cache_max_keys`` set, the key already read;
* ``redis get``: the redis driver without a near cache (one round trip per read).

Targets (the issue's): a hit costs at most 3x a memory-driver ``get`` (``hit / memory get``
rate ratio >= 0.33) and is at least 20x faster than a round trip (``hit / redis get`` >= 20).

Invalidation delay: a second client writes the key ``--writes`` times; after each write is sent
the reader polls ``get`` (yielding to the loop between polls) until it answers the new value.
The delay is measured from just before the write is sent, and again from when the writer has
its reply; p50 and p99 are printed. Figures, not assertions: the machine may be shared.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from time import perf_counter_ns
from typing import Any

from ._common import (
    TargetResult,
    aiokv_settings,
    banner,
    fmt_rate,
    fmt_ratio,
    median,
    percentile,
    render_table,
    render_targets,
    write_json,
)
from ._redis_server import HOST, ServerUnavailable, redis_server

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


async def _measure(port: int, args: argparse.Namespace) -> dict[str, Any]:
    from aiokv import AsyncClient

    url = f"redis://{HOST}:{port}/0"
    memory = AsyncClient(**aiokv_settings(driver="memory"))
    near = AsyncClient(**aiokv_settings(driver="redis", url=url, near_cache_max_keys=10_000))
    plain = AsyncClient(**aiokv_settings(driver="redis", url=url))
    writer = AsyncClient(**aiokv_settings(driver="redis", url=url))
    clients = (memory, near, plain, writer)
    try:
        for kv in clients:
            await kv.__aenter__()
        await plain.flushdb()
        for kv in (memory, plain):
            await kv.set("key", "v" * 32)
        assert await near.get("key") == "v" * 32

        def reads(kv: AsyncClient, n: int) -> Sample:
            async def sample() -> None:
                get = kv.get
                for _ in range(n):
                    await get("key")

            return sample

        n, slow = args.ops, max(1, args.ops // 20)  # round trips are slower: fewer per sample
        times = await _rounds(
            {
                "memory get": reads(memory, n),
                "near-cache hit": reads(near, n),
                "redis get": reads(plain, slow),
            },
            args.rounds,
        )
        counts = {"memory get": n, "near-cache hit": n, "redis get": slow}
        rates = {name: counts[name] / (median(t) / 1e9) for name, t in times.items()}
        stats = near.stats().near_cache
        assert stats is not None
        assert stats.hits >= n * args.rounds  # every timed read was a hit
        sent_delays, acked_delays = await _invalidation_delays(near, writer, args.writes)
        return {
            "rates": rates,
            "sent_ns": sent_delays,
            "acked_ns": acked_delays,
            "near_cache": stats.__dict__,
        }
    finally:
        for kv in clients:
            await kv.aclose()


async def _invalidation_delays(
    reader: Any, writer: Any, writes: int
) -> tuple[list[int], list[int]]:
    sent: list[int] = []
    acked: list[int] = []
    for i in range(writes):
        value = f"w{i}"
        await reader.get("delay")  # kept locally
        start = perf_counter_ns()
        write = asyncio.ensure_future(writer.set("delay", value))
        acked_at = None
        while await reader.get("delay") != value:
            if acked_at is None and write.done():
                acked_at = perf_counter_ns()
            await asyncio.sleep(0)
        seen = perf_counter_ns()
        await write
        acked_at = acked_at or seen
        sent.append(seen - start)
        acked.append(seen - acked_at)
    return sent, acked


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ops", type=int, default=20_000, help="local reads per sample")
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds (default 15)")
    parser.add_argument("--writes", type=int, default=500, help="writes timed for the delay")


def run(args: argparse.Namespace) -> int:
    try:
        with redis_server() as server:
            print(f"started {server.binary} (pid {server.pid}) on {HOST}:{server.port}")
            result = asyncio.run(_measure(server.port, args))
    except ServerUnavailable as exc:
        print(f"near-cache: {exc}; skipped")
        return 0
    rates = result["rates"]
    hit = rates["near-cache hit"]
    print(banner(f"one key read {args.ops} times per sample, {args.rounds} rounds"))
    rows = [[name, fmt_rate(rate), f"{1e9 / rate:,.0f}", fmt_ratio(hit / rate)]
            for name, rate in rates.items()]  # fmt: skip
    print(render_table(["contender", "reads/s", "ns/read", "hit is x faster"], rows))
    sent, acked = result["sent_ns"], result["acked_ns"]
    print(banner(f"invalidation delay over {len(sent)} writes by another client"))
    delay_rows = [
        [label, f"{percentile(v, 50) / 1e3:,.0f}", f"{percentile(v, 99) / 1e3:,.0f}"]
        for label, v in (("from the write sent", sent), ("from the writer's reply", acked))
    ]
    print(render_table(["measured", "p50 us", "p99 us"], delay_rows))
    targets = [
        # A hit at most 3x the cost of a memory get: its rate at least a third of the memory's.
        TargetResult("near-cache hit / memory get (>= 1/3)", hit / rates["memory get"], 1 / 3),
        TargetResult("near-cache hit / redis get (>= 20x)", hit / rates["redis get"], 20.0),
    ]
    print(banner("targets (median wall clock)"))
    print(render_targets(targets, "median"))
    payload = {
        **result,
        "delay_us": {
            "sent_p50": percentile(sent, 50) / 1e3,
            "sent_p99": percentile(sent, 99) / 1e3,
            "acked_p50": percentile(acked, 50) / 1e3,
            "acked_p99": percentile(acked, 99) / 1e3,
        },
        "targets": [t.as_json() for t in targets],
    }
    if args.json is not None:
        print(f"\nJSON written to {write_json('near-cache', payload, args.json or None)}")
    return 0
