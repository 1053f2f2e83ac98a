"""``reaper``: event-loop lag while the memory driver reclaims expired keys or walks the keyspace.

One run measures, with a ticker task that sleeps 1 ms in a loop and records how late each wakeup
is (worst, p99 and p99.9):

1. an idle loop, so the lag the driver adds can be told from the loop's own timer granularity
   and from other load on the machine;
2. N keys (1,000,000 by default) all expiring at the same instant, while the background reaper
   reclaims them; a poller watches ``dbsize()`` (keys not yet reclaimed, as in Redis) until it
   reaches 0, which gives the time to reclaim;
2b. the same for cashews' in-memory backend (``mem://``): the same N keys with the same TTL,
   its held-key count (``get_keys_count()``) polled until 0; if it never gets there, the keys
   left and an estimate of the memory they hold are reported;
3. ``keys("user:1*")`` over N keys without a TTL (a tenth of them match);
4. a full ``scan_iter()`` over the same N keys.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import time
from collections.abc import Awaitable, Callable
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
from ._expiry_targets import AiokvTarget, CashewsTarget, ExpiryTarget

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

    def between(self, start_ns: int, end_ns: int) -> TickerResult:
        """The wakeups that happened inside [start_ns, end_ns)."""
        inside = [w for w in self.wakeups if start_ns <= w.at_ns < end_ns]
        return TickerResult(self.requested_ns, start_ns, inside)

    def summary(self) -> dict[str, Any]:
        late = self.lateness
        return {
            "wakeups": len(late),
            "max_ms": max(late) / 1e6 if late else 0.0,
            "p999_ms": percentile(late, 99.9) / 1e6,
            "p99_ms": percentile(late, 99) / 1e6,
            "p50_ms": percentile(late, 50) / 1e6,
            "over_5ms": sum(1 for x in late if x > 5_000_000),
            "over_10ms": sum(1 for x in late if x > 10_000_000),
            # CPU this thread burnt during one sleep: the loop's own blocking work, which,
            # unlike lateness, does not grow when other processes take the CPU away
            "cpu_p99_ms": percentile([w.cpu_ns for w in self.wakeups], 99) / 1e6,
            "cpu_max_ms": max((w.cpu_ns for w in self.wakeups), default=0) / 1e6,
        }


async def ticker(
    duration_s: float, tick_s: float, stop: asyncio.Event | None = None
) -> TickerResult:
    """Sleep ``tick_s`` in a loop for ``duration_s`` or until ``stop`` is set; record lateness."""
    requested = int(tick_s * 1e9)
    start = perf_counter_ns()
    result = TickerResult(requested, start)
    append = result.wakeups.append
    end = start + int(duration_s * 1e9)
    now = start
    while now < end and not (stop is not None and stop.is_set()):
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


async def watch_dbsize(
    count: Callable[[], Awaitable[int]], interval_s: float, timeout_s: float
) -> DbsizeWatch:
    """Poll ``count()`` (keys held, expired ones included) every ``interval_s`` until it is 0."""
    watch = DbsizeWatch()
    deadline = perf_counter_ns() + int(timeout_s * 1e9)
    while True:
        t0 = perf_counter_ns()
        size = await count()
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
    watch: DbsizeWatch,
    ticks: TickerResult,
    gcw: GcWatch,
    origin_ns: int,
    step_s: float,
    first_s: float,
) -> list[list[str]]:
    """One row per ``step_s`` of the ticker run from ``origin_ns``, labelled from ``first_s``."""
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
                f"{first_s + i * step_s:+.2f}..{first_s + (i + 1) * step_s:+.2f} s",
                f"{count[i]:,}",
                f"{worst[i] / 1e6:.2f}",
                f"{cpu[i] / step_ns * 100:.0f}%",
                f"{gcw.between(lo, hi) / 1e6:.1f}",
                "-" if size is None else f"{size:,}",
            ]
        )
    return rows


def _ticker_row(
    label: str, result: TickerResult, idle: TickerResult, gcw: GcWatch, origin_ns: int
) -> list[str]:
    s = result.summary()
    idle_max = idle.summary()["max_ms"]
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
        f"{s['p999_ms']:.2f}",
        f"{s['max_ms']:.2f}",
        f"{s['max_ms'] - idle_max:+.2f}",
        f"{s['over_5ms']:,}",
        f"{s['cpu_max_ms']:.2f}",
        where,
    ]


@dataclass
class Walk:
    """A ticker run around repeated keyspace walks, and how long each walk took."""

    ticks: TickerResult
    durations_ns: list[int]
    found: int

    def summary(self) -> dict[str, Any]:
        return {
            **self.ticks.summary(),
            "walk_ms": [d / 1e6 for d in self.durations_ns],
            "keys_found": self.found,
        }


async def measure_walks(walk: Callable[[], Awaitable[int]], repeats: int, tick_s: float) -> Walk:
    """Run ``walk`` ``repeats`` times in a row with a ticker beside it."""
    stop = asyncio.Event()
    running = asyncio.create_task(ticker(3600.0, tick_s, stop))
    await asyncio.sleep(0.05)  # the ticker is sleeping when the first walk starts
    began = perf_counter_ns()
    durations: list[int] = []
    found = 0
    for _ in range(repeats):
        t0 = perf_counter_ns()
        found = await walk()
        durations.append(perf_counter_ns() - t0)
    ended = perf_counter_ns()
    stop.set()
    ticks = await running
    # The wakeup that first follows the last walk still counts: the walk may have delayed it.
    after = [w.at_ns for w in ticks.wakeups if w.at_ns >= ended]
    return Walk(ticks.between(began, (after[0] + 1) if after else ended), durations, found)


@dataclass
class Expiry:
    """One store's mass expiry: the set phase, then a ticker until its keys are reclaimed."""

    name: str
    set_ns: int
    size_after_set: int
    set_end_ns: int
    deadline_ns: int
    watch: DbsizeWatch
    ticks: TickerResult  # the whole ticker run, from the end of the set phase
    reaping: TickerResult  # from the deadline until the count read 0 (plus one poll)
    live: TickerResult  # from the end of the set phase to the deadline: every key still live
    final_size: int
    bytes_left: int | None

    @property
    def expired_early(self) -> bool:
        return self.set_end_ns >= self.deadline_ns

    def summary(self) -> dict[str, Any]:
        zero = self.watch.zero_at_ns
        return {
            "set_phase_s": self.set_ns / 1e9,
            "count_after_set": self.size_after_set,
            "expired_during_set_phase": self.expired_early,
            "live": self.live.summary(),
            "reaping": self.reaping.summary(),
            "zero_s_after_deadline": (zero - self.deadline_ns) / 1e9 if zero else None,
            "keys_left": self.final_size,
            "bytes_left_estimate": self.bytes_left,
            "slowest_count_ms": self.watch.slowest_call_ns / 1e6,
            "count_timeline": [
                [(at - self.deadline_ns) / 1e9, size] for at, size in self.watch.timeline
            ],
        }


