"""``redis``: aiokv's redis driver against other asyncio Redis clients, on a real server.

The benchmark starts its own ``redis-server`` (from ``$AIOKV_REDIS_SERVER`` or PATH) on a free
loopback port with persistence off, and stops it when done. Workloads, interleaved round-robin
across clients (each round runs every client once, starting with a different one):

  (a) sequential ``get`` of one existing key, N times;
  (b) for each concurrency T (default 1, 10, 50, 200, 1000): T tasks, each doing ``set`` +
      ``get`` of its own key, about M commands in all; every command's latency is recorded.

Reported per client: ops/s (median of the rounds), client CPU time per command (this process,
all threads: glide's Rust core included), and p50/p99 latency per command. Ratios are against
raw ``redis.asyncio.Redis`` (hiredis parser) and valkey-glide.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from time import perf_counter_ns, process_time_ns
from typing import Any

from ._common import (
    TargetResult,
    banner,
    describe_exception,
    fmt_rate,
    fmt_ratio,
    median,
    ops_per_sec,
    percentile,
    render_table,
    render_targets,
    spread_pct,
    write_json,
)
from ._redis_contenders import BASELINE, CONTENDERS, RedisContender
from ._redis_server import HOST, RedisServer, ServerUnavailable, redis_server

VALUE = "0123456789abcdef" * 2
SEQ_KEY = "bench:seq"
GLIDE = "valkey-glide"


@dataclass
class Outcome:
    name: str
    note: str = ""
    error: str | None = None
    warning: str | None = None
    seq_ns: list[int] = field(default_factory=list)
    seq_cpu_ns: list[int] = field(default_factory=list)
    # concurrency -> samples: (wall ns, process CPU ns); latencies of every recorded command
    conc: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    latency_ns: dict[int, list[int]] = field(default_factory=dict)

    def ok(self) -> bool:
        return self.error is None

    def rate(self, tasks: int | None, ops: int) -> float | None:
        """Median ops/s, sequential (``tasks`` None) or at ``tasks`` concurrent tasks."""
        samples = self.seq_ns if tasks is None else [w for w, _ in self.conc.get(tasks, [])]
        if not self.ok() or not samples:
            return None
        return median([ops_per_sec(ops, ns) for ns in samples])

    def spread(self, tasks: int | None, ops: int) -> float:
        samples = self.seq_ns if tasks is None else [w for w, _ in self.conc.get(tasks, [])]
        return spread_pct([ops_per_sec(ops, ns) for ns in samples])

    def cpu_us(self, tasks: int | None, ops: int) -> float | None:
        samples = self.seq_cpu_ns if tasks is None else [c for _, c in self.conc.get(tasks, [])]
        if not self.ok() or not samples:
            return None
        return median(samples) / ops / 1e3

    def latency_us(self, tasks: int, q: float) -> float | None:
        values = self.latency_ns.get(tasks)
        if not self.ok() or not values:
            return None
        return percentile(values, q) / 1e3


async def _seq_sample(c: RedisContender, n: int) -> tuple[int, int]:
    """(wall ns, process CPU ns) for ``n`` sequential gets."""
    c0, t0 = process_time_ns(), perf_counter_ns()
    await c.seq_get(SEQ_KEY, n)
    t1, c1 = perf_counter_ns(), process_time_ns()
    return t1 - t0, c1 - c0


async def _conc_sample(
    c: RedisContender, tasks: int, per_task: int, latencies: list[int]
) -> tuple[int, int]:
    """(wall ns, process CPU ns) for ``tasks`` concurrent set+get loops, timing each command."""
    lists: list[list[int]] = [[] for _ in range(tasks)]
    c0, t0 = process_time_ns(), perf_counter_ns()
    await asyncio.gather(
        *(c.set_get_timed(f"bench:conc:{t}", VALUE, per_task, lists[t]) for t in range(tasks))
    )
    t1, c1 = perf_counter_ns(), process_time_ns()
    for values in lists:
        latencies += values
    return t1 - t0, c1 - c0


def _per_task(args: argparse.Namespace, tasks: int) -> int:
    return max(1, args.concurrent_ops // (2 * tasks))


async def _bench(server: RedisServer, args: argparse.Namespace) -> dict[str, Any]:
    names: list[str] = args.clients
    levels: list[int] = args.concurrency
    outcomes = {name: Outcome(name) for name in names}
    live: dict[str, RedisContender] = {}

    await _set_seq_key(server)
    for name in names:
        contender = CONTENDERS[name](server.port)
        try:
            await contender.open()
        except Exception as exc:
            outcomes[name].error = describe_exception(exc)
            await _close_quietly(contender)
            continue
        outcomes[name].note = contender.note
        live[name] = contender

    async def guarded(name: str, tasks: int | None, record: bool, scale: int = 1) -> None:
        contender = live.get(name)
        if contender is None:
            return
        out = outcomes[name]
        latencies: list[int] = []
        try:
            if tasks is None:
                ns, cpu = await _seq_sample(contender, max(1, args.n // scale))
            else:
                per_task = max(1, _per_task(args, tasks) // scale)
                ns, cpu = await _conc_sample(contender, tasks, per_task, latencies)
        except Exception as exc:
            out.error = f"failed while running: {describe_exception(exc)}"
            del live[name]
            await _close_quietly(contender)
            return
        if not record:
            return
        if tasks is None:
            out.seq_ns.append(ns)
            out.seq_cpu_ns.append(cpu)
        else:
            out.conc.setdefault(tasks, []).append((ns, cpu))
            out.latency_ns.setdefault(tasks, []).extend(latencies)

    workloads: list[int | None] = [None, *levels]
    try:
        # warm-up: open every connection (all tasks at once) and warm the code paths
        for name in names:
            await guarded(name, None, record=False, scale=10)
            await guarded(name, max(levels), record=False, scale=10)
        for name, contender in list(live.items()):
            got = await contender.get_one(SEQ_KEY)
            if got != VALUE:
                outcomes[name].warning = f"get returned {got!r}, not the stored value"
        for workload in workloads:
            for r in range(args.rounds):
                order = [*names[r % len(names) :], *names[: r % len(names)]]
                for name in order:
                    await guarded(name, workload, record=True)
    finally:
        for contender in live.values():
            await _close_quietly(contender)

    print(
        banner(f"redis {server.version} on {HOST}:{server.port}: {args.rounds} rounds, interleaved")
    )
    print(f"(a) sequential get of one existing key, N={args.n:,} per sample")
    print(
        f"(b) T concurrent tasks x (set + get), about {args.concurrent_ops:,} commands per sample,"
        f" T in {', '.join(map(str, levels))}"
    )
    print(render_results(outcomes, args))
    notes = [f"  {o.name}: skipped ({o.error})" for o in outcomes.values() if o.error]
    notes += [f"  {o.name}: {o.note}" for o in outcomes.values() if o.ok() and o.note]
    notes += [f"  {o.name}: WARNING {o.warning}" for o in outcomes.values() if o.warning]
    print("\n".join(notes))

    targets = build_targets(outcomes, args)
    extra_names = ("cpu/op ratio",)
    print(banner("targets (median ops/s, measured in this run)"))
    print(render_targets(targets, "median", extra_names))
    print(
        "  verdicts use the first ratio; in parentheses, for information: the other client's"
        "\n  CPU per command / aiokv's (above 1 = aiokv spends less client CPU per command)"
    )
    return {
        "config": {
            "server_version": server.version,
            "rounds": args.rounds,
            "n_seq": args.n,
            "concurrency": levels,
            "ops_concurrent": args.concurrent_ops,
            "clients": names,
        },
        "clients": {name: outcome_json(out, args) for name, out in outcomes.items()},
        "targets": [t.as_json(extra_names) for t in targets],
    }


def outcome_json(out: Outcome, args: argparse.Namespace) -> dict[str, Any]:
    levels: list[int] = args.concurrency
    return {
        "error": out.error,
        "warning": out.warning,
        "note": out.note,
        "seq_ops_per_s": out.rate(None, args.n),
        "seq_cpu_us_per_op": out.cpu_us(None, args.n),
        "concurrency": {
            str(t): {
                "ops_per_s": out.rate(t, 2 * t * _per_task(args, t)),
                "cpu_us_per_op": out.cpu_us(t, 2 * t * _per_task(args, t)),
                "p50_us": out.latency_us(t, 50),
                "p99_us": out.latency_us(t, 99),
                "samples_ns": out.conc.get(t, []),
            }
            for t in levels
        },
    }


def render_results(outcomes: dict[str, Outcome], args: argparse.Namespace) -> str:
    base = outcomes.get(BASELINE)
    rows: list[list[str]] = []
    for label, tasks in [("seq", None), *((f"T={t}", t) for t in args.concurrency)]:
        ops = args.n if tasks is None else 2 * tasks * _per_task(args, tasks)
        base_rate = base.rate(tasks, ops) if base else None
        glide = outcomes.get(GLIDE)
        glide_rate = glide.rate(tasks, ops) if glide else None
        for name, out in outcomes.items():
            if not out.ok():
                continue
            rate = out.rate(tasks, ops)
            cpu = out.cpu_us(tasks, ops)
            p50 = None if tasks is None else out.latency_us(tasks, 50)
            p99 = None if tasks is None else out.latency_us(tasks, 99)
            rows.append(
                [
                    label,
                    name,
                    fmt_rate(rate),
                    f"{out.spread(tasks, ops):.0f}%",
                    fmt_ratio(rate / base_rate if rate and base_rate else None),
                    fmt_ratio(rate / glide_rate if rate and glide_rate else None),
                    "-" if cpu is None else f"{cpu:.1f}",
                    "-" if p50 is None else f"{p50:,.0f}",
                    "-" if p99 is None else f"{p99:,.0f}",
                ]
            )
    headers = [
        "workload", "client", "ops/s", "IQR", "vs raw", "vs glide", "cpu us/op", "p50 us",
        "p99 us",
    ]  # fmt: skip
    return render_table(headers, rows) + (
        "\n  cpu us/op = this process's CPU time per command (median of the rounds; the server's"
        " is not\n  included); p50/p99 = latency of each command, over every recorded sample"
    )


def build_targets(outcomes: dict[str, Outcome], args: argparse.Namespace) -> list[TargetResult]:
    aiokv = outcomes.get("aiokv")
    raw = outcomes.get(BASELINE)
    glide = outcomes.get(GLIDE)
    targets: list[TargetResult] = []

    def ratio(label: str, other: Outcome | None, tasks: int | None, minimum: float) -> TargetResult:
        ops = args.n if tasks is None else 2 * tasks * _per_task(args, tasks)
        if aiokv is None or other is None or not aiokv.ok() or not other.ok():
            return TargetResult(label, None, minimum, "client unavailable or not selected")
        a, b = aiokv.rate(tasks, ops), other.rate(tasks, ops)
        if a is None or not b:
            return TargetResult(label, None, minimum, "workload not run")
        a_cpu, b_cpu = aiokv.cpu_us(tasks, ops), other.cpu_us(tasks, ops)
        cpu = b_cpu / a_cpu if a_cpu and b_cpu else None
        return TargetResult(label, a / b, minimum, "", (cpu,))

    targets.append(ratio("sequential get: aiokv / redis.asyncio", raw, None, 0.95))
    for tasks in args.concurrency:
        if tasks in (50, 1000):
            targets.append(ratio(f"{tasks} tasks set+get: aiokv / valkey-glide", glide, tasks, 1.0))
            targets.append(ratio(f"{tasks} tasks set+get: aiokv / redis.asyncio", raw, tasks, 1.0))
    top = max(args.concurrency)
    if aiokv is not None and raw is not None and aiokv.ok() and raw.ok():
        a99, r99 = aiokv.latency_us(top, 99), raw.latency_us(top, 99)
        measured = r99 / a99 if a99 and r99 else None
        label = f"p99 latency at {top} tasks: redis.asyncio / aiokv"
        targets.append(TargetResult(label, measured, 1.0, "above 1: aiokv's p99 is lower"))
    return targets


async def _profile(server: RedisServer, name: str, args: argparse.Namespace) -> str:
    """cProfile one client, sequential and at the highest concurrency (one sample each)."""
    contender = CONTENDERS[name](server.port)
    await contender.open()
    tasks = max(args.concurrency)
    per_task = _per_task(args, tasks)
    try:
        await _seq_sample(contender, max(1, args.n // 10))
        await _conc_sample(contender, tasks, max(1, per_task // 10), [])
        out = io.StringIO()
        for label, workload in (("sequential get", "seq"), (f"{tasks} tasks set+get", "conc")):
            profiler = cProfile.Profile()
            profiler.enable()
            if workload == "seq":
                await _seq_sample(contender, args.n)
            else:
                await _conc_sample(contender, tasks, per_task, [])
            profiler.disable()
            out.write(f"--- {name}: {label} ---\n")
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
    finally:
        await contender.close()
    return out.getvalue()


async def _set_seq_key(server: RedisServer) -> None:
    """Flush the throwaway server and store the key the sequential workload reads."""
    reader, writer = await asyncio.open_connection(HOST, server.port)
    try:
        writer.write(b"*1\r\n$7\r\nFLUSHDB\r\n")
        data = VALUE.encode()
        key = SEQ_KEY.encode()
        writer.write(
            b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(data), data)
        )
        await writer.drain()
        for _ in range(2):
            line = await reader.readline()
            if not line.startswith(b"+OK"):
                raise RuntimeError(f"unexpected reply while preparing the server: {line!r}")
    finally:
        writer.close()
        await writer.wait_closed()


async def _close_quietly(contender: RedisContender) -> None:
    try:
        await contender.close()
    except Exception as exc:
        print(f"  note: closing {contender.name} failed: {describe_exception(exc)}")


def _redis_benchmark(server: RedisServer, n: int) -> list[str]:
    binary = shutil.which("redis-benchmark")
    if binary is None:
        return ["redis-benchmark not on PATH; skipped"]
    cmd = [binary, "-h", HOST, "-p", str(server.port), "-t", "get,set", "-n", str(n), "-q"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    except subprocess.TimeoutExpired:
        return ["redis-benchmark timed out"]
    # -q still redraws a progress line with carriage returns; keep the summaries only
    text = (done.stdout + done.stderr).replace("\r", "\n")
    lines = [line.strip() for line in text.split("\n") if "requests per second" in line]
    if done.returncode != 0 or not lines:
        lines.append(f"(exit status {done.returncode}) {text.strip()[-300:]}")
    return [" ".join(cmd), *lines]


def _client_list(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONTENDERS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown client(s) {', '.join(unknown)}; choose from {', '.join(CONTENDERS)}"
        )
    return names


def _int_list(text: str) -> list[int]:
    try:
        values = sorted({int(n) for n in text.split(",") if n.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from None
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError("concurrency levels must be 1 or more")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", type=int, default=20_000, help="sequential gets (default 20,000)")
    parser.add_argument(
        "--concurrency",
        type=_int_list,
        default=[1, 10, 50, 200, 1000],
        help="concurrent task counts, comma-separated (default 1,10,50,200,1000)",
    )
    parser.add_argument(
        "--concurrent-ops",
        type=int,
        default=20_000,
        help="commands per concurrent sample (default 20,000)",
    )
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument(
        "--clients",
        type=_client_list,
        default=list(CONTENDERS),
        help=f"comma-separated subset (default: {','.join(CONTENDERS)})",
    )
    parser.add_argument(
        "--profile",
        type=_client_list,
        default=None,
        metavar="NAMES",
        help="after the run, cProfile these clients (comma-separated), e.g. aiokv,redis.asyncio",
    )
    parser.add_argument(
        "--redis-benchmark-n",
        type=int,
        default=50_000,
        help="-n for redis-benchmark, 0 to skip it (default 50,000)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        with redis_server() as server:
            print(f"started {server.binary} (pid {server.pid}) on {HOST}:{server.port}")
            payload = asyncio.run(_bench(server, args))
            for name in args.profile or []:
                print(banner(f"cProfile: {name}"))
                try:
                    print(asyncio.run(_profile(server, name, args)))
                except Exception as exc:
                    print(f"  could not profile {name}: {describe_exception(exc)}")
            context: Sequence[str] = []
            if args.redis_benchmark_n > 0:
                context = _redis_benchmark(server, args.redis_benchmark_n)
                print(banner("redis-benchmark, for context"))
                print("\n".join(context))
            payload["redis_benchmark"] = list(context)
        print(f"\nstopped redis-server (pid {server.pid})")
    except ServerUnavailable as exc:
        print(f"redis: {exc}; skipped")
        return 0
    if args.json is not None:
        path = write_json("redis", payload, args.json or None)
        print(f"\nJSON written to {path}")
    return 0
