"""The cluster driver over TLS: a real Redis Cluster whose nodes listen on TLS only, their
cluster bus and replication too, and ask every client for a certificate (mutual TLS).

The TLS settings (``REDIS_TLS``, ``REDIS_TLS_CA_CERTS``, ``REDIS_TLS_CERTFILE``,
``REDIS_TLS_KEYFILE``...) apply to every node the cluster announces, whether they come from
keyword arguments, the environment or a ``rediss+cluster://`` URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import RedisCluster, ServerBinary, TLSFiles, make_tls_files

from aiokv import AsyncClient, KVConnectionError, TLSError

# Keys on both primaries (slots 0-8191 and 8192-16383).
KEYS = [f"tls:{n}" for n in range(20)]


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    return make_tls_files(tmp_path_factory.mktemp("cluster-tls"), require_client_cert=True)


@pytest.fixture(scope="module")
def tls_cluster(server_binary: ServerBinary, tls_files: TLSFiles) -> Iterator[RedisCluster]:
    with RedisCluster(server_binary, primaries=2, replicas=1, tls=tls_files) as cluster:
        yield cluster


def _node_list(cluster: RedisCluster) -> list[str]:
    return [f"127.0.0.1:{cluster.nodes[0].port}"]  # the others are discovered


async def _exercise(kv: AsyncClient, cluster: RedisCluster) -> None:
    """Writes on every primary, a split multi-key read, a pipeline and a count."""
    await kv.flushdb()
    owners = set()
    for key in KEYS:
        assert await kv.set(key, key.upper())
        owners.add(cluster.primary_of(key).port)
        assert cluster.primary_of(key).command("GET", key) == key.upper().encode()
    assert len(owners) == 2  # both primaries were reached, each over TLS
    assert await kv.exists(*KEYS) == len(KEYS)  # split by slot, parts sent to both nodes
    p = kv.pipeline()
    for key in KEYS:
        p.get(key)
    assert await p.execute() == [key.upper() for key in KEYS]
    assert await kv.dbsize() == len(KEYS)


async def test_tls_settings_reach_every_node(
    tls_cluster: RedisCluster, tls_files: TLSFiles
) -> None:
    async with AsyncClient(
        driver="cluster",
        cluster_nodes=_node_list(tls_cluster),
        tls=True,
        tls_ca_certs=tls_files.ca_file,
        tls_certfile=tls_files.client_cert_file,
        tls_keyfile=tls_files.client_key_file,
    ) as kv:
        await _exercise(kv, tls_cluster)
    assert kv.settings.masked_url.startswith("rediss+cluster://")


async def test_tls_settings_from_the_environment(
    tls_cluster: RedisCluster, tls_files: TLSFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_CLUSTER_NODES", ",".join(_node_list(tls_cluster)))
    monkeypatch.setenv("REDIS_TLS", "true")
    monkeypatch.setenv("REDIS_TLS_CA_CERTS", str(tls_files.ca_file))
    monkeypatch.setenv("REDIS_TLS_CERTFILE", str(tls_files.client_cert_file))
    monkeypatch.setenv("REDIS_TLS_KEYFILE", str(tls_files.client_key_file))
    async with AsyncClient() as kv:
        assert kv.settings.driver == "cluster"
        await _exercise(kv, tls_cluster)


async def test_a_rediss_cluster_url(tls_cluster: RedisCluster, tls_files: TLSFiles) -> None:
    url = (
        f"{tls_cluster.url}?ssl_ca_certs={tls_files.ca_file}"
        f"&ssl_certfile={tls_files.client_cert_file}&ssl_keyfile={tls_files.client_key_file}"
    )
    async with AsyncClient.from_url(url) as kv:
        await _exercise(kv, tls_cluster)


async def test_subscriptions_on_a_tls_cluster(
    tls_cluster: RedisCluster, tls_files: TLSFiles
) -> None:
    async with AsyncClient(
        driver="cluster",
        cluster_nodes=_node_list(tls_cluster),
        tls=True,
        tls_ca_certs=tls_files.ca_file,
        tls_certfile=tls_files.client_cert_file,
        tls_keyfile=tls_files.client_key_file,
    ) as kv:
        async with kv.subscribe("tls:news") as sub:
            assert await kv.publish("tls:news", "hello") == 1
            message = await sub.get(timeout=10)
        assert message is not None
        assert (message.channel, message.data) == ("tls:news", "hello")


async def test_without_a_client_certificate_the_nodes_refuse(
    tls_cluster: RedisCluster, tls_files: TLSFiles
) -> None:
    async with AsyncClient(
        driver="cluster",
        cluster_nodes=_node_list(tls_cluster),
        tls=True,
        tls_ca_certs=tls_files.ca_file,
        retry_attempts=0,
    ) as kv:
        with pytest.raises(KVConnectionError):
            await kv.ping()


async def test_a_wrong_ca_fails_with_tls_error(tls_cluster: RedisCluster, tmp_path: Path) -> None:
    other = make_tls_files(tmp_path / "other")  # a CA that did not sign the nodes' certificates
    async with AsyncClient(
        driver="cluster",
        cluster_nodes=_node_list(tls_cluster),
        tls=True,
        tls_ca_certs=other.ca_file,
        tls_certfile=other.client_cert_file,
        tls_keyfile=other.client_key_file,
    ) as kv:
        with pytest.raises(TLSError, match="certificate"):
            await kv.get("k")


async def test_a_plain_client_cannot_talk_to_the_tls_cluster(tls_cluster: RedisCluster) -> None:
    async with AsyncClient(
        driver="cluster", cluster_nodes=_node_list(tls_cluster), retry_attempts=0
    ) as kv:
        with pytest.raises(KVConnectionError):
            await kv.ping()
