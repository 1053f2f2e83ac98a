"""Charts and ``docs/benchmarks.md`` from one run of the benchmarks (``run.py all``).

matplotlib is imported here only (it is in the ``bench`` extra, never a dependency of aiokv).
Every chart carries the machine, the versions and the date of the run it was drawn from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# The redis clients drawn, in legend order (others in the results are left out of the charts).
REDIS_CLIENTS = ("aiokv", "redis.asyncio", "valkey-glide", "coredis")


def _load(path: Path | None) -> dict[str, Any] | None:
    if path is None or not path.exists():
        return None
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def _stamp(doc: dict[str, Any]) -> str:
    env = doc.get("environment", {})
    packages = env.get("packages", {})
    wanted = ("aiokv", "redis", "hiredis", "valkey-glide", "coredis", "cashews", "aiocache")
    versions = ", ".join(f"{n} {packages[n]}" for n in wanted if packages.get(n))
    server = doc.get("config", {}).get("server_version")
    server_text = f"; redis-server {server}" if server else ""
    return (
        f"{doc.get('timestamp', '?')[:10]}; {env.get('platform', '?')}, "
        f"{env.get('cpu_count', '?')} CPUs; Python {env.get('python', '?')}{server_text}\n"
        f"{versions}"
    )


def redis_charts(doc: dict[str, Any], out: Path) -> list[Path]:
    """Throughput and p99 latency against concurrency, one line per client."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = [int(t) for t in doc["config"]["concurrency"]]
    paths: list[Path] = []
    for metric, label, filename in (
        ("ops_per_s", "commands per second (higher is better)", "redis-throughput.png"),
        ("p99_us", "p99 latency per command, µs (lower is better)", "redis-p99.png"),
    ):
        fig, ax = plt.subplots(figsize=(8, 4.8))
        for name in REDIS_CLIENTS:
            client = doc["clients"].get(name)
            if client is None or client.get("error"):
                continue
            points = [(t, client["concurrency"][str(t)][metric]) for t in levels]
            xs = [t for t, v in points if v]
            ys = [v for _, v in points if v]
            ax.plot(xs, ys, marker="o", label=name, linewidth=2.5 if name == "aiokv" else 1.5)
        ax.set_xscale("log")
        if metric == "p99_us":
            ax.set_yscale("log")
        ax.set_xticks(levels, [str(t) for t in levels])
        ax.set_xlabel("concurrent tasks, each doing set + get")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        ax.set_title(f"Redis clients: {label.split(' (')[0]}", fontsize=11)
        fig.text(0.01, 0.005, _stamp(doc), fontsize=6.5, va="bottom", color="0.35")
        fig.tight_layout(rect=(0, 0.06, 1, 1))
        path = out / filename
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def memory_chart(doc: dict[str, Any], out: Path) -> Path:
    """set+get ops/s of the memory driver and the in-process stores it is measured against."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.8))
    variants = doc["variants"]
    names = list(variants[0]["contenders"])
    width = 0.8 / max(1, len(variants))
    for i, variant in enumerate(variants):
        values = [variant["contenders"][n].get("both_ops_per_s_median") or 0.0 for n in names]
        xs = [j + i * width for j in range(len(names))]
        ax.bar(xs, values, width=width, label=variant["label"])
    ax.set_xticks([j + width * (len(variants) - 1) / 2 for j in range(len(names))], names)
    ax.set_yscale("log")
    ax.set_ylabel("set+get per second (log scale, higher is better)")
    ax.set_title("In-process stores: set + get", fontsize=11)
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend()
    fig.text(0.01, 0.005, _stamp(doc), fontsize=6.5, va="bottom", color="0.35")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    path = out / "memory-set-get.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _lag_phases(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(label, ticker summary) pairs drawn on the lag chart, in order."""
    expiry = doc.get("expiry") or {"aiokv": {"reaping": doc["reaping"]}}
    phases = [("idle loop", doc["baseline"])]
    for name, run in expiry.items():
        if "live" in run:
            phases.append((f"{name}\nkeys live", run["live"]))
        phases.append((f"{name}\nmass expiry", run["reaping"]))
    phases += [("aiokv\nkeys()", doc["keys"]), ("aiokv\nscan_iter()", doc["scan_iter"])]
    return phases


