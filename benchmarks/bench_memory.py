"""``memory``: sequential set + get against in-process stores, interleaved round-robin.

Each sample times ``passes`` x (set every key) and then ``passes`` x (get every key) for one
contender. A round takes one sample of every contender, starting at a different contender each
round so no one always runs first (or right after the slowest). Everything runs in one asyncio
event loop and the garbage collector stays enabled: this is the speed users get.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from time import perf_counter_ns
from typing import Any

from ._common import (
    TargetResult,
    banner,
    describe_exception,
    fmt_rate,
    fmt_ratio,
    median,
    ops_per_sec,
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


@dataclass
class Sample:
    set_ns: int
    get_ns: int


@dataclass
class Outcome:
    name: str
    ops_per_phase: int
    samples: list[Sample] = field(default_factory=list)
    error: str | None = None
    warning: str | None = None

    @property
    def available(self) -> bool:
        return self.error is None and bool(self.samples)

    def rates(self, phase: str) -> list[float]:
        n = self.ops_per_phase
        if phase == "set":
            return [ops_per_sec(n, s.set_ns) for s in self.samples]
        if phase == "get":
            return [ops_per_sec(n, s.get_ns) for s in self.samples]
        return [ops_per_sec(2 * n, s.set_ns + s.get_ns) for s in self.samples]

    def rate(self, phase: str, stat: str) -> float | None:
        if not self.available:
            return None
        values = self.rates(phase)
        return max(values) if stat == "best" else median(values)


@dataclass
class Variant:
    label: str
    ttl: int | None
    outcomes: dict[str, Outcome]

    def ratio(self, numerator: str, denominator: str, stat: str) -> float | None:
        a = self.outcomes.get(numerator)
        b = self.outcomes.get(denominator)
        if a is None or b is None:
            return None
        ra, rb = a.rate("both", stat), b.rate("both", stat)
        if ra is None or rb is None or rb == 0:
            return None
        return ra / rb


async def _sample(contender: MemoryContender, keys: Sequence[str], passes: int) -> Sample:
    t0 = perf_counter_ns()
    for _ in range(passes):
        await contender.set_loop(keys, VALUE)
    t1 = perf_counter_ns()
    for _ in range(passes):
        await contender.get_loop(keys)
    t2 = perf_counter_ns()
    return Sample(t1 - t0, t2 - t1)


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
    label: str,
    ttl: int | None,
    names: Sequence[str],
    keys: Sequence[str],
    rounds: int,
    passes: int,
    warmup: int,
) -> Variant:
    outcomes = {name: Outcome(name, passes * len(keys)) for name in names}
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

    async def one(name: str, record: bool) -> None:
        contender = live.get(name)
        if contender is None:
            return
        try:
            sample = await _sample(contender, keys, passes)
        except Exception as exc:
            outcomes[name].error = f"failed while running: {describe_exception(exc)}"
            del live[name]
            await _close_quietly(contender)
            return
        if record:
            outcomes[name].samples.append(sample)

    try:
        for _ in range(warmup):
            for name in names:
                await one(name, record=False)
        for name, contender in list(live.items()):
            outcomes[name].warning = await _verify(contender, keys)
        for r in range(rounds):
            order = [*names[r % len(names) :], *names[: r % len(names)]]
            for name in order:
                await one(name, record=True)
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


def render_variant(variant: Variant, stat: str, n_keys: int, rounds: int, passes: int) -> str:
    ttl = "no TTL" if variant.ttl is None else f"TTL {variant.ttl} s on every set"
    lines = [
        banner(f"memory: set + get, {n_keys:,} keys, 32-byte str values, {ttl}"),
        f"{rounds} rounds x {passes} passes ({passes * n_keys:,} set + {passes * n_keys:,} get"
        f" per sample), interleaved round-robin; rates are the {stat} over rounds",
    ]
    base = variant.outcomes.get("aiokv")
    base_rate = base.rate("both", stat) if base else None
    rows: list[list[str]] = []
    notes: list[str] = []
    for name, out in variant.outcomes.items():
        if not out.available:
            rows.append([name, "-", "-", "-", "-", "-", "-", "-", "-"])
            notes.append(f"  {name}: unavailable ({out.error or 'no samples'})")
            continue
        both = out.rate("both", stat)
        if both is None:  # cannot happen for an available contender; keeps mypy precise
            continue
        best = out.rate("both", "best")
        rows.append(
            [
                name,
                fmt_rate(out.rate("set", stat)),
                fmt_rate(out.rate("get", stat)),
                fmt_rate(both),
                f"{1e9 / both:,.0f}",
                fmt_rate(best),
                f"{spread_pct(out.rates('both')):.0f}%",
                fmt_ratio(both / base_rate if base_rate else None),
                fmt_ratio(base_rate / both if base_rate else None),
            ]
        )
        if out.warning:
            notes.append(f"  {name}: WARNING {out.warning}")
    headers = [
        "contender",
        "set ops/s",
        "get ops/s",
        "set+get ops/s",
        "ns/op",
        "best set+get",
        "IQR",
        "it/aiokv",
        "aiokv/it",
    ]
    lines.append(render_table(headers, rows))
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
        ttl = "no TTL" if variant.ttl is None else f"TTL {variant.ttl}s"
        results.append(TargetResult(f"{ttl}: {label}", measured, minimum, note))
    return results


def variant_json(variant: Variant) -> dict[str, Any]:
    contenders: dict[str, Any] = {}
    for name, out in variant.outcomes.items():
        contenders[name] = {
            "available": out.available,
            "error": out.error,
            "warning": out.warning,
            "ops_per_phase": out.ops_per_phase,
            "samples_ns": [[s.set_ns, s.get_ns] for s in out.samples],
            **{
                f"{phase}_ops_per_s_{stat}": out.rate(phase, stat)
                for phase in ("set", "get", "both")
                for stat in ("median", "best")
            },
        }
    return {
        "label": variant.label,
        "ttl": variant.ttl,
        "contenders": contenders,
        "ratios_to_aiokv": {
            stat: {name: variant.ratio(name, "aiokv", stat) for name in variant.outcomes}
            for stat in ("median", "best")
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
        variant = await run_variant(label, ttl, names, keys, args.rounds, args.passes, args.warmup)
        variants.append(variant)
        print(render_variant(variant, args.stat, args.keys, args.rounds, args.passes))
        sys.stdout.flush()

    targets = [t for v in variants for t in variant_targets(v, args.stat)]
    print(banner(f"targets ({args.stat} set+get ops/s, measured in this run)"))
    print(render_targets(targets))

    for name in args.profile or []:
        for _label, ttl in plan:
            what = "no TTL" if ttl is None else f"TTL {ttl}s"
            print(banner(f"cProfile: {name}, {what} (5 samples)"))
            try:
                print(await _profile(name, ttl, keys, args.passes))
            except Exception as exc:
                print(f"  could not profile {name}: {describe_exception(exc)}")

    return {
        "config": {
            "keys": args.keys,
            "value_bytes": len(VALUE),
            "rounds": args.rounds,
            "passes": args.passes,
            "warmup": args.warmup,
            "stat": args.stat,
            "contenders": names,
        },
        "variants": [variant_json(v) for v in variants],
        "targets": [t.as_json() for t in targets],
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
        "--passes", type=int, default=5, help="passes over the keys per sample (default 5)"
    )
    parser.add_argument(
        "--warmup", type=int, default=3, help="untimed samples per contender (default 3)"
    )
    parser.add_argument("--ttl", type=int, default=300, help="TTL seconds, TTL variant (300)")
    parser.add_argument(
        "--variant", choices=("both", "plain", "ttl"), default="both", help="default: both"
    )
    parser.add_argument(
        "--stat", choices=("median", "best"), default="median", help="statistic for ratios"
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
