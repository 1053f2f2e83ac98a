"""examples/quickstart.py runs with no server and no settings, and says the same on a server."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from servers import RedisServer

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "examples" / "quickstart.py"


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without aiokv settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KV_", "REDIS_", "AIOKV_"))}
    env.update(extra)
    return env


def run_quickstart(python: str, cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        [python, str(QUICKSTART)], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    return result.stdout


def test_runs_on_the_default_driver(tmp_path: Path) -> None:
    out = run_quickstart(sys.executable, tmp_path, clean_env(PYTHONPATH=str(ROOT)))
    assert out.startswith("driver: memory (memory://)\n")
    for line in [
        "get(\"greeting\")                                    -> 'hello'",
        'get("missing")  # a miss is None                   -> None',
        "get_json(\"user:123\", type=User)                    -> User(id=123, name='Ada')",
        'ttl("user:123")                                    -> 3600',
        'get("flash") 0.3 s after ttl=0.2                   -> None',
        'incrby("views:post:1", 40)                         -> 42',
        "hgetall(\"user:123:profile\")                        -> {'name': 'Ada', 'lang': 'fr'}",
        "rpop(\"jobs\")                                       -> 'resize'",
        "smembers(\"post:1:tags\")                            -> ['async', 'python']",
        "keys(\"user:*\")                                     -> ['user:123', 'user:123:profile']",
        "raises NotAnIntegerError: ERR value is not an integer or out of range",
        "raises WrongTypeError: WRONGTYPE Operation against a key holding the wrong kind of value",
        "flushdb(); dbsize()                                -> 0",
    ]:
        assert line in out


def test_says_the_same_against_a_server(tmp_path: Path, redis_server: RedisServer) -> None:
    redis_server.command("FLUSHDB")
    redis_server.command("SET", "user:1", "not the quickstart's")
    memory = run_quickstart(sys.executable, tmp_path, clean_env(PYTHONPATH=str(ROOT)))
    server_env = clean_env(PYTHONPATH=str(ROOT), KV_DRIVER="redis", REDIS_URL=redis_server.url)
    server = run_quickstart(sys.executable, tmp_path, server_env)
    assert server.splitlines()[0] == f"driver: redis ({redis_server.url})"
    assert server.splitlines()[1:] == memory.splitlines()[1:]
    # Its keys live under its prefix and are gone at the end; other keys are untouched.
    assert redis_server.command("KEYS", "*") == [b"user:1"]


@pytest.mark.slow
def test_runs_after_pip_install_alone(tmp_path: Path) -> None:
    """The README's two commands, in a fresh virtualenv: `pip install .`, then the quickstart."""
    venv.create(tmp_path / "venv", with_pip=True)
    python = str(tmp_path / "venv" / "bin" / "python")
    install = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    env = {k: v for k, v in clean_env().items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    out = run_quickstart(python, tmp_path, env)
    assert out.startswith("driver: memory (memory://)\n")
