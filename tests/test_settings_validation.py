"""KVSettings: validated whole at construction, secrets never shown, keywords beat the environment.

Every test runs in an empty directory (no ``.env``) with no ``KV_*`` or ``REDIS_*`` variable set,
unless it sets them itself.
"""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from servers import RedisServer

from aiokv import AsyncClient, KVSettings, PermissionDeniedError
from aiokv._settings import MAX_TTL_SECONDS, MIN_TTL_SECONDS, mask_url


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("KV_", "REDIS_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def error_text(error: BaseException) -> str:
    """Everything a traceback of ``error`` would print, chained causes included."""
    return "".join(traceback.format_exception(error))


# -- the URL, checked at construction ------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("redis://h:6379/1x", "database number"),
        ("redis://h:6379/-1", "database number"),
        ("redis://h:6379/0/1", "database number"),
        ("redis://h:abc/0", "port"),
        ("redis://h:70000/0", "port"),
        ("redis://h:0/0", "port"),
        ("redis://h/0?db=abc", "'db'"),
        ("redis://h/0?db=-2", "'db'"),
        ("redis://h/1?db=2", "'db'"),
        ("redis://h/0?socket_timeout=abc", "'socket_timeout'"),
        ("redis://h/0?socket_timeout=3", "REDIS_SOCKET_TIMEOUT"),
        ("redis://h/0?max_connections=3", "REDIS_MAX_CONNECTIONS"),
        ("redis://h/0?colour=blue", "'colour'"),
        ("redis://h/0?db=1&db=2", "'db'"),
        ("redis://h/0?ssl_cert_reqs=none", "rediss://"),
        ("rediss://h/0?ssl_cert_reqs=maybe", "'ssl_cert_reqs'"),
        ("rediss://h/0?ssl_check_hostname=perhaps", "'ssl_check_hostname'"),
        ("redis://h/0#top", "#"),
        ("unix://", "socket path"),
        ("unix://?db=1", "socket path"),
        ("unix://tmp/redis.sock", "unix:///"),
        ("unix:///tmp/redis.sock?db=x", "'db'"),
        ("memory://somewhere", "memory://"),
        ("http://h/0", "redis://"),
        ("localhost:6379", "redis://"),
    ],
)
def test_a_url_aiokv_cannot_honour_fails_at_construction(url: str, needle: str) -> None:
    with pytest.raises(ValidationError, match=r"(?m)^url$") as caught:
        KVSettings(url=url)
    assert needle in str(caught.value)


def test_a_bad_url_in_the_environment_fails_when_the_client_is_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://cache.internal:6379/1x")
    with pytest.raises(ValidationError, match="REDIS_URL"):
        AsyncClient()


@pytest.mark.parametrize(
    ("url", "host", "port", "db"),
    [
        ("redis://cache.internal:6380/3", "cache.internal", 6380, 3),
        ("redis://cache.internal", "cache.internal", 6379, 0),
        ("redis://cache.internal/", "cache.internal", 6379, 0),
        ("redis://cache.internal?db=5", "cache.internal", 6379, 5),
        ("redis://cache.internal/5?db=5", "cache.internal", 6379, 5),
        ("redis://[::1]:6390/2", "::1", 6390, 2),
        ("rediss://u:pw@cache.internal:6380/1?ssl_cert_reqs=none", "cache.internal", 6380, 1),
        ("redis://", "localhost", 6379, 0),
    ],
)
def test_the_fields_show_what_the_url_says(url: str, host: str, port: int, db: int) -> None:
    s = KVSettings(url=url)
    assert (s.driver, s.host, s.port, s.db) == ("redis", host, port, db)


def test_a_unix_url_gives_its_database() -> None:
    s = KVSettings(url="unix:///run/redis.sock?db=4&password=pw")
    assert (s.driver, s.db) == ("redis", 4)
    assert s.password is not None
    assert s.password.get_secret_value() == "pw"


def test_an_accepted_url_is_what_redis_py_reads() -> None:
    from redis.asyncio.connection import parse_url

    s = KVSettings(url="rediss://me:p%40ss@cache.internal:6380/2?ssl_cert_reqs=none")
    assert s.url is not None
    assert parse_url(s.url) | {"connection_class": None} == {
        "username": "me",
        "password": "p@ss",
        "host": "cache.internal",
        "port": 6380,
        "db": 2,
        "ssl_cert_reqs": "none",
        "connection_class": None,
    }


