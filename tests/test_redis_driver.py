"""The redis driver against real servers: bursts, restarts, outages, auth, timeouts, lifetime.

Tests that stop or restart a server start their own (``own_server``); the others share one
password-protected server for this module (``auth_server``; ``auth_kv`` is a client of it).
Anything slower than about a second is marked ``slow`` (``nox -s slow``).
"""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import traceback
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis import exceptions as rexc
from servers import RedisServer, ServerBinary, ServerStartError

import aiokv
from aiokv import (
    AsyncClient,
    ClientClosedError,
    DriverUnavailableError,
    InvalidArgumentError,
    KVConnectionError,
    KVError,
    KVSettings,
    KVTimeoutError,
    OutOfMemoryError,
)
from aiokv.drivers.redis import translate_error

PASSWORD = "s3cret"
# What the clients here do by default (REDIS_AUTO_PIPELINE=0 turns it off for a test run).
AUTO_PIPELINE = KVSettings().auto_pipeline
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def auth_server(server_binary: ServerBinary) -> Iterator[RedisServer]:
    """A password-protected server (TCP and unix socket) shared by this module's tests."""
    with RedisServer(server_binary, password=PASSWORD, unix_socket=True) as server:
        yield server


@pytest.fixture
def own_server(server_binary: ServerBinary) -> Iterator[RedisServer]:
    """A password-protected server for one test, which may stop or restart it."""
    server = RedisServer(server_binary, password=PASSWORD, unix_socket=True)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
async def auth_kv(auth_server: RedisServer) -> AsyncIterator[AsyncClient]:
    """A client of ``auth_server`` over an empty database."""
    async with AsyncClient(url=auth_server.url) as client:
        await client.flushdb()
        yield client


def connected_clients(server: RedisServer) -> int:
    """Connections the server has open, not counting the one asking."""
    return int(server.info("clients")["connected_clients"]) - 1


def wait_for_clients(server: RedisServer, count: int) -> bool:
    """Whether the server's connection count reaches ``count`` within a second (closing a
    socket is seen by the server a moment later)."""
    deadline = time.monotonic() + 1
    while connected_clients(server) != count:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def assert_no_secret(error: BaseException) -> None:
    """Neither the message nor anything in the chained traceback shows the password."""
    assert PASSWORD not in "".join(traceback.format_exception(error))


# -- bursts ----------------------------------------------------------------------------------


async def test_burst_larger_than_the_pool_waits_for_connections(
    own_server: RedisServer,
) -> None:
    # The pool's behaviour: commands use pooled connections only with auto-pipelining off.
    async with AsyncClient(url=own_server.url, max_connections=8, auto_pipeline=False) as kv:
        results = await asyncio.gather(*(kv.incr("burst") for _ in range(2000)))
        assert sorted(results) == list(range(1, 2001))
        assert await kv.get("burst") == "2000"
        assert connected_clients(own_server) == 8


async def test_pool_wait_past_pool_timeout_raises_kv_timeout_error(
    auth_server: RedisServer,
) -> None:
    async with AsyncClient(
        url=auth_server.url, max_connections=1, pool_timeout=0.1, auto_pipeline=False
    ) as kv:
        await kv.flushdb()  # the keys read below are missing whatever ran before
        await kv.ping()  # the one connection is open
        # The server holds the next command for 0.4 s, and with it the only connection.
        auth_server.command("CLIENT", "PAUSE", "400", "ALL")
        started = time.monotonic()
        first, second = await asyncio.gather(kv.get("a"), kv.get("b"), return_exceptions=True)
        waited = time.monotonic() - started
    assert first is None
    assert isinstance(second, KVTimeoutError)
    assert isinstance(second, TimeoutError)
    assert "REDIS_POOL_TIMEOUT" in str(second)
    assert "REDIS_MAX_CONNECTIONS" in str(second)
    assert f"127.0.0.1:{auth_server.port}" in str(second)
    assert_no_secret(second)
    assert waited < 2


