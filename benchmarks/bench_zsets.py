"""``zsets``: zadd, zrank and zrange on one large sorted set, per call.

Each contender gets a sorted set of ``--size`` members (random scores), built in batches, then
runs ``--ops`` calls of each operation, ``--rounds`` times:

* ``zadd``: one new member with a random score per call;
* ``zrank``: the rank of a random existing member;
* ``zrange``: ten members from a random rank (``zrange(key, r, r + 9)``).

Contenders: aiokv's memory driver (``await kv.zadd(...)``), fakeredis's asyncio client, and a
floor: a bare ``sortedcontainers.SortedList`` of ``(score, member)`` beside a dict, called
synchronously (no event loop, no command layer). Contenders run one after another (each holds
its own large set, and two at once would not fit beside each other on a small machine); the
median round is reported, in microseconds per call, with the spread between rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import sys
from collections.abc import Awaitable, Callable
from time import perf_counter_ns
from typing import Any

from ._common import banner, describe_exception, median, render_table, spread_pct, write_json

OPERATIONS = ("zadd", "zrank", "zrange")
_BATCH = 10_000

Step = Callable[[int], Awaitable[Any]]


class Floor:
    """The structure alone: a SortedList of (score, member) and the scores by member."""

    def __init__(self) -> None:
        from sortedcontainers import SortedList  # type: ignore[import-untyped]

        self.order: Any = SortedList()
        self.scores: dict[str, float] = {}

    def zadd(self, mapping: dict[str, float]) -> None:
        for member, score in mapping.items():
            old = self.scores.get(member)
            if old is not None:
                self.order.remove((old, member))
            self.scores[member] = score
            self.order.add((score, member))

    def zrank(self, member: str) -> int:
        return int(self.order.index((self.scores[member], member)))

    def zrange(self, start: int, stop: int) -> list[str]:
        return [member for _, member in self.order.islice(start, stop + 1)]


class Contender:
    """Three steps over one big set, each taking the call's index."""

    name = ""

    async def open(self) -> None:
        raise NotImplementedError

    async def fill(self, mapping: dict[str, float]) -> None:
        raise NotImplementedError

    def steps(self, members: list[str], scores: list[float], size: int) -> dict[str, Step]:
        raise NotImplementedError

    async def close(self) -> None:
        return None


class AiokvContender(Contender):
    name = "aiokv"

    async def open(self) -> None:
        from aiokv import AsyncClient

        self.kv = AsyncClient(driver="memory")
        await self.kv.__aenter__()

    async def fill(self, mapping: dict[str, float]) -> None:
        await self.kv.zadd("z", mapping)

    def steps(self, members: list[str], scores: list[float], size: int) -> dict[str, Step]:
        kv = self.kv

        def zadd(i: int) -> Awaitable[Any]:
            return kv.zadd("z", {f"new{i}": scores[i]})

        def zrank(i: int) -> Awaitable[Any]:
            return kv.zrank("z", members[i])

        def zrange(i: int) -> Awaitable[Any]:
            start = (i * 7919) % size
            return kv.zrange("z", start, start + 9)

        return {"zadd": zadd, "zrank": zrank, "zrange": zrange}

    async def close(self) -> None:
        await self.kv.__aexit__(None, None, None)


class FakeredisContender(Contender):
    name = "fakeredis"

    async def open(self) -> None:
        from fakeredis import FakeServer
        from fakeredis.aioredis import FakeRedis

        self.client = FakeRedis(server=FakeServer(), decode_responses=True)

    async def fill(self, mapping: dict[str, float]) -> None:
        await self.client.zadd("z", mapping)

    def steps(self, members: list[str], scores: list[float], size: int) -> dict[str, Step]:
        client = self.client

        def zadd(i: int) -> Awaitable[Any]:
            return client.zadd("z", {f"new{i}": scores[i]})

        def zrank(i: int) -> Awaitable[Any]:
            return client.zrank("z", members[i])

        def zrange(i: int) -> Awaitable[Any]:
            start = (i * 7919) % size
            return client.zrange("z", start, start + 9)

        return {"zadd": zadd, "zrank": zrank, "zrange": zrange}

    async def close(self) -> None:
        await self.client.aclose()


class FloorContender(Contender):
    name = "floor"

    async def open(self) -> None:
        self.floor = Floor()

    async def fill(self, mapping: dict[str, float]) -> None:
        self.floor.zadd(mapping)