# -- KV_DEFAULT_TTL ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "0.00001", "0", "-1", "1e20", "abc"])
def test_a_default_ttl_no_set_could_use_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("KV_DEFAULT_TTL", value)
    with pytest.raises(ValidationError, match="KV_DEFAULT_TTL"):
        KVSettings()


def test_default_ttl_bounds_are_inclusive() -> None:
    assert KVSettings(default_ttl=MIN_TTL_SECONDS).default_ttl == MIN_TTL_SECONDS
    assert KVSettings(default_ttl=MAX_TTL_SECONDS).default_ttl == MAX_TTL_SECONDS
    with pytest.raises(ValidationError, match="default_ttl"):
        KVSettings(default_ttl=MAX_TTL_SECONDS * 1.01)


async def test_the_longest_default_ttl_is_one_the_store_accepts(
    make_client: Callable[..., AsyncClient],
) -> None:
    async with make_client(default_ttl=MAX_TTL_SECONDS) as kv:
        await kv.set("far", "v")
        assert await kv.get("far") == "v"
        assert await kv.pttl("far") > 0


async def test_the_shortest_default_ttl_is_one_the_store_accepts(
    make_client: Callable[..., AsyncClient],
) -> None:
    async with make_client(default_ttl=MIN_TTL_SECONDS) as kv:
        await kv.set("soon", "v")  # no InvalidArgumentError: 1 ms is a valid PX


# -- secrets -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://u:S3cr3t@h/0",
        "redis://u:S3cr3t@h:abc/0",
        "redis://u:S3cr3t@h/1x",
        "redis://u:S3cr3t@h/0?colour=blue",
        "redis://h/0?password=S3cr3t&colour=blue",
        "rediss://h/0?ssl_password=S3cr3t&colour=blue",
        "redis://admin:S3cr3t",  # the host was forgotten: the password reads as a port
        "unix://admin:S3cr3t@",
    ],
)
def test_a_validation_error_never_shows_the_password(url: str) -> None:
    with pytest.raises(ValidationError) as caught:
        KVSettings(url=url)
    assert "S3cr3t" not in error_text(caught.value)


def test_a_validation_error_never_echoes_its_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_PORT", "S3cr3t")  # a password pasted into the wrong variable
    with pytest.raises(ValidationError, match="REDIS_PORT") as caught:
        KVSettings()
    assert "S3cr3t" not in error_text(caught.value)


PASSWORDS = ["se/cr3t", "se@cr3t", "se:cr3t", "se#cr3t", "se?cr3t", "s/e@c:r#e?t", "se%2Fcr3t"]


@pytest.mark.parametrize("password", PASSWORDS)
def test_any_password_character_is_masked(password: str) -> None:
    url = f"redis://user:{password}@cache.internal:6379/0"
    kv = AsyncClient.from_url(url)
    s = kv.settings
    for text in (repr(kv), repr(s), s.masked_url, s.model_dump_json(), str(s.model_dump())):
        assert "cr3t" not in text, text
    assert s.masked_url == "redis://user:***@cache.internal:6379/0"
    assert mask_url(url) == "redis://user:***@cache.internal:6379/0"


@pytest.mark.parametrize("password", PASSWORDS)
def test_a_raw_password_in_the_url_is_the_password(password: str) -> None:
    from redis.asyncio.connection import parse_url

    s = KVSettings(url=f"redis://user:{password}@cache.internal:6379/0")
    assert s.password is not None
    expected = password.replace("%2F", "/")  # percent-encoded characters are decoded once
    assert s.password.get_secret_value() == expected
    assert s.url is not None
    parsed = parse_url(s.url)
    assert (parsed["password"], parsed["host"], parsed["db"]) == (expected, "cache.internal", 0)


@pytest.mark.parametrize(
    "settings",
    [
        {"url": "redis://u:S3cr3t@h:6379/0"},
        {"url": "unix:///run/redis.sock?db=1&password=S3cr3t"},
        {"url": "rediss://h/0?ssl_password=S3cr3t&ssl_cert_reqs=none"},
        {"driver": "redis", "password": "S3cr3t"},
    ],
)
def test_dumps_hide_every_password(settings: dict[str, Any]) -> None:
    s = KVSettings(**settings)
    dumped = s.model_dump_json()
    assert "S3cr3t" not in dumped
    assert "S3cr3t" not in json.dumps(s.model_dump(mode="json"))
    assert "S3cr3t" not in repr(s.model_dump())
    assert "S3cr3t" not in repr(s)


