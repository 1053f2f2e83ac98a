"""TLS against a real TLS-only server (``--port 0 --tls-port``) with a private CA made here.

The server's certificate names ``localhost`` and ``127.0.0.1``; the client trusts only the
private CA. A failed certificate or hostname check raises :class:`aiokv.TLSError` at once,
on the first attempt (not retried).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from servers import RedisServer, ServerBinary, TLSFiles, make_tls_files

from aiokv import AsyncClient, KVConnectionError, TLSError


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_server(server_binary: ServerBinary, tls_files: TLSFiles) -> Iterator[RedisServer]:
    with RedisServer(server_binary, tls=tls_files) as server:
        yield server


@pytest.fixture(scope="module")
def mtls_server(
    server_binary: ServerBinary, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RedisServer]:
    files = make_tls_files(tmp_path_factory.mktemp("mtls"), require_client_cert=True)
    with RedisServer(server_binary, tls=files) as server:
        yield server


async def test_a_rediss_url_with_the_private_ca_talks_to_a_tls_only_server(
    tls_server: RedisServer, tls_files: TLSFiles
) -> None:
    url = f"rediss://localhost:{tls_server.port}/0?ssl_ca_certs={tls_files.ca_file}"
    async with AsyncClient.from_url(url) as kv:
        assert kv.settings.tls
        await kv.set("tls:k", "v")
        assert await kv.get("tls:k") == "v"


async def test_tls_settings_without_a_url(tls_server: RedisServer, tls_files: TLSFiles) -> None:
    async with AsyncClient(
        driver="redis",
        host="localhost",
        port=tls_server.port,
        tls=True,
        tls_ca_certs=tls_files.ca_file,
    ) as kv:
        assert await kv.incr("tls:n") >= 1
    assert "rediss://localhost" in kv.settings.masked_url


async def test_tls_settings_from_the_environment(
    tls_server: RedisServer, tls_files: TLSFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_TLS", "true")
    monkeypatch.setenv("REDIS_TLS_CA_CERTS", str(tls_files.ca_file))
    async with AsyncClient(driver="redis", host="127.0.0.1", port=tls_server.port) as kv:
        assert await kv.ping() is True


async def test_a_plain_client_cannot_talk_to_the_tls_only_server(tls_server: RedisServer) -> None:
    async with AsyncClient(
        driver="redis", port=tls_server.port, host="127.0.0.1", retry_attempts=0
    ) as kv:
        with pytest.raises(KVConnectionError):
            await kv.ping()


async def test_a_wrong_ca_fails_fast_with_tls_error(
    tls_server: RedisServer, tmp_path: Path
) -> None:
    other = make_tls_files(tmp_path / "other")  # a CA that did not sign the server's cert
    async with AsyncClient(
        driver="redis",
        host="localhost",
        port=tls_server.port,
        tls=True,
        tls_ca_certs=other.ca_file,
        retry_attempts=5,
        retry_backoff_base=30,  # a retry would sleep for seconds: a quick failure was not one
        retry_backoff_cap=30,
    ) as kv:
        with pytest.raises(TLSError, match="certificate") as caught:
            await kv.get("k")
    assert isinstance(caught.value, KVConnectionError)
    assert "attempt" not in str(caught.value)


async def test_a_certificate_for_another_host_fails_with_tls_error(
    server_binary: ServerBinary, tmp_path: Path
) -> None:
    files = make_tls_files(tmp_path, hostnames=["cache.example.internal"])
    with RedisServer(server_binary, tls=files) as server:
        async with AsyncClient(
            driver="redis",
            host="127.0.0.1",
            port=server.port,
            tls=True,
            tls_ca_certs=files.ca_file,
        ) as kv:
            with pytest.raises(TLSError) as caught:
                await kv.ping()
            # redis-py before 5.1 keeps only "Error 1 connecting": the reason is lost there.
            if not redis.__version__.startswith("5.0."):
                assert re.search(r"match|hostname|IP address", str(caught.value))
        # Turning the hostname check off (same CA) connects: the CA was right, the name not.
        async with AsyncClient(
            driver="redis",
            host="127.0.0.1",
            port=server.port,
            tls=True,
            tls_ca_certs=files.ca_file,
            tls_check_hostname=False,
        ) as kv:
            assert await kv.ping() is True


async def test_mutual_tls_with_a_client_certificate(mtls_server: RedisServer) -> None:
    files = mtls_server.tls
    assert files is not None
    async with AsyncClient(
        driver="redis",
        host="localhost",
        port=mtls_server.port,
        tls=True,
        tls_ca_certs=files.ca_file,
        tls_certfile=files.client_cert_file,
        tls_keyfile=files.client_key_file,
    ) as kv:
        await kv.set("mtls:k", "v")
        assert await kv.get("mtls:k") == "v"


async def test_mutual_tls_without_a_client_certificate_is_refused(
    mtls_server: RedisServer,
) -> None:
    files = mtls_server.tls
    assert files is not None
    async with AsyncClient(
        driver="redis",
        host="localhost",
        port=mtls_server.port,
        tls=True,
        tls_ca_certs=files.ca_file,
        retry_attempts=0,
    ) as kv:
        # TLS 1.3 finishes the client's side of the handshake before the server checks for a
        # certificate: its refusal arrives either as a "certificate required" alert (TLSError)
        # or, when the server has already closed, as a reset on the first read.
        with pytest.raises(KVConnectionError) as caught:
            await kv.ping()
        if isinstance(caught.value, TLSError):
            assert "certificate required" in str(caught.value)
