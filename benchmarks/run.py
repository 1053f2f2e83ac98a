#!/usr/bin/env python
"""aiokv benchmarks.

    python benchmarks/run.py memory            # in-process stores vs aiokv's memory driver
    python benchmarks/run.py reaper            # event-loop lag while expired keys are reclaimed
    python benchmarks/run.py redis             # aiokv's redis driver vs other clients
    python benchmarks/run.py zsets             # sorted sets: memory driver vs fakeredis, floor
    python benchmarks/run.py queue             # kv.queue jobs/s vs a raw redis-py BLMOVE loop
    python benchmarks/run.py otel              # OpenTelemetry's cost: off, API only, SDK

Run from the repository root (or anywhere: the repository root is put on ``sys.path``).
Targets are printed with PASS/MISS; a miss never changes the exit status.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
_ROOT = _HERE.parent


def _fix_sys_path() -> None:
    # `python benchmarks/run.py` puts benchmarks/ first on sys.path, where a module could shadow
    # a real package; import the benchmarks as a package from the repository root instead.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
    if str(_ROOT) not in sys.path:
        sys.path.insert(0, str(_ROOT))


def build_parser() -> argparse.ArgumentParser:
    from benchmarks import (
        bench_batch,
        bench_memory,
        bench_otel,
        bench_queue,
        bench_reaper,
        bench_redis,
        bench_zsets,
    )

    parser = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description="aiokv benchmarks (no timing asserts; targets print PASS/MISS).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands = (
        ("memory", bench_memory, "set+get vs floor, cashews, aiocache, fakeredis"),
        ("reaper", bench_reaper, "event-loop lag while the memory driver reclaims expired keys"),
        ("redis", bench_redis, "aiokv's redis driver vs redis.asyncio, coredis, valkey-glide"),
        ("batch", bench_batch, "pipelines and mget vs redis-py; memory pipelines vs single calls"),
        ("zsets", bench_zsets, "zadd/zrank/zrange: memory driver vs fakeredis, SortedList floor"),
        ("queue", bench_queue, "kv.queue throughput (jobs/s) vs a raw redis-py BLMOVE loop"),
        ("otel", bench_otel, "OpenTelemetry on the memory driver: off, API only, SDK (ratios)"),
    )
    for name, module, help_text in commands:
        cmd = sub.add_parser(name, help=help_text, description=module.__doc__)
        cmd.formatter_class = argparse.RawDescriptionHelpFormatter
        module.add_arguments(cmd)
        cmd.add_argument(
            "--json",
            nargs="?",
            const="",
            default=None,
            metavar="PATH",
            help="also write JSON (default path: benchmarks/results/<command>-<time>.json)",
        )
        cmd.set_defaults(handler=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    _fix_sys_path()
    args = build_parser().parse_args(argv)
    handler = args.handler
    status: int = handler(args)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