def test_a_dump_rebuilds_the_same_settings() -> None:
    s = KVSettings(url="redis://u:S3cr3t@h:6379/0", password="other")
    again = KVSettings(**s.model_dump(include=s.model_fields_set))
    assert again.url == s.url
    assert again.password == s.password


# -- keywords beat the environment ---------------------------------------------------------------


def test_keywords_beat_a_url_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://:S3cr3t@env-host:6379/5")
    kv = AsyncClient(driver="redis", host="10.1.2.3", port=6400)
    s = kv.settings
    assert (s.url, s.host, s.port, s.db, s.password) == (None, "10.1.2.3", 6400, 0, None)
    assert "10.1.2.3:6400" in repr(kv)
    assert "env-host" not in repr(kv)


def test_a_url_in_the_environment_still_picks_the_driver(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://env-host:6379/5")
    s = KVSettings(host="10.1.2.3")
    assert (s.driver, s.url, s.host, s.port) == ("redis", None, "10.1.2.3", 6379)
    monkeypatch.setenv("KV_DRIVER", "memory")
    assert KVSettings(host="10.1.2.3").driver == "memory"


def test_the_environment_beats_a_url_in_dotenv(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("REDIS_URL=redis://dotenv-host:6379/5\n")
    monkeypatch.setenv("REDIS_PORT", "6401")
    s = KVSettings()
    assert (s.driver, s.url, s.host, s.port, s.db) == ("redis", None, "localhost", 6401, 0)


def test_within_one_source_the_url_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://env-host:6379/5")
    monkeypatch.setenv("REDIS_HOST", "other-host")
    s = KVSettings()
    assert (s.url, s.host, s.db) == ("redis://env-host:6379/5", "env-host", 5)
    s = KVSettings(url="redis://kw-host:6379/1", host="kw-other")
    assert (s.host, s.db) == ("kw-host", 1)


def test_a_keyword_url_beats_environment_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_HOST", "env-host")
    monkeypatch.setenv("REDIS_URL", "redis://env-url:6379/3")
    s = KVSettings(url="redis://kw-host:6390/1")
    assert (s.url, s.host, s.port, s.db) == ("redis://kw-host:6390/1", "kw-host", 6390, 1)


def test_overrides_of_a_settings_object_beat_its_url() -> None:
    base = KVSettings(url="redis://base-host:6379/5", key_prefix="app:")
    kv = AsyncClient(base, host="10.1.2.3", port=6400)
    s = kv.settings
    assert (s.driver, s.url, s.host, s.port, s.db) == ("redis", None, "10.1.2.3", 6400, 0)
    assert s.key_prefix == "app:"


def test_fields_from_one_source_merge_with_another(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_HOST", "env-host")
    monkeypatch.setenv("REDIS_PASSWORD", "S3cr3t")
    s = KVSettings(driver="redis", port=6400)
    assert (s.host, s.port) == ("env-host", 6400)
    assert s.password is not None


# -- against a real server -----------------------------------------------------------------------


@pytest.fixture
def acl_user(redis_server: RedisServer) -> Iterator[Callable[..., str]]:
    """Create ACL users on the session's server; each is deleted after the test."""
    made: list[str] = []

    def make(name: str, password: str, *rules: str) -> str:
        redis_server.command("ACL", "SETUSER", name, "reset", "on", f">{password}", *rules)
        made.append(name)
        return name

    yield make
    for name in made:
        redis_server.command("ACL", "DELUSER", name)


async def test_a_command_the_acl_user_may_not_run_raises_permission_denied(
    redis_server: RedisServer, acl_user: Callable[..., str]
) -> None:
    user = acl_user("aiokv-readonly", "pw", "~*", "+get", "+ping")
    async with AsyncClient(
        driver="redis", host=redis_server.host, port=redis_server.port, username=user, password="pw"
    ) as kv:
        assert await kv.get("nothing") is None
        with pytest.raises(PermissionDeniedError, match="NOPERM") as caught:
            await kv.set("k", "v")
    assert "set" in str(caught.value).lower()


async def test_a_raw_password_with_url_characters_logs_in(
    redis_server: RedisServer, acl_user: Callable[..., str]
) -> None:
    password = "s/e@c:r#e?t"
    user = acl_user("aiokv-raw", password, "~*", "+@all")
    url = f"redis://{user}:{password}@{redis_server.host}:{redis_server.port}/0"
    async with AsyncClient.from_url(url) as kv:
        assert await kv.ping() is True
        assert password not in repr(kv)
