"""The client's lifetime, construction, settings and key prefix, on both drivers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from aiokv import AsyncClient, ClientClosedError, InvalidArgumentError, KVSettings


async def test_opens_on_first_use_and_closes_idempotently(
    make_client: Callable[..., AsyncClient],
) -> None:
    kv = make_client()
    assert "state=unopened" in repr(kv)
    assert await kv.set("k", "v") is True
    assert "state=open" in repr(kv)
    await kv.aclose()
    await kv.aclose()
    assert kv.closed
    with pytest.raises(ClientClosedError, match="closed"):
        await kv.get("k")
    with pytest.raises(RuntimeError):
        await kv.set("k", "v")
    with pytest.raises(ClientClosedError):
        async with kv:
            pass


async def test_closing_an_unopened_client(make_client: Callable[..., AsyncClient]) -> None:
    kv = make_client()
    await kv.aclose()
    with pytest.raises(ClientClosedError):
        await kv.ping()


async def test_concurrent_first_use_opens_once(make_client: Callable[..., AsyncClient]) -> None:
    kv = make_client()
    try:
        results = await asyncio.gather(*(kv.incr("n") for _ in range(200)))
        assert sorted(results) == list(range(1, 201))
    finally:
        await kv.flushdb()
        await kv.aclose()


async def test_concurrent_incr_is_exact(kv: AsyncClient) -> None:
    await asyncio.gather(*(kv.incr("hits") for _ in range(1000)))
    assert await kv.get("hits") == "1000"


async def test_key_prefix_isolates_and_is_stripped(
    kv: AsyncClient, make_client: Callable[..., AsyncClient]
) -> None:
    if kv.settings.driver == "memory":
        pytest.skip("two memory clients never share a store; the prefix is checked on redis")
    async with make_client(key_prefix="app[1]:") as app:
        await app.set("user:1", "a")
        await app.hset("h", "f", "v")
        await kv.set("user:2", "outside")
        assert await kv.get("app[1]:user:1") == "a"
        assert sorted(await app.keys()) == ["h", "user:1"]
        assert [k async for k in app.scan_iter("user:*")] == ["user:1"]
        assert await app.dbsize() == 2
        assert await app.exists("user:1", "user:2") == 1
        await app.flushdb()
        assert await app.dbsize() == 0
        assert await kv.get("user:2") == "outside"


async def test_key_prefix_on_one_client(make_client: Callable[..., AsyncClient]) -> None:
    async with make_client(key_prefix="t:") as kv:
        await kv.flushdb()
        await kv.set("a", 1)
        await kv.lpush("q", "x")
        assert sorted(await kv.keys("*")) == ["a", "q"]
        assert await kv.delete("a", "q") == 2
        assert await kv.keys() == []


async def test_default_ttl_applies_only_when_ttl_is_omitted(
    make_client: Callable[..., AsyncClient],
) -> None:
    async with make_client(default_ttl=timedelta(seconds=60)) as kv:
        await kv.flushdb()
        await kv.set("d", "v")
        await kv.set("none", "v", ttl=None)
        await kv.set("own", "v", ttl=5)
        assert 59 <= await kv.ttl("d") <= 60
        assert await kv.ttl("none") == -1
        assert 4 <= await kv.ttl("own") <= 5


async def test_async_with_returns_the_client(make_client: Callable[..., AsyncClient]) -> None:
    client = make_client()
    async with client as kv:
        assert kv is client
        assert await kv.ping() is True
    assert client.closed


async def test_invalid_arguments_fail_at_call(kv: AsyncClient) -> None:
    with pytest.raises(InvalidArgumentError):
        kv.set("k", "v", nx=True, xx=True)
    with pytest.raises(InvalidArgumentError):
        kv.lpush("k")
    with pytest.raises(InvalidArgumentError):
        kv.hset("k")
    with pytest.raises(TypeError, match="set_json"):
        kv.set("k", {"a": 1})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="set_json"):
        kv.set("k", True)
    with pytest.raises(TypeError, match="ttl"):
        kv.set("k", "v", ttl="10")  # type: ignore[arg-type]
    assert await kv.exists("k") == 0


async def test_empty_key_lists_return_zero(kv: AsyncClient) -> None:
    assert await kv.delete() == 0
    assert await kv.exists() == 0
    assert await kv.hdel("h") == 0


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KV_DRIVER", "redis")
    monkeypatch.setenv("REDIS_HOST", "cache.internal")
    monkeypatch.setenv("REDIS_PORT", "6380")
    monkeypatch.setenv("REDIS_DB", "3")
    monkeypatch.setenv("REDIS_PASSWORD", "hunter2")
    monkeypatch.setenv("HOST", "not-this")
    monkeypatch.setenv("PORT", "1")
    s = KVSettings()
    assert (s.driver, s.host, s.port, s.db) == ("redis", "cache.internal", 6380, 3)
    assert s.password is not None
    assert s.password.get_secret_value() == "hunter2"
    assert "hunter2" not in repr(s)
    assert "hunter2" not in s.masked_url
    # Keyword arguments win over the environment.
    assert KVSettings(port=7000).port == 7000


def test_settings_from_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("REDIS_PORT=6390\nKV_KEY_PREFIX=app:\nSECRET_KEY=unrelated\n")
    s = KVSettings()
    assert s.port == 6390
    assert s.key_prefix == "app:"


@pytest.mark.parametrize(
    ("variable", "value"),
    [("REDIS_PORT", "70000"), ("KV_DRIVER", "mongodb"), ("REDIS_DB", "-1")],
)
def test_invalid_setting_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=variable):
        AsyncClient()


def test_unknown_keyword_is_refused() -> None:
    with pytest.raises(ValidationError, match="hots"):
        AsyncClient(hots="localhost")


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("memory://", "memory"),
        ("redis://localhost:6379/0", "redis"),
        ("rediss://user:pw@localhost:6380/1", "redis"),
        ("unix:///tmp/redis.sock?db=2", "redis"),
    ],
)
def test_from_url_picks_the_driver(url: str, driver: str) -> None:
    kv = AsyncClient.from_url(url)
    assert kv.settings.driver == driver
    assert "pw" not in repr(kv)


def test_bad_url_scheme() -> None:
    with pytest.raises(ValidationError, match=r"redis://"):
        AsyncClient.from_url("http://localhost")


def test_settings_object_with_overrides() -> None:
    base = KVSettings(driver="redis", host="h", port=7001)
    kv = AsyncClient(base, port=7002)
    assert (kv.settings.host, kv.settings.port) == ("h", 7002)
    assert AsyncClient(base).settings is base


async def test_command_methods_mock_as_coroutines() -> None:
    from unittest.mock import create_autospec

    mock = create_autospec(AsyncClient, instance=True)
    mock.get.return_value = "cached"
    assert await mock.get("k") == "cached"
    mock.get.assert_awaited_once_with("k")


@pytest.mark.parametrize(
    "url",
    [
        "redis://user:s3cret@localhost:6379/0",
        "redis://:s3cret@localhost:6379/0",
        "unix:///tmp/redis.sock?db=1&password=s3cret",
        "rediss://localhost:6380/0?password=s3cret&ssl_cert_reqs=none",
    ],
)
def test_passwords_never_show(url: str) -> None:
    kv = AsyncClient.from_url(url)
    for text in (repr(kv), repr(kv.settings), kv.settings.masked_url):
        assert "s3cret" not in text
        assert "***" in text