def _floor_steps(
    floor: Floor, members: list[str], scores: list[float], size: int
) -> dict[str, Callable[[int], Any]]:
    def zadd(i: int) -> Any:
        floor.zadd({f"new{i}": scores[i]})

    def zrank(i: int) -> Any:
        return floor.zrank(members[i])

    def zrange(i: int) -> Any:
        start = (i * 7919) % size
        return floor.zrange(start, start + 9)

    return {"zadd": zadd, "zrank": zrank, "zrange": zrange}


async def _time_async(step: Step, first: int, ops: int) -> float:
    start = perf_counter_ns()
    for i in range(first, first + ops):
        await step(i)
    return (perf_counter_ns() - start) / ops / 1000


def _time_sync(step: Callable[[int], Any], first: int, ops: int) -> float:
    start = perf_counter_ns()
    for i in range(first, first + ops):
        step(i)
    return (perf_counter_ns() - start) / ops / 1000


async def _measure(
    contender: Any, size: int, ops: int, rounds: int, seed: int
) -> dict[str, list[float]]:
    rng = random.Random(seed)
    names = [f"m{i}" for i in range(size)]
    await contender.open()
    for start in range(0, size, _BATCH):
        await contender.fill({name: rng.random() * 1000 for name in names[start : start + _BATCH]})
    picks = [names[rng.randrange(size)] for _ in range(ops * rounds)]
    scores = [rng.random() * 1000 for _ in range(ops * rounds)]
    timings: dict[str, list[float]] = {op: [] for op in OPERATIONS}
    gc.collect()
    for round_ in range(rounds):
        first = round_ * ops
        if isinstance(contender, FloorContender):
            sync = _floor_steps(contender.floor, picks, scores, size)
            for op in OPERATIONS:
                timings[op].append(_time_sync(sync[op], first, ops))
        else:
            steps = contender.steps(picks, scores, size)
            for op in OPERATIONS:
                timings[op].append(await _time_async(steps[op], first, ops))
    await contender.close()
    return timings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--size", type=int, default=1_000_000, help="members in the set (default 1,000,000)"
    )
    parser.add_argument("--ops", type=int, default=20_000, help="calls per round (default 20,000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument(
        "--contenders",
        default="aiokv,fakeredis,floor",
        help="comma-separated subset of aiokv,fakeredis,floor",
    )


_CONTENDERS: dict[str, type[Any]] = {
    "aiokv": AiokvContender,
    "fakeredis": FakeredisContender,
    "floor": FloorContender,
}


def run(args: argparse.Namespace) -> int:
    names = [name.strip() for name in args.contenders.split(",") if name.strip()]
    print(banner(f"zsets: {args.size:,} members, {args.ops:,} calls x {args.rounds} rounds"))
    results: dict[str, dict[str, list[float]]] = {}
    for name in names:
        print(f"  {name}: building and measuring ...", file=sys.stderr, flush=True)
        try:
            results[name] = asyncio.run(
                _measure(_CONTENDERS[name](), args.size, args.ops, args.rounds, args.seed)
            )
        except Exception as exc:
            print(f"  {name}: failed: {describe_exception(exc)}")
        gc.collect()
    rows = []
    for name, timings in results.items():
        cells = [name]
        for op in OPERATIONS:
            cells.append(f"{median(timings[op]):.2f} ({spread_pct(timings[op]):.0f}%)")
        rows.append(cells)
    headers = ["contender", *(f"{op} us/call (spread)" for op in OPERATIONS)]
    print(render_table(headers, rows))
    ratios = []
    for op in OPERATIONS:
        mine = median(results["aiokv"][op]) if "aiokv" in results else None
        row = [op]
        for other in ("fakeredis", "floor"):
            theirs = median(results[other][op]) if other in results else None
            row.append(f"{theirs / mine:.2f}x" if mine and theirs else "-")
        ratios.append(row)
    print("\nspeed of aiokv relative to (their time / aiokv's time; >1 means aiokv is faster):")
    print(render_table(["operation", "vs fakeredis", "vs floor"], ratios))
    if args.json is not None:
        payload = {
            "size": args.size,
            "ops": args.ops,
            "rounds": args.rounds,
            "us_per_call": results,
        }
        print(f"\nwrote {write_json('zsets', payload, args.json or None)}")
    return 0
