"""One validation at the facade: both drivers refuse the same bad arguments with the same aiokv
class, keys are spelled as a server stores them, and a refused write leaves no trace."""

from __future__ import annotations

import asyncio
import math
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
import trustme

import aiokv
from aiokv import AsyncClient

INF, NAN = math.inf, math.nan

# (call, expected class): each must be refused identically on both drivers, before sending.
BAD_CALLS: list[tuple[str, Callable[[AsyncClient], Awaitable[Any]], type[Exception]]] = [
    ("ttl nan", lambda kv: kv.set("k", "v", ttl=NAN), aiokv.InvalidArgumentError),
    ("ttl inf", lambda kv: kv.set("k", "v", ttl=INF), aiokv.InvalidArgumentError),
    ("ttl -inf", lambda kv: kv.expire("k", -INF), aiokv.InvalidArgumentError),
    ("ttl bool", lambda kv: kv.set("k", "v", ttl=True), aiokv.ArgumentTypeError),
    ("ttl str", lambda kv: kv.expire("k", "10"), aiokv.ArgumentTypeError),  # type: ignore[arg-type]
    ("ttl past int64", lambda kv: kv.expire("k", 2**62), aiokv.NotAnIntegerError),
    ("setex nan", lambda kv: kv.setex("k", "v", NAN), aiokv.InvalidArgumentError),
    ("timedelta 0", lambda kv: kv.setex("k", "v", timedelta(0)), aiokv.InvalidArgumentError),
    ("count bool", lambda kv: kv.lpop("l", True), aiokv.NotAnIntegerError),
    ("count float", lambda kv: kv.lpop("l", 1.5), aiokv.NotAnIntegerError),  # type: ignore[call-overload]
    ("count str", lambda kv: kv.rpop("l", "1"), aiokv.NotAnIntegerError),  # type: ignore[call-overload]
    ("count negative", lambda kv: kv.rpop("l", -1), aiokv.InvalidArgumentError),
    ("index float", lambda kv: kv.lrange("l", 1.5, 2), aiokv.NotAnIntegerError),  # type: ignore[arg-type]
    ("index str", lambda kv: kv.lrange("l", "0", 1), aiokv.NotAnIntegerError),  # type: ignore[arg-type]
    ("index bool", lambda kv: kv.lrange("l", 0, True), aiokv.NotAnIntegerError),
    ("amount bool", lambda kv: kv.incrby("n", True), aiokv.NotAnIntegerError),
    ("amount float", lambda kv: kv.incrby("n", 1.0), aiokv.NotAnIntegerError),  # type: ignore[arg-type]
    ("lone surrogate key get", lambda kv: kv.get("\ud800"), aiokv.InvalidArgumentError),
    ("lone surrogate key set", lambda kv: kv.set("\ud800", "v"), aiokv.InvalidArgumentError),
    ("lone surrogate key incr", lambda kv: kv.incr("\ud800"), aiokv.InvalidArgumentError),
    ("lone surrogate value", lambda kv: kv.set("k", "\ud800"), aiokv.InvalidArgumentError),
    ("lone surrogate member", lambda kv: kv.sadd("s", "\ud800"), aiokv.InvalidArgumentError),
]


@pytest.mark.parametrize(("call", "expected"), [(c, e) for _, c, e in BAD_CALLS],
                         ids=[name for name, _, _ in BAD_CALLS])  # fmt: skip
async def test_bad_arguments_are_refused_alike(
    kv: AsyncClient, call: Callable[[AsyncClient], Awaitable[Any]], expected: type[Exception]
) -> None:
    await kv.rpush("l", "a", "b")
    with pytest.raises(expected) as caught:
        await call(kv)
    assert type(caught.value) is expected
    assert isinstance(caught.value, aiokv.KVError)
    assert sorted(await kv.keys()) == ["l"]  # nothing written
    assert await kv.lrange("l", 0, -1) == ["a", "b"]


async def test_scan_iter_refuses_a_count_below_one(kv: AsyncClient) -> None:
    for count in (0, -1):
        with pytest.raises(aiokv.InvalidArgumentError):
            async for _ in kv.scan_iter(count=count):
                pass


