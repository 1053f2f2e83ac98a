"""The pattern examples in examples/ run, on the default driver and on a server, and clean up.

Each example is a program with ``async def main()``. The fast tests import it and await ``main()``
in the test's event loop; the slow one runs each file as a script, as a reader would.
"""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from servers import RedisServer

ROOT = Path(__file__).resolve().parents[1]
# Tested elsewhere: test_quickstart.py, test_fastapi.py, test_aiohttp.py, test_observability.py.
TESTED_ELSEWHERE = {"quickstart.py", "fastapi_app.py", "aiohttp_app.py", "fastapi_prometheus.py"}
EXAMPLES = sorted(
    path for path in (ROOT / "examples").glob("*.py") if path.name not in TESTED_ELSEWHERE
)
PATTERNS = [
    "cache_aside",
    "counters",
    "invalidation",
    "leaderboard",
    "locks",
    "notifications",
    "queues",
    "rate_limiting",
    "scheduler",
    "sessions",
    "tags",
    "worker_pool",
    "write_through",
]


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without aiokv settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KV_", "REDIS_", "AIOKV_"))}
    env.update(extra)
    return env


def test_every_pattern_has_an_example() -> None:
    assert {path.stem for path in EXAMPLES} >= set(PATTERNS)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.stem)
async def test_example_runs(
    path: Path,
    driver: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    for name in os.environ:
        if name.startswith(("KV_", "REDIS_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env file
    server: RedisServer | None = None
    if driver == "redis":
        server = request.getfixturevalue("redis_server")
        server.command("FLUSHDB")
        monkeypatch.setenv("KV_DRIVER", "redis")
        monkeypatch.setenv("REDIS_URL", server.url)

    namespace = runpy.run_path(str(path), run_name="example")
    await namespace["main"]()

    out = capsys.readouterr().out
    assert out.strip(), f"{path.name} printed nothing"
    if server is not None:
        assert server.command("KEYS", "*") == [], f"{path.name} left keys behind"


@pytest.mark.slow
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.stem)
def test_example_runs_as_a_script(path: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(path)],
        cwd=tmp_path,
        env=clean_env(PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    assert result.stdout.strip()
