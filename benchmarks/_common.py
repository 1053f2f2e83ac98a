"""Small helpers shared by the benchmarks: statistics, tables, targets, JSON output."""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import statistics
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"

#: Distributions whose versions are recorded with every JSON result.
_DISTRIBUTIONS = (
    "aiokv",
    "redis",
    "hiredis",
    "cashews",
    "aiocache",
    "fakeredis",
    "coredis",
    "valkey-glide",
    "anyio",
)


# --------------------------------------------------------------------------------------------
# aiokv settings


def aiokv_settings(**values: Any) -> dict[str, Any]:
    """Keyword arguments for ``AsyncClient``: ``values``, and every other setting at its default.

    Every field is given, so neither the caller's ``KV_*``/``REDIS_*`` variables nor a ``.env``
    file can change what a benchmark measures (an exported ``REDIS_URL`` would otherwise turn the
    memory driver's client into a redis client).
    """
    from aiokv import KVSettings

    pinned = {
        name: field.get_default(call_default_factory=True)
        for name, field in KVSettings.model_fields.items()
    }
    return {**pinned, **values}


# --------------------------------------------------------------------------------------------
# statistics


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``; 0.0 for an empty sequence."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return float(ordered[min(rank, len(ordered)) - 1])


def spread_pct(values: Sequence[float]) -> float:
    """Interquartile range / median, in percent: how noisy a contender's samples were."""
    if len(values) < 2:
        return 0.0
    mid = median(values)
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return (q3 - q1) / mid * 100.0 if mid else 0.0


def ops_per_sec(ops: int, elapsed_ns: int) -> float:
    return ops * 1e9 / elapsed_ns if elapsed_ns > 0 else float("inf")


# --------------------------------------------------------------------------------------------
# formatting


def fmt_rate(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}"


def fmt_ratio(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.2f}x"


def fmt_ms(value_ns: float) -> str:
    return f"{value_ns / 1e6:.2f}"


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: the first column left-aligned, the others right-aligned."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i])
            for i, cell in enumerate(cells)
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def banner(title: str) -> str:
    return f"\n== {title} " + "=" * max(0, 78 - len(title))


# --------------------------------------------------------------------------------------------
# targets


@dataclass(frozen=True)
class TargetResult:
    """A ratio target. ``measured`` decides the verdict; ``extras`` are the same ratio by
    other statistics, shown for information only."""

    label: str
    measured: float | None
    minimum: float
    note: str = ""
    extras: tuple[float | None, ...] = ()

    @property
    def verdict(self) -> str:
        if self.measured is None:
            return "SKIP"
        return "PASS" if self.measured >= self.minimum else "MISS"

    def as_json(self, extra_names: Sequence[str] = ()) -> dict[str, Any]:
        return {
            "label": self.label,
            "measured": self.measured,
            "minimum": self.minimum,
            "verdict": self.verdict,
            "note": self.note,
            **dict(zip(extra_names, self.extras, strict=False)),
        }


def other_stat(stat: str) -> str:
    return "median" if stat == "best" else "best"


def render_targets(
    targets: Sequence[TargetResult], stat: str, extra_names: Sequence[str] = ()
) -> str:
    def ratio(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}x"

    rows = [
        [
            t.label,
            ratio(t.measured),
            f">= {t.minimum:g}x",
            t.verdict,
            *(f"({ratio(x)})" for x in t.extras),
            t.note,
        ]
        for t in targets
    ]
    headers = ["target", stat, "wanted", "verdict", *(f"({n})" for n in extra_names), "note"]
    return render_table(headers, rows)


# --------------------------------------------------------------------------------------------
# failures of optional contenders


def describe_exception(exc: BaseException) -> str:
    """One line naming an exception and where it was raised, for 'unavailable' notes."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = ""
    if frames:
        last = frames[-1]
        where = f" at {Path(last.filename).name}:{last.lineno}"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}{where}" if text else f"{type(exc).__name__}{where}"


# --------------------------------------------------------------------------------------------
# JSON output


def environment() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for dist in _DISTRIBUTIONS:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "gc_enabled": True,
        "packages": versions,
    }


def write_json(kind: str, payload: dict[str, Any], path: str | None) -> Path:
    """Write ``payload`` (plus environment info) to ``path`` or ``benchmarks/results/``."""
    now = _dt.datetime.now(_dt.timezone.utc)
    if path:
        target = Path(path)
    else:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        target = RESULTS_DIR / f"{kind}-{now.strftime('%Y%m%d-%H%M%S')}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": kind,
        "timestamp": now.isoformat(timespec="seconds"),
        "environment": environment(),
        **payload,
    }
    target.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return target