def reaper_chart(doc: dict[str, Any], out: Path) -> Path:
    """Event-loop lag while aiokv's memory driver and cashews' reclaim a mass of expired keys."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    phases = _lag_phases(doc)
    stats = ("p99_ms", "p999_ms", "max_ms")
    floor = 0.01  # a log axis cannot show 0: smaller values are drawn at this height
    fig, ax = plt.subplots(figsize=(9, 5))
    width = 0.8 / len(stats)
    for i, stat in enumerate(stats):
        xs = [j + i * width for j in range(len(phases))]
        values = [max(floor, p[stat]) for _, p in phases]
        label = {"p99_ms": "p99", "p999_ms": "p99.9", "max_ms": "worst"}[stat]
        bars = ax.bar(xs, values, width=width, label=label)
        if stat == "max_ms":
            ax.bar_label(bars, labels=[f"{v:,.1f}" for v in values], fontsize=7, padding=2)
    ax.set_xticks([j + width for j in range(len(phases))], [name for name, _ in phases])
    ax.tick_params(axis="x", labelsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("lateness of a 1 ms ticker, ms (log scale, lower is better)")
    ax.set_title(
        f"Event-loop lag: {doc['config']['keys']:,} keys with one TTL, aiokv and cashews",
        fontsize=11,
    )
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend()
    fig.text(0.01, 0.005, _stamp(doc), fontsize=6.5, va="bottom", color="0.35")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    path = out / "reaper-lag.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _expiry_table(doc: dict[str, Any]) -> str:
    lines = [
        "| store | set phase s | lag p99.9 ms (keys live) | worst ms (keys live) "
        "| lag p99.9 ms (mass expiry) | worst ms (mass expiry) | all reclaimed after | keys left |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, run in doc.get("expiry", {}).items():
        live, reaping = run["live"], run["reaping"]
        zero = run["zero_s_after_deadline"]
        reclaimed = "never (polling stopped)" if zero is None else f"{zero:+.2f} s"
        left = f"{run['keys_left']:,}"
        if run.get("bytes_left_estimate"):
            left += f" (~{run['bytes_left_estimate'] / 2**20:,.1f} MiB)"
        cells = [
            f"{run['set_phase_s']:.2f}",
            f"{live['p999_ms']:.2f}",
            f"{live['max_ms']:.2f}",
            f"{reaping['p999_ms']:.2f}",
            f"{reaping['max_ms']:.2f}",
            reclaimed,
            left,
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _redis_table(doc: dict[str, Any]) -> str:
    clients = doc["clients"]
    levels = [str(t) for t in doc["config"]["concurrency"]]
    lines = [
        "| client | sequential get ops/s | "
        + " | ".join(f"{t} tasks ops/s" for t in levels)
        + " | CPU µs/command (50 tasks) | p99 µs ("
        + levels[-1]
        + " tasks) |",
        "|---" * (len(levels) + 4) + "|",
    ]
    for name, c in clients.items():
        if c.get("error"):
            lines.append(f"| {name} | skipped: {c['error']} |")
            continue
        conc = c["concurrency"]
        mid = conc.get("50", {}).get("cpu_us_per_op")
        cells = [_num(c["seq_ops_per_s"])] + [_num(conc[t]["ops_per_s"]) for t in levels]
        cells += [f"{mid:.1f}" if mid else "-", _num(conc[levels[-1]]["p99_us"])]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _targets_table(doc: dict[str, Any]) -> str:
    lines = ["| target | measured | wanted | verdict |", "|---|---|---|---|"]
    for t in doc.get("targets", []):
        measured = "-" if t["measured"] is None else f"{t['measured']:.2f}x"
        lines.append(f"| {t['label']} | {measured} | ≥ {t['minimum']:g}x | {t['verdict']} |")
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def write_report(results: dict[str, Path], docs: Path) -> Path:
    """Draw every chart the results allow into ``docs/`` and write ``docs/benchmarks.md``."""
    images = docs / "benchmarks"
    images.mkdir(parents=True, exist_ok=True)
    parts = [
        "# Benchmarks",
        "",
        "Generated by `nox -s bench` (`python benchmarks/run.py all`) from one run; each chart "
        "names the machine, the versions and the date it was made on. Ratios only mean "
        "something within one run: the clients are interleaved round by round against the same "
        "local server.",
    ]
    redis_doc = _load(results.get("redis"))
    if redis_doc is not None:
        throughput, p99 = redis_charts(redis_doc, images)
        parts += [
            "",
            "## The redis driver against other clients",
            "",
            f"![throughput](benchmarks/{throughput.name})",
            "",
            f"![p99 latency](benchmarks/{p99.name})",
            "",
            _redis_table(redis_doc),
            "",
            _targets_table(redis_doc),
            "",
            "```",
            *redis_doc.get("redis_benchmark", []),
            "```",
        ]
    memory_doc = _load(results.get("memory"))
    if memory_doc is not None:
        path = memory_chart(memory_doc, images)
        parts += [
            "",
            "## The memory driver against in-process stores",
            "",
            f"![memory](benchmarks/{path.name})",
            "",
            _targets_table(memory_doc),
        ]
    reaper_doc = _load(results.get("reaper"))
    if reaper_doc is not None:
        path = reaper_chart(reaper_doc, images)
        parts += [
            "",
            "## Event-loop lag during mass expiry",
            "",
            f"![lag](benchmarks/{path.name})",
            "",
            "The same keys, all with one deadline, in aiokv's memory driver and then in cashews'"
            " `mem://` backend (its LRU widened to hold them all; its other defaults kept)."
            " *Keys live* runs from the end of the set phase to the deadline; *mass expiry* from"
            " the deadline until the store's key count reads 0.",
            "",
            _expiry_table(reaper_doc),
        ]
    report = docs / "benchmarks.md"
    report.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return report
