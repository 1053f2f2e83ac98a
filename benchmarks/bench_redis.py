"""``redis``: aiokv's redis driver against other asyncio Redis clients, on a real server.

The benchmark starts its own ``redis-server`` (from ``$AIOKV_REDIS_SERVER`` or PATH) on a free
loopback port with persistence off, and stops it when done. Two workloads, interleaved
round-robin across clients like the memory benchmark:

  (a) sequential ``get`` of one existing key, N times;
  (b) T concurrent tasks, each doing ``set`` + ``get`` of its own key, ~M operations in all.

Ratios are against raw ``redis.asyncio.Redis`` (hiredis parser when installed).
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
    other_stat,
    render_table,
    render_targets,
    spread_pct,
    write_json,
)
from ._redis_contenders import BASELINE, CONTENDERS, RedisContender
from ._redis_server import HOST, RedisServer, ServerUnavailable, redis_server

VALUE = "0123456789abcdef" * 2
SEQ_KEY = "bench:seq"

#: (label, workload, minimum ratio aiokv / redis.asyncio)
TARGETS = (
    ("sequential get: aiokv / redis.asyncio", "seq", 0.9),
    ("concurrent set+get: aiokv / redis.asyncio", "conc", 1.0),
)


@dataclass
class Outcome:
    name: str
    note: str = ""
    error: str | None = None
    warning: str | None = None
    seq_ns: list[int] = field(default_factory=list)
    conc_ns: list[int] = field(default_factory=list)
    # process CPU time per sample (all threads: glide's Rust core included); unlike wall time
    # it barely moves when other processes compete for the CPU
    seq_cpu_ns: list[int] = field(default_factory=list)
    conc_cpu_ns: list[int] = field(default_factory=list)

    def cpu_us_per_op(self, workload: str, ops: int) -> float | None:
        samples = self.seq_cpu_ns if workload == "seq" else self.conc_cpu_ns
        if self.error is not None or not samples:
            return None
        return median(samples) / ops / 1e3

    def rates(self, workload: str, ops: int) -> list[float]:
        samples = self.seq_ns if workload == "seq" else self.conc_ns
        return [ops_per_sec(ops, ns) for ns in samples]

    def rate(self, workload: str, ops: int, stat: str) -> float | None:
        values = self.rates(workload, ops)
        if self.error is not None or not values:
            return None
        return max(values) if stat == "best" else median(values)


async def _seq_sample(c: RedisContender, n: int) -> tuple[int, int]:
    """(wall ns, process CPU ns) for ``n`` sequential gets."""
    c0, t0 = process_time_ns(), perf_counter_ns()
    await c.seq_get(SEQ_KEY, n)
    t1, c1 = perf_counter_ns(), process_time_ns()
    return t1 - t0, c1 - c0


async def _conc_sample(c: RedisContender, tasks: int, per_task: int) -> tuple[int, int]:
    """(wall ns, process CPU ns) for ``tasks`` concurrent set+get loops."""
    c0, t0 = process_time_ns(), perf_counter_ns()
    await asyncio.gather(*(c.set_get(f"bench:conc:{t}", VALUE, per_task) for t in range(tasks)))
    t1, c1 = perf_counter_ns(), process_time_ns()
    return t1 - t0, c1 - c0


async def _bench(server: RedisServer, args: argparse.Namespace) -> dict[str, Any]:
    names: list[str] = args.clients
    per_task = max(1, args.concurrent_ops // (2 * args.tasks))
    conc_ops = per_task * 2 * args.tasks
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

    async def guarded(name: str, workload: str, record: bool, scale: int = 1) -> None:
        contender = live.get(name)
        if contender is None:
            return
        try:
            if workload == "seq":
                ns, cpu = await _seq_sample(contender, max(1, args.n // scale))
            else:
                ns, cpu = await _conc_sample(contender, args.tasks, max(1, per_task // scale))
        except Exception as exc:
            outcomes[name].error = f"failed while running: {describe_exception(exc)}"
            del live[name]
            await _close_quietly(contender)
            return
        if record:
            out = outcomes[name]
            if workload == "seq":
                out.seq_ns.append(ns)
                out.seq_cpu_ns.append(cpu)
            else:
                out.conc_ns.append(ns)
                out.conc_cpu_ns.append(cpu)

    try:
        # warm-up: fill every connection pool (all tasks at once) and the code paths
        for name in names:
            await guarded(name, "seq", record=False, scale=10)
            await guarded(name, "conc", record=False, scale=10)
        for name, contender in list(live.items()):
            got = await contender.get_one(SEQ_KEY)
            if got != VALUE:
                outcomes[name].warning = f"get returned {got!r}, not the stored value"
        for workload in ("seq", "conc"):
            for r in range(args.rounds):
                order = [*names[r % len(names) :], *names[: r % len(names)]]
                for name in order:
                    await guarded(name, workload, record=True)
    finally:
        for contender in live.values():
            await _close_quietly(contender)

    ops = {"seq": args.n, "conc": conc_ops}
    print(
        banner(
            f"redis {server.version} on {HOST}:{server.port}: {args.rounds} rounds, interleaved;"
            f" {args.stat}"
        )
    )
    print(
        f"(a) sequential get of one existing key, N={args.n:,} per sample\n"
        f"(b) {args.tasks} concurrent tasks x {per_task} x (set + get) = {conc_ops:,} ops per"
        " sample"
    )
    base = outcomes.get(BASELINE)
    rows: list[list[str]] = []
    notes: list[str] = []
    for name, out in outcomes.items():
        if out.error is not None:
            rows.append([name] + ["-"] * 10)
            notes.append(f"  {name}: skipped ({out.error})")
            continue
        cells = [name]
        for workload in ("seq", "conc"):
            rate = out.rate(workload, ops[workload], args.stat)
            base_rate = base.rate(workload, ops[workload], args.stat) if base else None
            cpu = out.cpu_us_per_op(workload, ops[workload])
            cells += [
                fmt_rate(rate),
                f"{spread_pct(out.rates(workload, ops[workload])):.0f}%",
                fmt_ratio(rate / base_rate if rate and base_rate else None),
                f"{1e6 / rate:.1f}" if rate else "-",
                "-" if cpu is None else f"{cpu:.1f}",
            ]
        rows.append(cells)
        if out.note:
            notes.append(f"  {name}: {out.note}")
        if out.warning:
            notes.append(f"  {name}: WARNING {out.warning}")
    headers = [
        "client",
        "seq get ops/s",
        "IQR",
        "vs raw",
        "us/op",
        "cpu us/op",
        "conc ops/s",
        "IQR",
        "vs raw",
        "us/op",
        "cpu us/op",
    ]
    print(render_table(headers, rows))
    print(
        "  us/op = wall time per op; cpu us/op = this process's CPU time per op (median), which"
        " is\n  robust to other load on the machine (the server's CPU is not included)"
    )
    print("\n".join(notes))

    targets: list[TargetResult] = []
    aiokv = outcomes.get("aiokv")
    for label, workload, minimum in TARGETS:
        measured = None
        alternative = None
        cpu_ratio = None
        note = ""
        if aiokv is None or base is None:
            note = "client not selected"
        else:
            a = aiokv.rate(workload, ops[workload], args.stat)
            b = base.rate(workload, ops[workload], args.stat)
            a2 = aiokv.rate(workload, ops[workload], other_stat(args.stat))
            b2 = base.rate(workload, ops[workload], other_stat(args.stat))
            if a2 is not None and b2:
                alternative = a2 / b2
            a_cpu = aiokv.cpu_us_per_op(workload, ops[workload])
            b_cpu = base.cpu_us_per_op(workload, ops[workload])
            if a_cpu and b_cpu:
                cpu_ratio = b_cpu / a_cpu  # less CPU per op is better, like more ops/s
            if a is not None and b:
                measured = a / b
            else:
                note = "unavailable: " + ", ".join(
                    o.name for o in (aiokv, base) if o.error is not None or not o.seq_ns
                )
        targets.append(TargetResult(label, measured, minimum, note, (alternative, cpu_ratio)))
    print(banner(f"targets ({args.stat} ops/s, measured in this run)"))
    extra_names = (other_stat(args.stat), "cpu/op")
    print(render_targets(targets, args.stat, extra_names))
    print(
        "  verdicts use the first ratio; in parentheses, for information: the other statistic,"
        "\n  and raw's client CPU per op / aiokv's (above 1 = aiokv spends less CPU per op)"
    )

    return {
        "config": {
            "server_version": server.version,
            "rounds": args.rounds,
            "n_seq": args.n,
            "tasks": args.tasks,
            "ops_concurrent": conc_ops,
            "stat": args.stat,
            "clients": names,
        },
        "clients": {
            name: {
                "error": out.error,
                "warning": out.warning,
                "note": out.note,
                "seq_ns": out.seq_ns,
                "conc_ns": out.conc_ns,
                "seq_cpu_ns": out.seq_cpu_ns,
                "conc_cpu_ns": out.conc_cpu_ns,
                **{
                    f"{w}_ops_per_s_{stat}": out.rate(w, ops[w], stat)
                    for w in ("seq", "conc")
                    for stat in ("median", "best")
                },
            }
            for name, out in outcomes.items()
        },
        "targets": [t.as_json(extra_names) for t in targets],
    }


async def _profile(server: RedisServer, name: str, args: argparse.Namespace) -> str:
    """cProfile one client on both workloads (one sample each), after a warm-up."""
    contender = CONTENDERS[name](server.port)
    await contender.open()
    per_task = max(1, args.concurrent_ops // (2 * args.tasks))
    try:
        await _seq_sample(contender, max(1, args.n // 10))
        await _conc_sample(contender, args.tasks, max(1, per_task // 10))
        out = io.StringIO()
        for label, workload in (("sequential get", "seq"), ("concurrent set+get", "conc")):
            profiler = cProfile.Profile()
            profiler.enable()
            if workload == "seq":
                await _seq_sample(contender, args.n)
            else:
                await _conc_sample(contender, args.tasks, per_task)
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", type=int, default=20_000, help="sequential gets (default 20,000)")
    parser.add_argument("--tasks", type=int, default=50, help="concurrent tasks (default 50)")
    parser.add_argument(
        "--concurrent-ops",
        type=int,
        default=50_000,
        help="total ops for the concurrent workload (default 50,000)",
    )
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument(
        "--stat", choices=("median", "best"), default="median", help="statistic for ratios"
    )
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