async def measure_expiry(target: ExpiryTarget, args: argparse.Namespace, offset_ns: int) -> Expiry:
    """Set ``args.keys`` keys on ``target`` that all expire at one instant; tick until reclaimed.

    The ticker runs until the count reads 0 (or ``args.timeout`` runs out) and at least
    ``args.duration`` past the deadline.
    """
    n: int = args.keys
    tick_s: float = args.tick_ms / 1000.0
    # Every key gets the same deadline, in the middle of a second (one bucket for aiokv).
    deadline = math.floor(time.monotonic() + args.ttl) + 0.5
    deadline_ns = int(deadline * 1e9) + offset_ns
    t_set0 = perf_counter_ns()
    for i in range(n):
        await target.set(f"reap:{i}", VALUE, deadline - time.monotonic())
    t_set1 = perf_counter_ns()
    size_after_set = await target.count()

    stop = asyncio.Event()
    ticking = asyncio.create_task(ticker(3600.0 + args.timeout, tick_s, stop))
    watch = await watch_dbsize(target.count, args.poll_ms / 1000.0, args.timeout)
    left_ns = deadline_ns + int(args.duration * 1e9) - perf_counter_ns()
    if left_ns > 0:
        await asyncio.sleep(left_ns / 1e9)
    stop.set()
    ticks = await ticking
    final_size = watch.timeline[-1][1] if watch.timeline else size_after_set
    bytes_left = None
    if final_size:
        sample = [f"reap:{i}" for i in range(0, n, max(1, n // 1000))]
        bytes_left = await target.bytes_held(sample, final_size)
    reaped_by = watch.zero_at_ns if watch.zero_at_ns is not None else perf_counter_ns()
    # Reaping lasts from the deadline until the count reads 0, plus one poll interval.
    reaping = ticks.between(deadline_ns, reaped_by + int(args.poll_ms * 1e6) + int(tick_s * 1e9))
    return Expiry(
        name=target.name,
        set_ns=t_set1 - t_set0,
        size_after_set=size_after_set,
        set_end_ns=t_set1,
        deadline_ns=deadline_ns,
        watch=watch,
        ticks=ticks,
        reaping=reaping,
        live=ticks.between(t_set1, deadline_ns),
        final_size=final_size,
        bytes_left=bytes_left,
    )


_TICKER_HEADERS = [
    "ticker",
    "wakeups",
    "p50 late ms",
    "p99 late ms",
    "p99.9 late ms",
    "max late ms",
    "max vs idle",
    ">5ms",
    "max cpu ms",
    "worst wakeup at (its cpu ms, gc ms)",
]


def _print_expiry(run_: Expiry, n: int, gcw: GcWatch, step: float, timeout: float) -> None:
    set_s = run_.set_ns / 1e9
    print(
        f"{run_.name}: setting {n:,} keys took {set_s:.2f} s ({n / set_s:,.0f} sets/s); held"
        f" right after: {run_.size_after_set:,}; all expire at"
        f" {(run_.deadline_ns - run_.set_end_ns) / 1e9:+.2f} s"
    )
    if run_.expired_early:
        print("  note: the set phase outlasted the TTL; raise --ttl for a sharper burst")
    if run_.watch.zero_at_ns is not None:
        print(
            f"{run_.name}: held keys reached 0 at"
            f" {(run_.watch.zero_at_ns - run_.deadline_ns) / 1e9:+.2f} s after the deadline"
        )
    else:
        held = "-" if run_.bytes_left is None else f"{run_.bytes_left / 2**20:,.1f} MiB"
        print(
            f"{run_.name}: held keys did NOT reach 0 within {timeout:g} s of polling;"
            f" keys left: {run_.final_size:,}, holding about {held}"
        )
    print(
        f"{run_.name}: count polled {run_.watch.calls:,} times; slowest call"
        f" {run_.watch.slowest_call_ns / 1e6:.3f} ms"
    )
    origin = run_.deadline_ns - int(step * 1e9)
    print(f"\n{run_.name} expiry timeline (from the deadline; held = last poll in the interval):")
    print(
        render_table(
            ["interval", "wakeups", "max late ms", "loop cpu", "gc ms", "held"],
            _timeline_rows(run_.watch, run_.ticks.between(origin, 2**63), gcw, origin, step, -step),
        )
    )
    print()


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    from aiokv import AsyncClient

    n: int = args.keys
    tick_s: float = args.tick_ms / 1000.0
    # perf_counter_ns and time.monotonic may count from different origins.
    offset_ns = perf_counter_ns() - time.monotonic_ns()

    expiries: list[Expiry] = []
    with GcWatch() as gcw:
        async with AsyncClient(**aiokv_settings(driver="memory")) as kv:
            await ticker(0.1, tick_s)  # warm-up: the first wakeups of a fresh loop run slow
            t_base = perf_counter_ns()
            baseline = await ticker(args.baseline, tick_s)

            aiokv_target = AiokvTarget(kv)
            expiries.append(await measure_expiry(aiokv_target, args, offset_ns))
            await aiokv_target.close()
            if "cashews" in args.contenders:
                try:
                    cashews_target = CashewsTarget(n)
                except ImportError as exc:
                    print(f"cashews skipped: {describe_exception(exc)}")
                else:
                    try:
                        expiries.append(await measure_expiry(cashews_target, args, offset_ns))
                    finally:
                        await cashews_target.close()

            for i in range(n):
                await kv.set(f"user:{i}", VALUE)

            async def keys_walk() -> int:
                return len(await kv.keys("user:1*"))

            async def scan_walk() -> int:
                seen = 0
                async for _ in kv.scan_iter():
                    seen += 1
                return seen

            keys_run = await measure_walks(keys_walk, args.walks, tick_s)
            scan_run = await measure_walks(scan_walk, args.walks, tick_s)
            await kv.flushdb()

    print(banner(f"reaper and keyspace walks: {n:,} keys, ticker sleeping {args.tick_ms:g} ms"))
    rows = [_ticker_row(f"idle loop ({args.baseline:g} s)", baseline, baseline, gcw, t_base)]
    for run_ in expiries:
        rows.append(
            _ticker_row(f"{run_.name}: {n:,} keys live", run_.live, baseline, gcw, run_.deadline_ns)
        )
        rows.append(
            _ticker_row(
                f"{run_.name}: {n:,} keys expiring", run_.reaping, baseline, gcw, run_.deadline_ns
            )
        )
    rows.append(
        _ticker_row(
            f'aiokv: keys("user:1*") x{args.walks}',
            keys_run.ticks,
            baseline,
            gcw,
            keys_run.ticks.started_ns,
        )
    )
    rows.append(
        _ticker_row(
            f"aiokv: scan_iter() x{args.walks}",
            scan_run.ticks,
            baseline,
            gcw,
            scan_run.ticks.started_ns,
        )
    )
    print(render_table(_TICKER_HEADERS, rows))
    print(
        "  (live = from the end of the set phase to the deadline; expiring = from the deadline"
        " until\n   the held-key count reads 0; cpu = this thread's CPU time during that sleep:"
        " work done by\n   the event loop; lateness well above cpu + gc means the process was"
        " not running: other\n   load on the machine; worst wakeup at = seconds from the"
        " deadline or from the first walk)"
    )
    print()
    for run_ in expiries:
        _print_expiry(run_, n, gcw, args.timeline_step, args.timeout)
    for label, walk in (('keys("user:1*")', keys_run), ("scan_iter()", scan_run)):
        took = ", ".join(f"{d / 1e6:.0f}" for d in walk.durations_ns)
        print(f"{label}: {walk.found:,} keys, each walk took {took} ms")
    first = expiries[0]
    gc_during = [p for p in gcw.pauses if first.set_end_ns <= p[0]]
    print(
        f"gc: {len(gc_during)} collections after aiokv's set phase (longest"
        f" {max((p[1] for p in gc_during), default=0) / 1e6:.1f} ms)"
    )

    return {
        "config": {
            "keys": n,
            "ttl_s": args.ttl,
            "tick_ms": args.tick_ms,
            "duration_s": args.duration,
            "baseline_s": args.baseline,
            "poll_ms": args.poll_ms,
            "timeout_s": args.timeout,
            "walks": args.walks,
        },
        # aiokv's figures at the top level, as before; every store's under "expiry".
        "set_phase_s": first.set_ns / 1e9,
        "dbsize_after_set": first.size_after_set,
        "baseline": baseline.summary(),
        "reaping": first.reaping.summary(),
        "keys": keys_run.summary(),
        "scan_iter": scan_run.summary(),
        "dbsize_zero_s_after_deadline": first.summary()["zero_s_after_deadline"],
        "final_dbsize": first.final_size,
        "dbsize_slowest_call_ms": first.watch.slowest_call_ns / 1e6,
        "dbsize_timeline": first.summary()["count_timeline"],
        "expiry": {run_.name: run_.summary() for run_ in expiries},
        "gc_pauses": [
            [(start - first.deadline_ns) / 1e9, dur / 1e6, gen] for start, dur, gen in gcw.pauses
        ],
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keys", type=int, default=1_000_000, help="keys to expire and walk (default 1,000,000)"
    )
    parser.add_argument(
        "--ttl",
        type=float,
        default=10.0,
        help="seconds from the start of a set phase until all its keys expire (default 10)",
    )
    parser.add_argument(
        "--duration", type=float, default=3.0, help="ticker seconds after the deadline (default 3)"
    )
    parser.add_argument(
        "--baseline", type=float, default=2.0, help="idle-loop ticker seconds first (default 2)"
    )
    parser.add_argument("--walks", type=int, default=3, help="keys()/scan_iter() runs (default 3)")
    parser.add_argument("--tick-ms", type=float, default=1.0, help="ticker sleep (default 1 ms)")
    parser.add_argument("--poll-ms", type=float, default=10.0, help="dbsize poll (default 10)")
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="max seconds to wait for dbsize 0 (60)"
    )
    parser.add_argument(
        "--contenders",
        type=lambda text: [name.strip() for name in text.split(",") if name.strip()],
        default=["cashews"],
        help="stores measured after aiokv's mass expiry: cashews or none (default cashews)",
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