async def test_cancelled_waiters_do_not_strand_the_others(auth_server: RedisServer) -> None:
    async with AsyncClient(
        url=auth_server.url, max_connections=1, pool_timeout=5, auto_pipeline=False
    ) as kv:
        await kv.flushdb()  # the keys read below are missing whatever ran before
        await kv.ping()
        auth_server.command("CLIENT", "PAUSE", "200", "ALL")
        holder = asyncio.ensure_future(kv.get("a"))
        await asyncio.sleep(0)
        waiters = [asyncio.ensure_future(kv.get(key)) for key in "bcd"]
        await asyncio.sleep(0.05)
        started = time.monotonic()
        waiters[0].cancel()  # while waiting
        # White box: cancel the next one in the instant between its wake-up and its turn to
        # run, so that the wake-up it received must be passed on to the last one.
        pool = kv._driver._pool  # type: ignore[attr-defined]
        wake_one = pool.wake_one

        def wake_then_cancel() -> None:
            wake_one()
            waiters[1].cancel()

        pool.wake_one = wake_then_cancel
        assert await holder is None
        for cancelled in waiters[:2]:
            with pytest.raises(asyncio.CancelledError):
                await cancelled
        pool.wake_one = wake_one
        assert await waiters[2] is None
        assert time.monotonic() - started < 1  # woken by the hand-off, not by pool_timeout


async def test_closing_the_client_releases_commands_waiting_for_a_connection(
    auth_server: RedisServer,
) -> None:
    kv = AsyncClient(url=auth_server.url, max_connections=1, pool_timeout=5, auto_pipeline=False)
    await kv.ping()
    auth_server.command("CLIENT", "PAUSE", "200", "ALL")
    holder = asyncio.ensure_future(kv.get("a"))
    await asyncio.sleep(0)
    waiter = asyncio.ensure_future(kv.get("b"))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await kv.aclose()
    with pytest.raises(ClientClosedError):
        await waiter
    assert time.monotonic() - started < 1
    await asyncio.gather(holder, return_exceptions=True)


# -- restarts and outages --------------------------------------------------------------------


def client_options(server: RedisServer, how: str) -> dict[str, Any]:
    if how == "parts":
        return {"driver": "redis", "host": "127.0.0.1", "port": server.port, "password": PASSWORD}
    if how == "url":
        return {"url": server.url}
    return {"url": server.unix_url}


@pytest.mark.parametrize("how", ["parts", "url", "unix_url"])
async def test_commands_succeed_after_the_server_restarts(
    own_server: RedisServer, how: str
) -> None:
    async with AsyncClient(**client_options(own_server, how), max_connections=4) as kv:
        await asyncio.gather(*(kv.incr("n") for _ in range(20)))  # several pooled connections
        # several pooled connections, or the one multiplexed connection
        assert connected_clients(own_server) >= (1 if AUTO_PIPELINE else 2)
        await asyncio.to_thread(own_server.restart)  # same port and socket; the data is gone
        assert await kv.get("n") is None
        assert await asyncio.gather(*(kv.incr("n") for _ in range(20)))
        assert await kv.get("n") == "20"


@pytest.mark.parametrize("how", ["parts", "url"])
async def test_server_down_raises_kv_connection_error_naming_the_address(
    own_server: RedisServer, how: str
) -> None:
    async with AsyncClient(**client_options(own_server, how), retry_attempts=2) as kv:
        await kv.set("k", "v")
        own_server.stop()
        for _ in range(2):  # with a stale pooled connection, then with none
            started = time.monotonic()
            with pytest.raises(KVConnectionError) as excinfo:
                await kv.get("k")
            assert time.monotonic() - started < 2
            error = excinfo.value
            assert isinstance(error, ConnectionError)
            assert f"127.0.0.1:{own_server.port}" in str(error)
            assert "REDIS_RETRY_ATTEMPTS" in str(error)
            assert isinstance(error.__cause__, rexc.ConnectionError)
            assert_no_secret(error)


async def test_unix_socket_gone_raises_kv_connection_error(own_server: RedisServer) -> None:
    async with AsyncClient(url=own_server.unix_url, retry_attempts=1) as kv:
        await kv.ping()
        path = own_server.unix_socket_path
        own_server.stop()
        with pytest.raises(KVConnectionError) as excinfo:
            await kv.ping()
    assert path in str(excinfo.value)
    assert_no_secret(excinfo.value)


