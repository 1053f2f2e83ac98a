"""``stampede``: N processes ask for one cold key at once; ``get_or_set(lock=True)`` vs without.

Each worker process opens a client on a ``redis-server`` the benchmark starts itself, connects,
and waits. Per round, every worker is given the same start line (a wall-clock time a little
ahead) and a fresh key; at the start line each calls ``get_or_set`` on that key with a factory
that counts itself on the server (INCR) and sleeps for ``--compute`` seconds (the "database
query"). Reported per mode, median over rounds:

  * computations: how many factories ran (``lock=True`` should make it 1);
  * until all have it: from the start line to the moment the last worker had the value, and
    that time divided by one computation's time (1.0 would be free).

No assertion on times: the figures are printed, the computation count is checked.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from ._common import banner, median, render_table, write_json
from ._redis_server import ServerUnavailable, redis_server

_ROOT = Path(__file__).resolve().parents[1]

_WORKER = """
import asyncio, json, sys, time
from aiokv import AsyncClient

async def main(url: str, compute_s: float) -> None:
    async with AsyncClient(driver="redis", url=url) as kv:
        async def compute() -> int:
            await kv.incr("stampede:computations")
            await asyncio.sleep(compute_s)
            return 42

        await kv.ping()
        print("ready", flush=True)
        for line in sys.stdin:
            key, lock, start_at = line.split()
            await asyncio.sleep(max(0.0, float(start_at) - time.time()))
            value = await kv.get_or_set(key, compute, 60, lock=lock == "1", lock_timeout=30)
            print(json.dumps([value, time.time()]), flush=True)

asyncio.run(main(sys.argv[1], float(sys.argv[2])))
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--processes", type=int, default=20, help="worker processes")
    parser.add_argument("--compute", type=float, default=0.2, help="seconds one computation takes")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per mode (interleaved)")


def _read(stream: IO[str] | None) -> str:
    assert stream is not None
    line = stream.readline()
    if not line:
        raise RuntimeError("a worker exited early")
    return line.strip()


def run(args: argparse.Namespace) -> int:
    try:
        with redis_server() as server:
            results = _measure(server.url, args.processes, args.compute, args.rounds)
            version = server.version
    except ServerUnavailable as exc:
        print(f"stampede benchmark skipped: {exc}")
        return 0
    print(
        banner(
            f"cold-key stampede: {args.processes} processes, one computation = "
            f"{args.compute * 1000:.0f} ms, {args.rounds} rounds"
        )
    )
    rows = []
    for mode, rounds in results.items():
        spans = [r["until_all_s"] for r in rounds]
        rows.append(
            [
                mode,
                "/".join(str(r["computations"]) for r in rounds),
                f"{median(spans) * 1000:.0f} ms",
                f"{median(spans) / args.compute:.2f}x",
                f"{max(spans) * 1000:.0f} ms",
            ]
        )
    print(
        render_table(
            ["mode", "computations per round", "until all have it", "vs one computation", "worst"],
            rows,
        )
    )
    if args.json is not None:
        payload = {
            "processes": args.processes,
            "compute_s": args.compute,
            "server": version,
            "rounds": results,
        }
        print("wrote", write_json("stampede", payload, args.json or None))
    return 0


def _measure(
    url: str, processes: int, compute: float, rounds: int
) -> dict[str, list[dict[str, float]]]:
    import redis

    env = {**os.environ, "PYTHONPATH": str(_ROOT)}
    env = {name: value for name, value in env.items() if not name.startswith(("KV_", "REDIS_"))}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, url, str(compute)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(processes)
    ]
    results: dict[str, list[dict[str, float]]] = {"lock=True": [], "no lock": []}
    store = redis.Redis.from_url(url)
    try:
        for worker in workers:
            if _read(worker.stdout) != "ready":
                raise RuntimeError("a worker did not start")
        for number in range(rounds):
            for mode, lock in (("lock=True", "1"), ("no lock", "0")):
                store.delete("stampede:computations")
                key = f"stampede:{lock}:{number}"
                start_at = time.time() + 0.5
                for worker in workers:
                    assert worker.stdin is not None
                    worker.stdin.write(f"{key} {lock} {start_at}\n")
                    worker.stdin.flush()
                done = [json.loads(_read(worker.stdout)) for worker in workers]
                computations = int(store.get("stampede:computations") or 0)
                if any(value != 42 for value, _ in done):
                    raise RuntimeError(f"a worker got a wrong value: {done}")
                if lock == "1" and computations != 1:
                    print(f"MISS: lock=True computed {computations} times in round {number}")
                results[mode].append(
                    {
                        "computations": computations,
                        "until_all_s": max(at for _, at in done) - start_at,
                    }
                )
    finally:
        store.close()
        for worker in workers:
            if worker.stdin is not None:
                worker.stdin.close()
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
    return results
