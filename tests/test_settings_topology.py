"""Sentinel and TLS settings: URL forms, environment variables, refused combinations."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from aiokv import AsyncClient, KVSettings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("KV_", "REDIS_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_a_sentinel_url_gives_the_sentinels_the_master_and_the_database() -> None:
    s = KVSettings(url="redis+sentinel://app:S3cr3t@s1,s2:26380,[::1]/mymaster/2")
    assert s.driver == "redis"
    assert s.sentinels == ("s1:26379", "s2:26380", "[::1]:26379")
    assert (s.sentinel_master, s.db, s.username) == ("mymaster", 2, "app")
    assert s.password is not None
    assert s.password.get_secret_value() == "S3cr3t"
    assert not s.tls
    for text in (repr(s), s.masked_url, s.model_dump_json(), str(s.model_dump())):
        assert "S3cr3t" not in text


def test_a_rediss_sentinel_url_means_tls() -> None:
    s = KVSettings(url="rediss+sentinel://s1/mymaster?ssl_cert_reqs=none")
    assert (s.tls, s.tls_cert_reqs, s.tls_check_hostname, s.db) == (True, "none", False, 0)


def test_sentinel_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KV_DRIVER", "redis")
    monkeypatch.setenv("REDIS_SENTINELS", "10.0.0.1:26379, 10.0.0.2")
    monkeypatch.setenv("REDIS_SENTINEL_MASTER", "cache")
    monkeypatch.setenv("REDIS_SENTINEL_PASSWORD", "S3cr3t")
    kv = AsyncClient()
    s = kv.settings
    assert s.sentinels == ("10.0.0.1:26379", "10.0.0.2:26379")
    assert s.masked_url == "redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/cache/0"
    assert "S3cr3t" not in repr(kv) + repr(s) + s.model_dump_json()


def test_keyword_sentinels_set_aside_a_url_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://env-host:6379/5")
    s = KVSettings(sentinels=[("h1", 1), "h2:2"], sentinel_master="m")
    assert (s.url, s.sentinels, s.driver) == (None, ("h1:1", "h2:2"), "redis")


def test_tls_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not checked until a connection is made")
    monkeypatch.setenv("REDIS_TLS", "true")
    monkeypatch.setenv("REDIS_TLS_CA_CERTS", str(ca))
    monkeypatch.setenv("REDIS_TLS_CERT_REQS", "optional")
    s = KVSettings(driver="redis")
    assert (s.tls, s.tls_ca_certs, s.tls_cert_reqs, s.tls_check_hostname) == (
        True,
        ca,
        "optional",
        True,
    )
    assert s.masked_url.startswith("rediss://")


@pytest.mark.parametrize(
    ("env", "needles"),
    [
        ({"REDIS_SENTINELS": "s1"}, ["REDIS_SENTINEL_MASTER"]),
        ({"REDIS_SENTINEL_MASTER": "m"}, ["REDIS_SENTINEL_MASTER", "REDIS_SENTINELS"]),
        ({"REDIS_SENTINEL_PASSWORD": "pw"}, ["REDIS_SENTINEL_PASSWORD", "REDIS_SENTINELS"]),
        ({"REDIS_SENTINELS": "s1:0", "REDIS_SENTINEL_MASTER": "m"}, ["REDIS_SENTINELS"]),
        ({"REDIS_SENTINELS": "s1,,s2", "REDIS_SENTINEL_MASTER": "m"}, ["REDIS_SENTINELS"]),
        ({"REDIS_TLS_CERT_REQS": "none"}, ["REDIS_TLS_CERT_REQS", "REDIS_TLS"]),
        ({"REDIS_TLS": "true", "REDIS_TLS_CERT_REQS": "maybe"}, ["REDIS_TLS_CERT_REQS"]),
        ({"REDIS_TLS": "true", "REDIS_TLS_CA_CERTS": "/no/such/ca.pem"}, ["REDIS_TLS_CA_CERTS"]),
        (
            {"REDIS_TLS": "true", "REDIS_TLS_CERT_REQS": "none", "REDIS_TLS_CHECK_HOSTNAME": "1"},
            ["REDIS_TLS_CHECK_HOSTNAME", "REDIS_TLS_CERT_REQS"],
        ),
        ({"REDIS_TLS": "true", "REDIS_TLS_KEYFILE": "/etc/hostname"}, ["REDIS_TLS_CERTFILE"]),
        ({"REDIS_TLS": "true", "REDIS_URL": "unix:///run/redis.sock"}, ["REDIS_TLS", "unix"]),
        ({"REDIS_TLS": "false", "REDIS_URL": "rediss://h/0"}, ["REDIS_TLS", "rediss"]),
    ],
)
def test_a_bad_combination_fails_at_construction_naming_its_variables(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], needles: list[str]
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        KVSettings()
    for needle in needles:
        assert needle in str(caught.value)


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("redis+sentinel://s1,s2", "monitored master"),
        ("redis+sentinel://s1,s2/", "monitored master"),
        ("redis+sentinel://s1,,s2/m", "empty entry"),
        ("redis+sentinel://s1:99999/m", "port"),
        ("redis+sentinel://s1/m/x", "database number"),
        ("redis+sentinel://s1/m?ssl_cert_reqs=none", "rediss"),
        ("rediss://h/0?ssl_ca_certs=/no/such/ca.pem", "readable file"),
    ],
)
def test_a_bad_topology_url_fails_at_construction(url: str, needle: str) -> None:
    with pytest.raises(ValidationError) as caught:
        KVSettings(url=url)
    assert needle in str(caught.value)


def test_a_url_tls_parameter_and_its_setting_must_agree() -> None:
    with pytest.raises(ValidationError, match="REDIS_TLS_CERT_REQS"):
        KVSettings(url="rediss://h/0?ssl_cert_reqs=none", tls_cert_reqs="required")
    s = KVSettings(url="rediss://h/0?ssl_cert_reqs=none", tls_cert_reqs="none")
    assert s.tls_cert_reqs == "none"