@pytest.mark.slow
async def test_server_back_within_the_retry_budget_is_invisible(own_server: RedisServer) -> None:
    async with AsyncClient(url=own_server.url, retry_attempts=10) as kv:
        await kv.set("k", "v")
        own_server.stop()
        # The pooled connection is dead. A write may be sent again only if it cannot have run:
        # once the loop has seen the server close the socket (any app between two requests),
        # the write is never sent on it, and waits for the server like a read.
        await asyncio.sleep(0.05)

        def start_later() -> None:
            time.sleep(0.3)
            own_server.start()  # same port

        starting = asyncio.ensure_future(asyncio.to_thread(start_later))
        try:
            started = time.monotonic()
            assert await kv.set("k", "w") is True  # issued while the server is down
            assert time.monotonic() - started >= 0.25
            assert await kv.get("k") == "w"
        finally:
            await starting


async def test_a_read_on_a_connection_that_just_died_is_sent_again(own_server: RedisServer) -> None:
    async with AsyncClient(url=own_server.url, retry_attempts=10) as kv:
        await kv.set("k", "v")
        own_server.restart()  # no loop step in between: the read goes into the dead socket
        assert await kv.get("k") is None  # read again on a new connection (the data is gone)


async def test_a_write_on_a_connection_that_just_died_is_not_sent_again(
    own_server: RedisServer,
) -> None:
    async with AsyncClient(url=own_server.url, retry_attempts=10) as kv:
        await kv.set("k", "v")
        own_server.restart()  # the write goes into the dead socket: its outcome is unknown
        with pytest.raises(aiokv.OutcomeUnknownError) as caught:
            await kv.incr("n")
        assert caught.value.outcome_unknown is True
        assert isinstance(caught.value, KVConnectionError)
        assert await kv.get("n") is None  # it did not run (the server was gone) nor run twice


@pytest.mark.slow
async def test_repeated_restarts_under_load(own_server: RedisServer) -> None:
    async with AsyncClient(url=own_server.url, max_connections=8, retry_attempts=10) as kv:
        for _ in range(3):
            assert len(await asyncio.gather(*(kv.incr("n") for _ in range(500)))) == 500
            await asyncio.to_thread(own_server.restart)
        assert await asyncio.gather(*(kv.incr("n") for _ in range(500)))
        assert await kv.get("n") == "500"


# -- authentication --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"password": "wrong-pw"}, id="wrong-password"),
        pytest.param({}, id="no-password"),
        pytest.param({"username": "nobody", "password": PASSWORD}, id="unknown-user"),
    ],
)
async def test_failed_login_raises_kv_connection_error_naming_the_setting(
    auth_server: RedisServer, options: dict[str, Any]
) -> None:
    async with AsyncClient(
        driver="redis", host="127.0.0.1", port=auth_server.port, retry_attempts=0, **options
    ) as kv:
        with pytest.raises(KVConnectionError) as excinfo:
            await kv.ping()
    error = excinfo.value
    assert "REDIS_PASSWORD" in str(error)
    assert f"127.0.0.1:{auth_server.port}" in str(error)
    assert isinstance(error.__cause__, rexc.AuthenticationError)
    assert_no_secret(error)
    assert "wrong-pw" not in "".join(traceback.format_exception(error))


async def test_wrong_password_in_the_url_is_masked(auth_server: RedisServer) -> None:
    url = auth_server.url.replace(PASSWORD, "wrong-pw")
    async with AsyncClient(url=url, retry_attempts=0) as kv:
        with pytest.raises(KVConnectionError, match="REDIS_PASSWORD") as excinfo:
            await kv.get("k")
    assert "wrong-pw" not in "".join(traceback.format_exception(excinfo.value))
    assert ":***@" in str(excinfo.value)


# -- timeouts --------------------------------------------------------------------------------


async def test_slow_reply_raises_kv_timeout_error_without_retrying(
    auth_server: RedisServer,
) -> None:
    auth_server.command("CONFIG", "RESETSTAT")
    async with AsyncClient(url=auth_server.url, socket_timeout=0.2, retry_attempts=3) as kv:
        await _until_answered(kv)
        # SIGSTOP: connected, but nothing is answered
        with (
            auth_server.paused(),
            pytest.raises(KVTimeoutError, match="REDIS_SOCKET_TIMEOUT") as excinfo,
        ):
            await kv.get("k")
        assert isinstance(excinfo.value, TimeoutError)
        assert isinstance(excinfo.value.__cause__, rexc.TimeoutError)
        await _until_answered(kv)  # the timed-out connection was replaced
    # The server read the GET once it resumed: sent once, not retried (a retry would have sent
    # it again on a new connection, read as well).
    stats = auth_server.info("commandstats")
    assert stats.get("cmdstat_get", "calls=0").startswith("calls=1,")


