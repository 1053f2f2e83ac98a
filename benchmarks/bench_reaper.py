"""``reaper``: event-loop lag while the memory driver reclaims many keys expiring at once.

Sets N keys with a short TTL, then runs a ticker task that sleeps 1 ms in a loop and records how
late each wakeup is, while the driver's background reaper reclaims the keys. A separate poller
watches ``dbsize()`` (keys not yet reclaimed, as in Redis) until it reaches 0. A baseline ticker
run on an idle loop comes first, so the lag the reaper adds can be told from the loop's own
timer granularity.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
from dataclasses import dataclass, field
from time import perf_counter_ns, thread_time_ns
from typing import Any, NamedTuple

from ._common import (
    aiokv_settings,
    banner,
    describe_exception,
    percentile,
    render_table,
    write_json,
)

VALUE = "0123456789abcdef" * 2


class Wakeup(NamedTuple):
    at_ns: int  # perf_counter_ns() when the ticker woke
    late_ns: int  # how much later than requested
    cpu_ns: int  # this thread's CPU time over the sleep: loop work, not other processes


class GcWatch:
    """Records garbage-collector pauses (observed through gc.callbacks, never disabled)."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, int, int]] = []  # (start_ns, duration_ns, generation)
        self._started = 0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = perf_counter_ns()
        else:
            now = perf_counter_ns()
            self.pauses.append((self._started, now - self._started, info["generation"]))

    def __enter__(self) -> GcWatch:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def between(self, start_ns: int, end_ns: int) -> int:
        """Total GC pause (ns) that began inside [start_ns, end_ns)."""
        return sum(d for s, d, _ in self.pauses if start_ns <= s < end_ns)


@dataclass
class TickerResult:
    requested_ns: int
    started_ns: int
    wakeups: list[Wakeup] = field(default_factory=list)

    @property
    def lateness(self) -> list[int]:
        return [w.late_ns for w in self.wakeups]

    def worst(self) -> Wakeup | None:
        return max(self.wakeups, key=lambda w: w.late_ns) if self.wakeups else None

    def summary(self) -> dict[str, Any]:
        late = self.lateness
        return {
            "wakeups": len(late),
            "max_ms": max(late) / 1e6 if late else 0.0,
            "p99_ms": percentile(late, 99) / 1e6,
            "p50_ms": percentile(late, 50) / 1e6,
            "over_10ms": sum(1 for x in late if x > 10_000_000),
            "over_50ms": sum(1 for x in late if x > 50_000_000),
            # CPU this thread burnt during one sleep: the loop's own blocking work, which,
            # unlike lateness, does not grow when other processes take the CPU away
            "cpu_p99_ms": percentile([w.cpu_ns for w in self.wakeups], 99) / 1e6,
            "cpu_max_ms": max((w.cpu_ns for w in self.wakeups), default=0) / 1e6,
        }


async def ticker(duration_s: float, tick_s: float) -> TickerResult:
    requested = int(tick_s * 1e9)
    start = perf_counter_ns()
    result = TickerResult(requested, start)
    append = result.wakeups.append
    end = start + int(duration_s * 1e9)
    now = start
    while now < end:
        before = perf_counter_ns()
        cpu_before = thread_time_ns()
        await asyncio.sleep(tick_s)
        now = perf_counter_ns()
        append(Wakeup(now, max(0, now - before - requested), thread_time_ns() - cpu_before))
    return result


@dataclass
class DbsizeWatch:
    zero_at_ns: int | None = None
    timeline: list[tuple[int, int]] = field(default_factory=list)  # (at_ns, dbsize)
    slowest_call_ns: int = 0
    calls: int = 0


async def watch_dbsize(kv: Any, interval_s: float, timeout_s: float) -> DbsizeWatch:
    watch = DbsizeWatch()
    deadline = perf_counter_ns() + int(timeout_s * 1e9)
    while True:
        t0 = perf_counter_ns()
        size = int(await kv.dbsize())
        t1 = perf_counter_ns()
        watch.calls += 1
        watch.slowest_call_ns = max(watch.slowest_call_ns, t1 - t0)
        watch.timeline.append((t1, size))
        if size == 0:
            watch.zero_at_ns = t1
            return watch
        if t1 >= deadline:
            return watch
        await asyncio.sleep(interval_s)


