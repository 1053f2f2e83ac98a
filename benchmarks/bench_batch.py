"""``batch``: pipelines and multi-key reads, aiokv against raw redis-py, interleaved round-robin.

Redis: a pipeline of N ``set``/``get`` commands (half each) through aiokv's ``pipeline()`` and
through redis-py's ``pipeline(transaction=False)``; ``mget`` of K keys through both. Memory: the
per-command cost of a pipeline of N commands against the same commands awaited one by one.

Every figure is the median over rounds of one sample per contender; a round starts at a different
contender each time. Wall clock (perf_counter_ns); the thread's CPU time is kept for information.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from time import perf_counter_ns, thread_time_ns
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
from ._redis_server import HOST, ServerUnavailable, redis_server

Sample = Callable[[], Awaitable[None]]


async def _time(sample: Sample) -> tuple[int, int]:
    wall, cpu = perf_counter_ns(), thread_time_ns()
    await sample()
    return perf_counter_ns() - wall, thread_time_ns() - cpu


async def _rounds(samples: dict[str, Sample], rounds: int) -> dict[str, list[tuple[int, int]]]:
    names = list(samples)
    for name in names:  # warm up
        await samples[name]()
    out: dict[str, list[tuple[int, int]]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            out[name].append(await _time(samples[name]))
    return out


def _rate(times: list[tuple[int, int]], ops: int, cpu: bool = False) -> float:
    return ops / (median([t[1 if cpu else 0] for t in times]) / 1e9)


async def _redis(port: int, args: argparse.Namespace) -> dict[str, Any]:
    import redis.asyncio

    from aiokv import AsyncClient

    n, k = args.commands, args.keys
    raw = redis.asyncio.Redis(host=HOST, port=port, decode_responses=True)
    kv = AsyncClient(driver="redis", url=f"redis://{HOST}:{port}/0")
    keys = [f"key:{i}" for i in range(k)]
    try:
        await raw.mset(dict.fromkeys(keys, "v" * 32))

        async def aiokv_pipeline() -> None:
            p = kv.pipeline()
            for i in range(n // 2):
                p.set(keys[i % k], "v" * 32).get(keys[i % k])
            await p.execute()

        async def raw_pipeline() -> None:
            p = raw.pipeline(transaction=False)
            for i in range(n // 2):
                p.set(keys[i % k], "v" * 32).get(keys[i % k])
            await p.execute()

        async def aiokv_mget() -> None:
            for _ in range(20):
                await kv.mget(*keys)

        async def raw_mget() -> None:
            for _ in range(20):
                await raw.mget(keys)

        async def aiokv_gets() -> None:
            for key in keys:
                await kv.get(key)

        samples: dict[str, Sample] = {
            "aiokv pipeline": aiokv_pipeline,
            "redis-py pipeline": raw_pipeline,
            "redis-py mget": raw_mget,
            f"aiokv {k} x get": aiokv_gets,
        }
        samples["aiokv mget"] = aiokv_mget
        times = await _rounds(samples, args.rounds)
    finally:
        await kv.aclose()
        await raw.aclose()
    ops = {name: n for name in samples if "pipeline" in name}
    ops.update({name: 20 * k for name in samples if "mget" in name})
    ops[f"aiokv {k} x get"] = k
    return {name: (_rate(times[name], ops[name]), _rate(times[name], ops[name], True))
            for name in samples}  # fmt: skip


async def _memory(args: argparse.Namespace) -> dict[str, Any]:
    from aiokv import AsyncClient

    n = args.commands
    async with AsyncClient(driver="memory") as kv:
        keys = [f"key:{i}" for i in range(args.keys)]

        async def one_by_one() -> None:
            for i in range(n // 2):
                key = keys[i % len(keys)]
                await kv.set(key, "v")
                await kv.get(key)

        async def pipelined() -> None:
            p = kv.pipeline()
            for i in range(n // 2):
                key = keys[i % len(keys)]
                p.set(key, "v").get(key)
            await p.execute()

        times = await _rounds({"one by one": one_by_one, "pipeline": pipelined}, args.rounds)
    return {name: (_rate(t, n), _rate(t, n, True)) for name, t in times.items()}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--commands", type=int, default=1000, help="commands per pipeline")
    parser.add_argument("--keys", type=int, default=100, help="keys per mget (default 100)")
    parser.add_argument("--rounds", type=int, default=30, help="timed rounds (default 30)")


def run(args: argparse.Namespace) -> int:
    payload: dict[str, Any] = {}
    targets: list[TargetResult] = []
    memory = asyncio.run(_memory(args))
    payload["memory"] = memory
    print(banner(f"memory: {args.commands} commands (set+get), pipeline vs one by one"))
    rows = [[name, fmt_rate(w), fmt_rate(c)] for name, (w, c) in memory.items()]
    print(render_table(["contender", "ops/s", "cpu ops/s"], rows))
    ratio = memory["pipeline"][0] / memory["one by one"][0]
    cpu_ratio = memory["pipeline"][1] / memory["one by one"][1]
    targets.append(TargetResult("memory pipeline / one by one", ratio, 1.0, extras=(cpu_ratio,)))
    try:
        with redis_server() as server:
            print(f"started {server.binary} (pid {server.pid}) on {HOST}:{server.port}")
            redis_rates = asyncio.run(_redis(server.port, args))
    except ServerUnavailable as exc:
        print(f"redis: {exc}; skipped")
        redis_rates = {}
    payload["redis"] = redis_rates
    if redis_rates:
        print(banner(f"redis: pipeline of {args.commands}, mget of {args.keys} keys"))
        base = redis_rates["redis-py pipeline"][0]
        rows = [[name, fmt_rate(w), fmt_rate(c), fmt_ratio(w / base)]
                for name, (w, c) in redis_rates.items()]  # fmt: skip
        print(
            render_table(["contender", "commands or keys/s", "cpu", "vs redis-py pipeline"], rows)
        )

        def pair(a: str, b: str, minimum: float) -> None:
            if a in redis_rates and b in redis_rates:
                wall = redis_rates[a][0] / redis_rates[b][0]
                cpu = redis_rates[a][1] / redis_rates[b][1]
                targets.append(TargetResult(f"{a} / {b}", wall, minimum, extras=(cpu,)))

        pair("aiokv pipeline", "redis-py pipeline", 0.9)
        pair("aiokv mget", "redis-py mget", 0.9)
    print(banner("targets (median wall clock; cpu in parentheses)"))
    print(render_targets(targets, "median", ["cpu"]))
    payload["targets"] = [t.as_json(["cpu"]) for t in targets]
    if args.json is not None:
        print(f"\nJSON written to {write_json('batch', payload, args.json or None)}")
    return 0
