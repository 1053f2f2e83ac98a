#!/usr/bin/env python
"""aiokv benchmarks.

    python benchmarks/run.py memory            # in-process stores vs aiokv's memory driver
    python benchmarks/run.py reaper            # event-loop lag while expired keys are reclaimed
    python benchmarks/run.py redis             # aiokv's redis driver vs other clients
    python benchmarks/run.py zsets             # sorted sets: memory driver vs fakeredis, floor
    python benchmarks/run.py queue             # kv.queue jobs/s vs a raw redis-py BLMOVE loop
    python benchmarks/run.py otel              # OpenTelemetry's cost: off, API only, SDK
    python benchmarks/run.py near-cache        # near-cache hit vs memory get and a round trip
    python benchmarks/run.py stampede          # 20 processes, one cold key: get_or_set(lock=True)
    python benchmarks/run.py all               # memory, reaper, redis; then docs/benchmarks.md
    python benchmarks/run.py smoke             # every benchmark at tiny sizes (CI), charts too

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
        bench_lock_stampede,
        bench_memory,
        bench_near_cache,
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
        ("near-cache", bench_near_cache, "near-cache hits vs memory get and redis round trips"),
        ("stampede", bench_lock_stampede, "N processes, one cold key: get_or_set(lock=True)"),
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


#: ``all``: the runs drawn in docs/benchmarks.md (batch has no chart: it runs in ``smoke``).
_ALL: tuple[tuple[str, list[str]], ...] = (("memory", []), ("reaper", []), ("redis", []))
_SMOKE: tuple[tuple[str, list[str]], ...] = (
    ("memory", ["--keys", "50", "--rounds", "2", "--warmup", "1"]),
    ("reaper", ["--keys", "3000", "--ttl", "0.5", "--duration", "0.3", "--baseline", "0.2"]),
    ("redis", ["--n", "200", "--concurrency", "1,10", "--concurrent-ops", "400", "--rounds", "2"]),
    ("batch", ["--commands", "50", "--keys", "10", "--rounds", "2"]),
    ("near-cache", ["--ops", "200", "--rounds", "2", "--writes", "20"]),
    ("stampede", ["--processes", "3", "--compute", "0.05", "--rounds", "1"]),
)


def run_several(plan: tuple[tuple[str, list[str]], ...], docs: Path) -> int:
    """Run each benchmark of ``plan`` with JSON output, then draw the charts into ``docs``."""
    import tempfile

    from benchmarks.charts import write_report

    results: dict[str, Path] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in plan:
            path = Path(tmp) / f"{name}.json"
            args = build_parser().parse_args([name, *extra, "--json", str(path)])
            if plan is _SMOKE and name == "redis":
                args.redis_benchmark_n = 0
            args.handler(args)
            results[name] = path
        report = write_report(results, docs)
    print(f"\nwrote {report}")
    return 0


def main(argv: list[str] | None = None) -> int:
    _fix_sys_path()
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["all"]:
        return run_several(_ALL, _ROOT / "docs")
    if argv[:1] == ["smoke"]:
        import tempfile

        with tempfile.TemporaryDirectory() as docs:  # the charts are drawn, then thrown away
            return run_several(_SMOKE, Path(docs))
    args = build_parser().parse_args(argv)
    handler = args.handler
    status: int = handler(args)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