def _timeline_rows(
    watch: DbsizeWatch, ticks: TickerResult, gcw: GcWatch, origin_ns: int, step_s: float
) -> list[list[str]]:
    """One row per ``step_s`` of the ticker run."""
    step_ns = int(step_s * 1e9)
    end_ns = ticks.wakeups[-1].at_ns if ticks.wakeups else origin_ns
    buckets = max(1, -(-(end_ns - origin_ns) // step_ns))
    count = [0] * buckets
    worst = [0] * buckets
    cpu = [0] * buckets
    for w in ticks.wakeups:
        i = min(buckets - 1, max(0, (w.at_ns - origin_ns) // step_ns))
        count[i] += 1
        worst[i] = max(worst[i], w.late_ns)
        cpu[i] += w.cpu_ns
    rows: list[list[str]] = []
    polls = iter(watch.timeline)
    pending = next(polls, None)
    size: int | None = None
    for i in range(buckets):
        lo = origin_ns + i * step_ns
        hi = lo + step_ns
        while pending is not None and pending[0] < hi:
            size = pending[1]
            pending = next(polls, None)
        rows.append(
            [
                f"{i * step_s:+.2f}..{(i + 1) * step_s:.2f} s",
                f"{count[i]:,}",
                f"{worst[i] / 1e6:.2f}",
                f"{cpu[i] / step_ns * 100:.0f}%",
                f"{gcw.between(lo, hi) / 1e6:.1f}",
                "-" if size is None else f"{size:,}",
            ]
        )
    return rows


def _ticker_row(label: str, result: TickerResult, gcw: GcWatch, origin_ns: int) -> list[str]:
    s = result.summary()
    worst = result.worst()
    if worst is None:
        where = "-"
    else:
        began = worst.at_ns - worst.late_ns - result.requested_ns
        where = (
            f"{(worst.at_ns - origin_ns) / 1e9:+.2f} s (cpu {worst.cpu_ns / 1e6:.1f},"
            f" gc {gcw.between(began, worst.at_ns) / 1e6:.1f})"
        )
    return [
        label,
        f"{s['wakeups']:,}",
        f"{s['p50_ms']:.2f}",
        f"{s['p99_ms']:.2f}",
        f"{s['max_ms']:.2f}",
        f"{s['over_10ms']:,}",
        f"{s['over_50ms']:,}",
        f"{s['cpu_p99_ms']:.2f}",
        f"{s['cpu_max_ms']:.2f}",
        where,
    ]


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    from aiokv import AsyncClient

    n: int = args.keys
    ttl: int = args.ttl
    tick_s: float = args.tick_ms / 1000.0
    keys = [f"reap:{i}" for i in range(n)]

    with GcWatch() as gcw:
        async with AsyncClient(**aiokv_settings(driver="memory")) as kv:
            t_base = perf_counter_ns()
            baseline = await ticker(args.baseline, tick_s)

            t_set0 = perf_counter_ns()
            for k in keys:
                await kv.set(k, VALUE, ttl=ttl)
            t_set1 = perf_counter_ns()
            size_after_set = int(await kv.dbsize())
            del keys

            watcher = asyncio.create_task(watch_dbsize(kv, args.poll_ms / 1000.0, args.timeout))
            during = await ticker(args.duration, tick_s)
            watch = await watcher
            final_size = watch.timeline[-1][1] if watch.timeline else size_after_set

    set_s = (t_set1 - t_set0) / 1e9
    first_expiry_ns = t_set0 + ttl * 1_000_000_000
    last_expiry_ns = t_set1 + ttl * 1_000_000_000
    base = baseline.summary()
    reap = during.summary()
    worst = during.worst()

    print(banner(f"reaper: {n:,} keys with ttl={ttl}s, ticker sleeping {args.tick_ms:g} ms"))
    print(
        f"setting {n:,} keys took {set_s:.2f} s ({n / set_s:,.0f} sets/s); dbsize right after:"
        f" {size_after_set:,}"
    )
    print(
        f"keys expire between {(first_expiry_ns - t_set1) / 1e9:+.2f} s and"
        f" {(last_expiry_ns - t_set1) / 1e9:+.2f} s (times are from the end of the set phase)"
    )
    if set_s >= ttl:
        print(
            "  note: the set phase took longer than the TTL, so keys expired while it ran;"
            " use --keys to lower N or --ttl to raise the TTL for a sharper burst"
        )
    print()
    print(
        render_table(
            [
                "ticker",
                "wakeups",
                "p50 late ms",
                "p99 late ms",
                "max late ms",
                ">10ms",
                ">50ms",
                "p99 cpu ms",
                "max cpu ms",
                "worst wakeup at (its cpu ms, gc ms)",
            ],
            [
                _ticker_row(f"idle loop ({args.baseline:g} s)", baseline, gcw, t_base),
                _ticker_row(f"while reaping ({args.duration:g} s)", during, gcw, t_set1),
            ],
        )
    )
    print(
        "  (cpu = this thread's CPU time during that sleep: work done by the event loop, e.g."
        " the reaper;\n   lateness well above cpu + gc means the process was not running:"
        " other load on the machine;\n   p99/max cpu ms = this thread's CPU time per sleep)"
    )
    print()
    if watch.zero_at_ns is not None:
        since_set = (watch.zero_at_ns - t_set1) / 1e9
        since_expiry = (watch.zero_at_ns - last_expiry_ns) / 1e9
        print(
            f"dbsize reached 0 at {since_set:+.2f} s after the set phase"
            f" ({since_expiry:+.2f} s after the last key's deadline)"
        )
    else:
        print(
            f"dbsize did NOT reach 0 within {args.timeout:g} s of polling; last dbsize:"
            f" {final_size:,}"
        )
    print(
        f"dbsize polled {watch.calls:,} times every {args.poll_ms:g} ms; slowest call"
        f" {watch.slowest_call_ns / 1e6:.3f} ms"
    )
    gc_during = [p for p in gcw.pauses if t_set1 <= p[0]]
    gc_set = [p for p in gcw.pauses if t_set0 <= p[0] < t_set1]
    print(
        f"gc: {len(gc_set)} collections during the set phase (longest"
        f" {max((p[1] for p in gc_set), default=0) / 1e6:.1f} ms), {len(gc_during)} after it"
        f" (longest {max((p[1] for p in gc_during), default=0) / 1e6:.1f} ms)"
    )
    print("\ntimeline (from the end of the set phase; dbsize = last poll in the interval):")
    print(
        render_table(
            ["interval", "wakeups", "max late ms", "loop cpu", "gc ms", "dbsize"],
            _timeline_rows(watch, during, gcw, t_set1, args.timeline_step),
        )
    )

    return {
        "config": {
            "keys": n,
            "ttl_s": ttl,
            "tick_ms": args.tick_ms,
            "duration_s": args.duration,
            "baseline_s": args.baseline,
            "poll_ms": args.poll_ms,
            "timeout_s": args.timeout,
        },
        "set_phase_s": set_s,
        "dbsize_after_set": size_after_set,
        "baseline": base,
        "reaping": {
            **reap,
            "worst_at_s_after_set": (worst.at_ns - t_set1) / 1e9 if worst else None,
            "worst_cpu_ms": worst.cpu_ns / 1e6 if worst else None,
        },
        "dbsize_zero_s_after_set": (
            (watch.zero_at_ns - t_set1) / 1e9 if watch.zero_at_ns is not None else None
        ),
        "dbsize_zero_s_after_last_deadline": (
            (watch.zero_at_ns - last_expiry_ns) / 1e9 if watch.zero_at_ns is not None else None
        ),
        "final_dbsize": final_size,
        "dbsize_slowest_call_ms": watch.slowest_call_ns / 1e6,
        "dbsize_timeline": [[(at - t_set1) / 1e9, size] for at, size in watch.timeline],
        "gc_pauses": [[(start - t_set1) / 1e9, dur / 1e6, gen] for start, dur, gen in gcw.pauses],
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keys", type=int, default=1_000_000, help="keys to expire (default 1,000,000)"
    )
    parser.add_argument("--ttl", type=int, default=1, help="TTL in seconds (default 1)")
    parser.add_argument(
        "--duration", type=float, default=4.0, help="ticker seconds after the set (default 4)"
    )
    parser.add_argument(
        "--baseline", type=float, default=1.0, help="idle-loop ticker seconds first (default 1)"
    )
    parser.add_argument("--tick-ms", type=float, default=1.0, help="ticker sleep (default 1 ms)")
    parser.add_argument("--poll-ms", type=float, default=10.0, help="dbsize poll (default 10)")
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="max seconds to wait for dbsize 0 (60)"
    )
    parser.add_argument(
        "--timeline-step", type=float, default=0.25, help="timeline interval (0.25 s)"
    )


def run(args: argparse.Namespace) -> int:
    try:
        payload = asyncio.run(_main(args))
    except ImportError as exc:
        print(f"reaper: aiokv is not importable ({describe_exception(exc)}); nothing to measure")
        return 0
    if args.json is not None:
        path = write_json("reaper", payload, args.json or None)
        print(f"\nJSON written to {path}")
    return 0