async def test_a_key_of_escapes_is_the_key_they_spell(kv: AsyncClient) -> None:
    # "\udcc3\udca9" is how aiokv reads back the bytes of "é" when they are not text: as a key
    # it is those bytes, so the same key as "é", on a server and on the memory driver alike.
    await kv.set("\udcc3\udca9", "1")
    assert await kv.get("é") == "1"
    assert await kv.incr("é") == 2
    assert await kv.get("\udcc3\udca9") == "2"
    assert await kv.exists("é", "\udcc3\udca9") == 2
    assert await kv.keys() == ["é"]
    await kv.hset("h\udcc3\udca9", "f", "v")
    assert await kv.hget("hé", "f") == "v"
    assert await kv.delete("\udcc3\udca9", "hé") == 2


async def test_bytes_keys_that_are_not_text_round_trip(kv: AsyncClient) -> None:
    await kv.set("\udcfe\udccd", "v")
    assert await kv.keys() == ["\udcfe\udccd"]
    assert await kv.get("\udcfe\udccd") == "v"


@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-random", "noeviction"])
async def test_a_refused_write_leaves_the_eviction_index_alone(policy: str) -> None:
    # Three refused writes used to leave index entries for keys that were never stored: every
    # later new key then raised KeyError (LRU) or OutOfMemoryError with an empty store.
    async with AsyncClient(driver="memory", memory_max_keys=3, memory_eviction_policy=policy) as kv:
        for i in range(3):
            with pytest.raises(aiokv.InvalidArgumentError):
                await kv.set(f"k{i}", "\ud800")
            with pytest.raises(aiokv.InvalidArgumentError):
                await kv.rpush(f"l{i}", "ok", "\ud800")
        for i in range(3):
            assert await kv.set(f"good{i}", "v") is True
        assert await kv.dbsize() == 3


def test_asyncio_run_of_a_command_opens_a_new_client() -> None:
    # The client opens on the first await, inside the loop that runs it, not when the
    # command method is called (outside any loop here).
    kv = AsyncClient(driver="memory")
    assert asyncio.run(kv.set("k", "v")) is True  # type: ignore[arg-type]
    assert kv.closed is False


async def test_a_closed_client_raises_when_awaited(kv: AsyncClient) -> None:
    await kv.aclose()
    pending = kv.get("k")
    with pytest.raises(aiokv.ClientClosedError):
        await pending


# -- TLS failures are not retried -----------------------------------------------------------


@pytest.fixture
async def tls_endpoint() -> AsyncIterator[tuple[int, list[int], str]]:
    """A TLS listener with a certificate from a CA the client does not trust; it counts the
    connections it accepts. Yields (port, counter, path of an unrelated CA's certificate)."""
    server_ca, other_ca = trustme.CA(), trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ca.issue_cert("127.0.0.1").configure_cert(context)
    accepted = [0]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted[0] += 1
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    with other_ca.cert_pem.tempfile() as ca_path:
        try:
            yield port, accepted, ca_path
        finally:
            server.close()
            await server.wait_closed()


async def test_a_certificate_failure_is_not_retried_and_says_so(
    tls_endpoint: tuple[int, list[int], str],
) -> None:
    port, accepted, ca_path = tls_endpoint
    url = f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={ca_path}"
    async with AsyncClient(url=url, retry_attempts=5) as kv:
        with pytest.raises(aiokv.KVConnectionError) as caught:
            await kv.get("k")
    assert "TLS" in str(caught.value)
    assert "certificate" in str(caught.value)
    await asyncio.sleep(0.05)
    assert accepted[0] <= 1  # one handshake, not six


async def test_connection_errors_report_the_real_number_of_attempts(
    unused_tcp_port: int,
) -> None:
    async with AsyncClient(
        url=f"redis://127.0.0.1:{unused_tcp_port}/0", retry_attempts=2, retry_backoff_base=0.001
    ) as kv:
        with pytest.raises(aiokv.KVConnectionError) as caught:
            await kv.incr("n")
    assert caught.value.outcome_unknown is False
    assert "after 3 attempts" in str(caught.value)