async def _until_answered(kv: AsyncClient) -> None:
    """PING until a reply comes within the client's short socket_timeout (a loaded machine
    may miss it once)."""
    for _ in range(20):
        try:
            assert await kv.ping() is True
            return
        except KVTimeoutError:
            continue
    pytest.fail("the server never answered a PING within socket_timeout")


async def test_connect_timeout_raises_kv_timeout_error() -> None:
    # A listener that never accepts, with its backlog full: new connects hang.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = [socket.socket() for _ in range(4)]
        try:
            for filler in fillers:
                filler.setblocking(False)
                filler.connect_ex(("127.0.0.1", port))
            await asyncio.sleep(0.05)
            async with AsyncClient(
                driver="redis", host="127.0.0.1", port=port, connect_timeout=0.2
            ) as kv:
                started = time.monotonic()
                with pytest.raises(KVTimeoutError, match="REDIS_CONNECT_TIMEOUT"):
                    await kv.ping()
                assert time.monotonic() - started < 1
        finally:
            for filler in fillers:
                filler.close()


# -- server replies and transports -----------------------------------------------------------


async def test_out_of_memory_reply(auth_kv: AsyncClient, auth_server: RedisServer) -> None:
    auth_server.command("CONFIG", "SET", "maxmemory", "1")
    try:
        with pytest.raises(OutOfMemoryError, match="OOM"):
            await auth_kv.set("k", "v")
    finally:
        auth_server.command("CONFIG", "SET", "maxmemory", "0")
    assert await auth_kv.set("k", "v") is True


async def test_unix_socket_url(auth_server: RedisServer) -> None:
    async with AsyncClient.from_url(auth_server.unix_url) as kv:
        assert kv.settings.driver == "redis"
        await kv.set("unix", "yes")
        assert await kv.get("unix") == "yes"
    async with AsyncClient(url=auth_server.url) as tcp:
        assert await tcp.get("unix") == "yes"  # the same server
        await tcp.delete("unix")


