"""``memory``: sequential set + get against in-process stores, interleaved round-robin.

A sample times P passes of ``set`` over every key, then P passes of ``get`` over every key, for
one contender. P is calibrated per contender (unless ``--passes`` fixes it) so that each phase
lasts about ``--sample-ms``: fast and slow stores then sample equally long stretches of time and
meet the same background noise. A round takes one sample of every contender, starting at a
different contender each round. Everything runs in one asyncio event loop and the garbage
collector stays enabled: this is the speed users get.

Rates are wall-clock (perf_counter_ns). The thread's CPU time (thread_time_ns) is recorded too:
on a machine shared with other work, CPU-time ratios show what the code costs without the time
the process spent descheduled.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import math
import pstats
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from time import perf_counter_ns, thread_time_ns
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
from ._memory_contenders import CONTENDERS, MemoryContender

VALUE = "0123456789abcdef" * 2  # 32 ASCII characters: 32 bytes

#: (label, numerator, denominator, minimum): aiokv's ratio targets from the issue.
TARGETS = (
    ("aiokv / cashews", "aiokv", "cashews", 8.0),
    ("aiokv / floor", "aiokv", "floor", 0.4),
)
MAX_PASSES = 100_000


@dataclass
class Sample:
    set_ns: int
    get_ns: int
    set_cpu_ns: int
    get_cpu_ns: int


@dataclass
class Outcome:
    name: str
    n_keys: int
    passes: int = 0
    samples: list[Sample] = field(default_factory=list)
    error: str | None = None
    warning: str | None = None

    @property
    def ops_per_phase(self) -> int:
        return self.passes * self.n_keys

    @property
    def available(self) -> bool:
        return self.error is None and bool(self.samples)

    def rates(self, phase: str, clock: str = "wall") -> list[float]:
        n = self.ops_per_phase
        cpu = clock == "cpu"
        out = []
        for s in self.samples:
            set_ns = s.set_cpu_ns if cpu else s.set_ns
            get_ns = s.get_cpu_ns if cpu else s.get_ns
            if phase == "set":
                out.append(ops_per_sec(n, set_ns))
            elif phase == "get":
                out.append(ops_per_sec(n, get_ns))
            else:
                out.append(ops_per_sec(2 * n, set_ns + get_ns))
        return out

    def rate(self, phase: str, stat: str, clock: str = "wall") -> float | None:
        if not self.available:
            return None
        values = self.rates(phase, clock)
        return max(values) if stat == "best" else median(values)


@dataclass
class Variant:
    label: str
    ttl: int | None
    outcomes: dict[str, Outcome]

    def ratio(
        self, numerator: str, denominator: str, stat: str, clock: str = "wall"
    ) -> float | None:
        a = self.outcomes.get(numerator)
        b = self.outcomes.get(denominator)
        if a is None or b is None:
            return None
        ra, rb = a.rate("both", stat, clock), b.rate("both", stat, clock)
        if ra is None or rb is None or rb == 0:
            return None
        return ra / rb


async def _sample(contender: MemoryContender, keys: Sequence[str], passes: int) -> Sample:
    c0, t0 = thread_time_ns(), perf_counter_ns()
    for _ in range(passes):
        await contender.set_loop(keys, VALUE)
    t1, c1 = perf_counter_ns(), thread_time_ns()
    for _ in range(passes):
        await contender.get_loop(keys)
    t2, c2 = perf_counter_ns(), thread_time_ns()
    return Sample(t1 - t0, t2 - t1, c1 - c0, c2 - c1)


async def _verify(contender: MemoryContender, keys: Sequence[str]) -> str | None:
    wrong = 0
    example: Any = None
    for k in keys:
        got = await contender.get_one(k)
        if got != VALUE:
            wrong += 1
            example = got
    if wrong:
        return f"{wrong}/{len(keys)} reads did not return the value (e.g. {example!r})"
    return None


async def run_variant(
    label: str, ttl: int | None, names: Sequence[str], keys: Sequence[str], args: argparse.Namespace
) -> Variant:
    outcomes = {name: Outcome(name, len(keys)) for name in names}
    live: dict[str, MemoryContender] = {}
    for name in names:
        contender = CONTENDERS[name](ttl)
        try:
            await contender.open(len(keys))
        except Exception as exc:
            outcomes[name].error = describe_exception(exc)
            await _close_quietly(contender)
            continue
        live[name] = contender

    async def one(name: str, passes: int) -> Sample | None:
        contender = live.get(name)
        if contender is None:
            return None
        try:
            return await _sample(contender, keys, passes)
        except Exception as exc:
            outcomes[name].error = f"failed while running: {describe_exception(exc)}"
            del live[name]
            await _close_quietly(contender)
            return None

    try:
        # warm-up with single passes, then size the samples from the quickest of them
        quickest: dict[str, int] = {}
        for _ in range(max(1, args.warmup)):
            for name in names:
                sample = await one(name, 1)
                if sample is not None:
                    slowest_phase = max(sample.set_ns, sample.get_ns)
                    quickest[name] = min(quickest.get(name, slowest_phase), slowest_phase)
        for name in list(live):
            if args.passes:
                passes = args.passes
            else:
                wanted_ns = args.sample_ms * 1e6
                passes = math.ceil(wanted_ns / max(1, quickest.get(name, 1)))
            outcomes[name].passes = max(1, min(MAX_PASSES, passes))
            await one(name, outcomes[name].passes)  # one more warm-up at full size
        for name, contender in list(live.items()):
            outcomes[name].warning = await _verify(contender, keys)

        for r in range(args.rounds):
            order = [*names[r % len(names) :], *names[: r % len(names)]]
            for name in order:
                sample = await one(name, outcomes[name].passes)
                if sample is not None:
                    outcomes[name].samples.append(sample)
                # let background work (expiry tasks, timer handles) run between samples,
                # not inside the next contender's timed section
                await asyncio.sleep(0)
    finally:
        for contender in live.values():
            await _close_quietly(contender)
    return Variant(label, ttl, outcomes)


async def _close_quietly(contender: MemoryContender) -> None:
    try:
        await contender.close()
    except Exception as exc:
        print(f"  note: closing {contender.name} failed: {describe_exception(exc)}")


def render_variant(variant: Variant, args: argparse.Namespace) -> str:
    stat = args.stat
    ttl = "no TTL" if variant.ttl is None else f"TTL {variant.ttl} s on every set"
    sizing = (
        f"{args.passes} passes" if args.passes else f"passes sized to ~{args.sample_ms:g} ms/phase"
    )
    lines = [
        banner(f"memory: set + get, {args.keys:,} keys, 32-byte str values, {ttl}"),
        f"{args.rounds} rounds, {sizing}, interleaved round-robin; rates are the {stat} over"
        f" rounds, wall clock",
    ]
    base = variant.outcomes.get("aiokv")
    base_rate = base.rate("both", stat) if base else None
    rows: list[list[str]] = []
    notes: list[str] = []
    headers = [
        "contender",
        "passes",
        "set ops/s",
        "get ops/s",
        "set+get ops/s",
        "ns/op",
        f"{other_stat(stat)} set+get",
        "IQR",
        "cpu set+get",
        "it/aiokv",
        "aiokv/it",
    ]
    for name, out in variant.outcomes.items():
        both = out.rate("both", stat)
        if not out.available or both is None:
            rows.append([name] + ["-"] * (len(headers) - 1))
            notes.append(f"  {name}: unavailable ({out.error or 'no samples'})")
            continue
        rows.append(
            [
                name,
                f"{out.passes:,}",
                fmt_rate(out.rate("set", stat)),
                fmt_rate(out.rate("get", stat)),
                fmt_rate(both),
                f"{1e9 / both:,.0f}",
                fmt_rate(out.rate("both", other_stat(stat))),
                f"{spread_pct(out.rates('both')):.0f}%",
                fmt_rate(out.rate("both", "median", "cpu")),
                fmt_ratio(both / base_rate if base_rate else None),
                fmt_ratio(base_rate / both if base_rate else None),
            ]
        )
        if out.warning:
            notes.append(f"  {name}: WARNING {out.warning}")
    lines.append(render_table(headers, rows))
    lines.append(
        "  ns/op = mean of set and get; IQR = interquartile range of set+get ops/s over rounds,"
        " / median;\n  cpu set+get = median ops/s by this thread's CPU time (ignores time spent"
        " descheduled)"
    )
    lines.extend(notes)
    return "\n".join(lines)


def variant_targets(variant: Variant, stat: str) -> list[TargetResult]:
    results = []
    for label, numerator, denominator, minimum in TARGETS:
        measured = variant.ratio(numerator, denominator, stat)
        note = ""
        if measured is None:
            missing = [
                n
                for n in (numerator, denominator)
                if n not in variant.outcomes or not variant.outcomes[n].available
            ]
            note = "unavailable: " + ", ".join(missing) if missing else "not measured"
        extras = (
            variant.ratio(numerator, denominator, other_stat(stat)),
            variant.ratio(numerator, denominator, "median", "cpu"),
        )
        ttl = "no TTL" if variant.ttl is None else f"TTL {variant.ttl}s"
        results.append(TargetResult(f"{ttl}: {label}", measured, minimum, note, extras))
    return results


def variant_json(variant: Variant) -> dict[str, Any]:
    contenders: dict[str, Any] = {}
    for name, out in variant.outcomes.items():
        contenders[name] = {
            "available": out.available,
            "error": out.error,
            "warning": out.warning,
            "passes": out.passes,
            "ops_per_phase": out.ops_per_phase,
            "samples_ns": [[s.set_ns, s.get_ns, s.set_cpu_ns, s.get_cpu_ns] for s in out.samples],
            **{
                f"{phase}_ops_per_s_{stat}{'_cpu' if clock == 'cpu' else ''}": out.rate(
                    phase, stat, clock
                )
                for phase in ("set", "get", "both")
                for stat in ("median", "best")
                for clock in ("wall", "cpu")
            },
        }
    return {
        "label": variant.label,
        "ttl": variant.ttl,
        "contenders": contenders,
        "ratios_to_aiokv": {
            f"{stat}_{clock}": {
                name: variant.ratio(name, "aiokv", stat, clock) for name in variant.outcomes
            }
            for stat in ("median", "best")
            for clock in ("wall", "cpu")
        },
    }


async def _profile(name: str, ttl: int | None, keys: Sequence[str], passes: int) -> str:
    contender = CONTENDERS[name](ttl)
    await contender.open(len(keys))
    try:
        for _ in range(2):
            await _sample(contender, keys, passes)
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(5):
            await _sample(contender, keys, passes)
        profiler.disable()
    finally:
        await contender.close()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(20)
    stats.sort_stats("cumulative").print_stats(15)
    return out.getvalue()


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    names: list[str] = args.contenders
    keys = [f"bench:key:{i}" for i in range(args.keys)]
    variants: list[Variant] = []
    plan: list[tuple[str, int | None]] = []
    if args.variant in ("both", "plain"):
        plan.append(("no-ttl", None))
    if args.variant in ("both", "ttl"):
        plan.append(("ttl", args.ttl))
    for label, ttl in plan:
        variant = await run_variant(label, ttl, names, keys, args)
        variants.append(variant)
        print(render_variant(variant, args))
        sys.stdout.flush()

    targets = [t for v in variants for t in variant_targets(v, args.stat)]
    extra_names = (other_stat(args.stat), "cpu median")
    print(banner(f"targets (set+get ops/s ratios, {args.stat} wall clock, this run)"))
    print(render_targets(targets, args.stat, extra_names))
    print("  verdicts use the first ratio; the ones in parentheses are for information")

    for name in args.profile or []:
        for _label, ttl in plan:
            what = "no TTL" if ttl is None else f"TTL {ttl}s"
            print(banner(f"cProfile: {name}, {what} (5 samples of 5 passes)"))
            try:
                print(await _profile(name, ttl, keys, 5))
            except Exception as exc:
                print(f"  could not profile {name}: {describe_exception(exc)}")

    return {
        "config": {
            "keys": args.keys,
            "value_bytes": len(VALUE),
            "rounds": args.rounds,
            "passes": args.passes or None,
            "sample_ms": args.sample_ms,
            "warmup": args.warmup,
            "stat": args.stat,
            "contenders": names,
        },
        "variants": [variant_json(v) for v in variants],
        "targets": [t.as_json(extra_names) for t in targets],
    }


def _contender_list(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONTENDERS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown contender(s) {', '.join(unknown)}; choose from {', '.join(CONTENDERS)}"
        )
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keys", type=int, default=1000, help="distinct keys (default 1000)")
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds (default 15)")
    parser.add_argument(
        "--sample-ms",
        type=float,
        default=25.0,
        help="size each contender's passes so a phase lasts about this long (default 25)",
    )
    parser.add_argument(
        "--passes",
        type=int,
        default=0,
        help="fixed passes over the keys per phase for every contender (default: calibrated)",
    )
    parser.add_argument(
        "--warmup", type=int, default=3, help="untimed single-pass samples first (default 3)"
    )
    parser.add_argument("--ttl", type=int, default=300, help="TTL seconds, TTL variant (300)")
    parser.add_argument(
        "--variant", choices=("both", "plain", "ttl"), default="both", help="default: both"
    )
    parser.add_argument(
        "--stat",
        choices=("median", "best"),
        default="median",
        help="statistic for the table and the PASS/MISS verdicts (default: median)",
    )
    parser.add_argument(
        "--contenders",
        type=_contender_list,
        default=list(CONTENDERS),
        help=f"comma-separated subset (default: {','.join(CONTENDERS)})",
    )
    parser.add_argument(
        "--profile",
        type=_contender_list,
        default=None,
        metavar="NAMES",
        help="after the run, cProfile these contenders (comma-separated), e.g. aiokv",
    )


def run(args: argparse.Namespace) -> int:
    payload = asyncio.run(_main(args))
    if args.json is not None:
        path = write_json("memory", payload, args.json or None)
        print(f"\nJSON written to {path}")
    return 0
