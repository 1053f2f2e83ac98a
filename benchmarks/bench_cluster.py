"""``cluster``: aiokv's cluster driver against raw ``redis.asyncio.RedisCluster``, on one local
Redis Cluster (3 primaries, 3 replicas) that the benchmark starts and always stops.

Workloads, interleaved round-robin across the contenders, ``--rounds`` times (median reported):

  (a) sequential ``get`` of one existing key, N times (1 task);
  (b) 50 concurrent tasks doing ``get`` of their own key, ~M operations in all;
  (c) 100 keys spread over every slot range: one multi-key read split by slot (MGET through
      the driver's split-and-merge path, and the public ``exists(*keys)``) against 100
      sequential ``get`` calls.

aiokv runs twice, with auto-pipelining (the default: a shared connection per node, the
commands of concurrent tasks written together) and with ``auto_pipeline=False`` (a pooled
connection per command). Reported for (a) and (b): operations per second, the ratio to raw
RedisCluster, and the client's CPU time per command (``time.process_time``: the servers run in
other processes, so only the client's work is counted).

Targets: (a) and (b) at least 0.9x raw RedisCluster; (c) at least 2x the sequential gets.

    python -m benchmarks.bench_cluster [--seq 5000] [--conc 10000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from time import perf_counter, process_time
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from redis.asyncio.cluster import ClusterNode, RedisCluster
from servers import RedisCluster as ClusterHarness

from aiokv import AsyncClient
from aiokv.commands._base import ALL_KEYS, IN_ORDER, Command

# The spec the facade's mget() will use: one line, as any splittable command.
MGET = Command(
    "MGET", readonly=True, encode=lambda keys: ("MGET", *keys), keys=ALL_KEYS, merge=IN_ORDER
)
TASKS = 50


async def _timed(run: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    """Wall-clock and client CPU seconds of one run."""
    start, cpu = perf_counter(), process_time()
    await run()
    return perf_counter() - start, process_time() - cpu


async def main(seq: int, conc: int, rounds: int) -> None:
    with ClusterHarness() as cluster:
        nodes = [ClusterNode("127.0.0.1", node.port) for node in cluster.nodes]
        raw = RedisCluster(startup_nodes=nodes)
        await raw.initialize()
        async with (
            AsyncClient(url=cluster.url) as kv,
            AsyncClient(url=cluster.url, auto_pipeline=False) as pooled,
        ):
            await kv.flushdb()
            await kv.set("bench:seq", "x" * 32)
            task_keys = [f"bench:task:{n}" for n in range(TASKS)]
            spread = [f"bench:spread:{n}" for n in range(100)]
            for key in [*task_keys, *spread]:
                await kv.set(key, "v")
            assert await kv._driver.execute(MGET, spread) == [b"v"] * 100  # type: ignore[union-attr]
            assert await raw.get("bench:seq") == b"x" * 32

            async def seq_aiokv() -> None:
                for _ in range(seq):
                    await kv.get("bench:seq")

            async def seq_pooled() -> None:
                for _ in range(seq):
                    await pooled.get("bench:seq")

            async def seq_raw() -> None:
                for _ in range(seq):
                    await raw.get("bench:seq")

            def concurrent(get: Callable[[str], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
                async def one(key: str) -> None:
                    for _ in range(conc // TASKS):
                        await get(key)

                async def run() -> None:
                    await asyncio.gather(*(one(key) for key in task_keys))

                return run

            async def mget_split() -> None:
                for _ in range(50):
                    await kv._driver.execute(MGET, spread)  # type: ignore[union-attr]

            async def exists_split() -> None:
                for _ in range(50):
                    await kv.exists(*spread)

            async def hundred_gets() -> None:
                for _ in range(50):
                    for key in spread:
                        await kv.get(key)

            work: dict[str, Callable[[], Awaitable[Any]]] = {
                "seq aiokv": seq_aiokv,
                "seq aiokv pooled": seq_pooled,
                "seq raw": seq_raw,
                "conc aiokv": concurrent(kv.get),
                "conc aiokv pooled": concurrent(pooled.get),
                "conc raw": concurrent(raw.get),
                "mget 100 (split)": mget_split,
                "exists 100 (split)": exists_split,
                "100 sequential get": hundred_gets,
            }
            times: dict[str, list[float]] = {name: [] for name in work}
            cpu: dict[str, list[float]] = {name: [] for name in work}
            for run in work.values():  # warm-up
                await run()
            for _ in range(rounds):
                for name, run in work.items():
                    wall, used = await _timed(run)
                    times[name].append(wall)
                    cpu[name].append(used)
        await raw.aclose()

    med = {name: statistics.median(values) for name, values in times.items()}
    med_cpu = {name: statistics.median(values) for name, values in cpu.items()}
    print(f"cluster benchmark, {rounds} rounds interleaved, medians")
    for label, prefix, ops in (
        (f"1 task, sequential get x{seq}", "seq", seq),
        (f"{TASKS} tasks, {conc} get", "conc", conc),
    ):
        print(f"  {label} (target: aiokv >= 0.9x raw)")
        raw_time = med[f"{prefix} raw"]
        for name, who in (
            (f"{prefix} aiokv", "aiokv (auto-pipelining)"),
            (f"{prefix} aiokv pooled", "aiokv (auto_pipeline=False)"),
            (f"{prefix} raw", "raw RedisCluster"),
        ):
            print(
                f"    {who:28} {ops / med[name]:>9,.0f}/s  {raw_time / med[name]:5.2f}x raw  "
                f"CPU {med_cpu[name] / ops * 1e6:6.1f} us/command"
            )
    for name in ("mget 100 (split)", "exists 100 (split)"):
        print(
            f"  {name}: {med[name] / 50 * 1e3:.2f} ms per call vs 100 sequential get "
            f"{med['100 sequential get'] / 50 * 1e3:.2f} ms: "
            f"{med['100 sequential get'] / med[name]:.1f}x faster (target >= 2)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq", type=int, default=5000)
    parser.add_argument("--conc", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    asyncio.run(main(options.seq, options.conc, options.rounds))