@pytest.fixture(scope="module")
def tls_server(
    server_binary: ServerBinary, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RedisServer, int, Path]]:
    """A server that also listens with TLS, on a certificate for 127.0.0.1 made here.

    Yields the server, its TLS port and the CA certificate that signed the server's certificate.
    """
    trustme = pytest.importorskip("trustme")
    certs = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(certs / "ca.pem"))
    issued = ca.issue_cert("127.0.0.1")
    issued.cert_chain_pems[0].write_to_path(str(certs / "server.pem"))
    issued.private_key_pem.write_to_path(str(certs / "server.key"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        tls_port = probe.getsockname()[1]
    server = RedisServer(
        server_binary,
        extra_args=[
            "--tls-port", str(tls_port),
            "--tls-cert-file", str(certs / "server.pem"),
            "--tls-key-file", str(certs / "server.key"),
            "--tls-ca-cert-file", str(certs / "ca.pem"),
            "--tls-auth-clients", "no",
        ],
    )  # fmt: skip
    try:
        server.start()
    except ServerStartError as exc:
        if "TLS" not in str(exc):
            raise
        pytest.skip(f"{server_binary.program} was built without TLS support")
    try:
        yield server, tls_port, certs / "ca.pem"
    finally:
        server.stop()


async def test_rediss_url(tls_server: tuple[RedisServer, int, Path]) -> None:
    server, tls_port, ca = tls_server
    url = f"rediss://127.0.0.1:{tls_port}/0?ssl_ca_certs={ca}"
    async with AsyncClient.from_url(url) as kv:
        assert kv.settings.driver == "redis"
        await kv.set("tls", "yes")
        assert await kv.get("tls") == "yes"
        clients = server.command("CLIENT", "LIST")
        assert isinstance(clients, bytes)
        assert f"laddr=127.0.0.1:{tls_port} ".encode() in clients  # it came in on the TLS port
    async with AsyncClient(url=server.url) as plain:
        assert await plain.get("tls") == "yes"  # the same server
    # Without the CA, the server's certificate is not trusted: no silent fallback.
    async with AsyncClient.from_url(
        f"rediss://127.0.0.1:{tls_port}/0", retry_attempts=0, connect_timeout=5
    ) as untrusted:
        with pytest.raises(KVConnectionError, match=f"rediss://127.0.0.1:{tls_port}"):
            await untrusted.get("tls")


# -- lifetime --------------------------------------------------------------------------------


async def test_aclose_closes_every_pooled_connection(own_server: RedisServer) -> None:
    kv = AsyncClient(url=own_server.url, max_connections=4)
    await asyncio.gather(*(kv.incr("n") for _ in range(100)))
    async with kv.pipeline() as p:  # on a pooled connection, as are transactions
        p.get("n")
    assert 1 <= connected_clients(own_server) <= 4 + (1 if AUTO_PIPELINE else 0)
    await kv.aclose()
    assert wait_for_clients(own_server, 0)
    await kv.aclose()  # idempotent
    with pytest.raises(ClientClosedError):
        await kv.get("n")


def test_one_client_across_event_loops(own_server: RedisServer) -> None:
    kv = AsyncClient(url=own_server.url, max_connections=4)  # created outside any loop

    async def use(value: str) -> str | None:
        await asyncio.gather(*(kv.set(f"loop:{i}", value) for i in range(10)))
        return await kv.get("loop:0")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert asyncio.run(use("first")) == "first"
        # asyncio.run's shutdown closed the first loop's connections.
        assert wait_for_clients(own_server, 0)
        assert asyncio.run(use("second")) == "second"
        asyncio.run(kv.aclose())
        gc.collect()
    assert wait_for_clients(own_server, 0)
    assert [str(w.message) for w in caught] == []


def test_a_loop_closed_without_shutdown_does_not_break_the_client(
    auth_server: RedisServer,
) -> None:
    kv = AsyncClient(url=auth_server.url)

    async def get_k() -> str | None:
        return await kv.get("k")

    loop = asyncio.new_event_loop()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            # The command is called before the loop runs: the client connects when it runs.
            assert loop.run_until_complete(kv.set("k", "old-style")) is True
        finally:
            loop.close()  # no shutdown_asyncgens(): the connection cannot be closed any more
        assert asyncio.run(get_k()) == "old-style"
        asyncio.run(kv.aclose())
        gc.collect()
    # What is left is a ResourceWarning for the abandoned socket, never an error.
    assert all(issubclass(w.category, ResourceWarning) for w in caught)


def test_client_in_use_by_a_loop_in_another_thread_is_refused(auth_server: RedisServer) -> None:
    kv = AsyncClient(url=auth_server.url)
    other = asyncio.new_event_loop()
    thread = threading.Thread(target=other.run_forever)
    thread.start()

    async def ping_here() -> None:
        with pytest.raises(DriverUnavailableError, match="one AsyncClient per event loop"):
            await kv.ping()

    async def ping_there() -> bool:
        return await kv.ping()

    try:
        assert asyncio.run_coroutine_threadsafe(ping_there(), other).result(5) is True
        asyncio.run(ping_here())
        asyncio.run_coroutine_threadsafe(kv.aclose(), other).result(5)
    finally:
        other.call_soon_threadsafe(other.stop)
        thread.join(5)
        other.run_until_complete(other.shutdown_asyncgens())
        other.close()


CHILD_SUITE = """
    import asyncio
    import gc
    import os

    import pytest

    from aiokv import AsyncClient

    URL = os.environ["AIOKV_TEST_URL"]
    SHARED = AsyncClient(url=URL)  # at import time, used by tests on different loops


    @pytest.fixture
    async def kv():
        async with AsyncClient(url=URL) as client:
            yield client


    async def test_async_with():
        async with AsyncClient(url=URL) as kv:
            await kv.set("a", "1")
            assert await kv.get("a") == "1"


    async def test_aclose():
        kv = AsyncClient(url=URL)
        await kv.set("a", "2")
        await kv.aclose()


    async def test_burst_then_aclose():
        kv = AsyncClient(url=URL, max_connections=4)
        await asyncio.gather(*(kv.incr("c") for _ in range(200)))
        await kv.aclose()


    async def test_fixture(kv):
        assert await kv.ping() is True


    async def test_never_closed():
        kv = AsyncClient(url=URL)
        await kv.set("n", "1")


    async def test_never_closed_and_dropped():
        kv = AsyncClient(url=URL)
        await kv.set("n", "2")
        del kv
        gc.collect()


    @pytest.mark.parametrize("round", range(3))
    async def test_shared_client(round):
        await SHARED.set("s", str(round))
        assert await SHARED.get("s") == str(round)


    async def test_shared_client_closed_on_another_loop():
        await SHARED.aclose()


    def test_collect():
        gc.collect()
"""


@pytest.mark.slow
def test_client_per_test_suite_is_warning_free(auth_server: RedisServer, tmp_path: Path) -> None:
    """A pytest-asyncio suite with a loop per test: no warnings, no "Event loop is closed"."""
    (tmp_path / "test_child.py").write_text(textwrap.dedent(CHILD_SUITE))
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
        "filterwarnings =\n    error::ResourceWarning\n"
        "    error::pytest.PytestUnraisableExceptionWarning\n"
    )
    env = {
        **os.environ,
        "AIOKV_TEST_URL": auth_server.url,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "PYTHONDEVMODE": "1",  # asyncio debug mode and ResourceWarnings on
    }
    # In file order (no pytest-randomly): the suite's last test closes the shared client.
    options = ["-p", "no:cacheprovider", "-p", "no:randomly", "-q", "-rA"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *options, "test_child.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "11 passed" in output, output
    for symptom in ("Event loop is closed", "nclosed", "Task was destroyed", "never awaited"):
        assert symptom not in output, output


# -- error translation -----------------------------------------------------------------------

SETTINGS = KVSettings(driver="redis", host="10.0.0.7", port=6390, password=PASSWORD)


@pytest.mark.parametrize(
    ("error", "expected", "needle"),
    [
        (rexc.AuthenticationError("invalid password"), KVConnectionError, "REDIS_PASSWORD"),
        (
            rexc.AuthenticationWrongNumberOfArgsError("wrong number of arguments for 'auth'"),
            KVConnectionError,
            "REDIS_USERNAME",
        ),
        (rexc.ResponseError("WRONGTYPE Operation"), aiokv.WrongTypeError, "WRONGTYPE"),
        (rexc.ResponseError("ERR value is not an integer"), aiokv.NotAnIntegerError, "integer"),
        # redis-py 5 strips a known code from the message and keeps it nowhere.
        (rexc.ResponseError("value is not an integer"), aiokv.NotAnIntegerError, "ERR value"),
        (rexc.ResponseError("syntax error"), aiokv.InvalidArgumentError, "ERR syntax"),
        (
            rexc.ResponseError("ERR increment or decrement would overflow"),
            aiokv.IntegerOverflowError,
            "overflow",
        ),
        (rexc.ResponseError("ERR invalid expire time in 'set'"), aiokv.InvalidArgumentError, ""),
        (rexc.OutOfMemoryError("command not allowed"), OutOfMemoryError, "OOM"),
        (
            rexc.ResponseError("NOPERM this user has no permissions"),
            aiokv.PermissionDeniedError,
            "NOPERM",
        ),
        (rexc.NoPermissionError("no permissions"), aiokv.PermissionDeniedError, "NOPERM"),
        (
            rexc.TimeoutError("Timeout connecting to server"),
            KVTimeoutError,
            "REDIS_CONNECT_TIMEOUT",
        ),
        (
            rexc.TimeoutError("Timeout reading from 10.0.0.7:6390"),
            KVTimeoutError,
            "REDIS_SOCKET_TIMEOUT",
        ),
        (rexc.ConnectionError("Connection refused"), KVConnectionError, "REDIS_RETRY_ATTEMPTS"),
        (rexc.BusyLoadingError("Redis is loading"), KVConnectionError, "loading"),
        (rexc.DataError("Invalid input"), InvalidArgumentError, "Invalid input"),
    ],
)
def test_translate_error(error: rexc.RedisError, expected: type[KVError], needle: str) -> None:
    translated = translate_error(error, SETTINGS)
    assert type(translated) is expected
    assert needle in str(translated)
    assert PASSWORD not in str(translated)
    if isinstance(translated, (KVConnectionError, KVTimeoutError)):
        assert "10.0.0.7:6390" in str(translated)
