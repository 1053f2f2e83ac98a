"""The pytest plugin (aiokv.testing), run the way a user runs it: a separate pytest process.

Each test writes a user's test file, runs pytest on it in a subprocess (pytester), and checks the
outcome. This suite's own conftest defines a ``kv`` fixture of its own, which would shadow the
plugin's here; the subprocess sees only the plugin.
"""

from __future__ import annotations

import os
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from docsnippets import doc_snippet
from servers import RedisServer

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]

# With aiokv installed, its pytest11 entry point loads the plugin; otherwise load it by name.
# (Both at once would register the module twice, which pytest refuses.)
_INSTALLED = any(ep.value == "aiokv.testing" for ep in entry_points(group="pytest11"))
PLUGIN_ARGS = () if _INSTALLED else ("-p", "aiokv.testing")


@pytest.fixture
def user(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A user's project: no aiokv settings in the environment, aiokv importable."""
    for name in list(os.environ):
        if name.startswith(("KV_", "REDIS_", "AIOKV_")):
            monkeypatch.delenv(name)
    path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), path])))
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    return pytester


def run(user: pytest.Pytester, *args: str) -> pytest.RunResult:
    # In file order: one test below checks what the test before it left (pytest-randomly would
    # shuffle them).
    options = ("-p", "no:cacheprovider", "-p", "no:randomly")
    return user.runpytest_subprocess(*PLUGIN_ARGS, *options, *args, timeout=120)


def server_keys(server: RedisServer) -> list[str]:
    reply = server.command("KEYS", "*")
    assert isinstance(reply, list)
    return sorted(k.decode() if isinstance(k, bytes) else str(k) for k in reply)


@pytest.fixture
def server(redis_server: RedisServer) -> RedisServer:
    redis_server.command("FLUSHDB")
    return redis_server


# -- memory driver (the default) -----------------------------------------------------------------


def test_readme_test_file_passes(user: pytest.Pytester) -> None:
    user.makepyfile(test_user=doc_snippet("test_user.py"))
    run(user).assert_outcomes(passed=3)


ISOLATION = """
import pytest

@pytest.mark.asyncio
async def test_first_writes(kv):
    assert await kv.get("shared") is None
    await kv.set("shared", "from the first test")
    assert await kv.keys() == ["shared"]

@pytest.mark.asyncio
async def test_second_sees_nothing(kv):
    assert await kv.get("shared") is None
    assert await kv.keys() == []
    await kv.set("shared", "from the second test")
"""


def test_each_test_gets_a_fresh_store_in_strict_mode(user: pytest.Pytester) -> None:
    user.makepyfile(test_isolation=ISOLATION)
    run(user, "-p", "no:randomly").assert_outcomes(passed=2)


def test_works_in_auto_mode_without_marks(user: pytest.Pytester) -> None:
    user.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    user.makepyfile(test_auto=ISOLATION.replace("@pytest.mark.asyncio\n", ""))
    run(user).assert_outcomes(passed=2)


def test_clients_are_closed_after_each_test(user: pytest.Pytester) -> None:
    user.makepyfile(
        test_closing="""
        import asyncio
        import pytest

        seen = {}

        @pytest.mark.asyncio
        async def test_uses_clients(kv, kv_factory):
            await kv.set("k", "v")
            other = kv_factory(key_prefix="other:")
            await other.set("k", "v")
            unused = kv_factory()
            seen.update(kv=kv, other=other, unused=unused, loop=asyncio.get_running_loop())
            assert not kv.closed

        @pytest.mark.asyncio
        async def test_they_were_closed(kv):
            assert seen["kv"].closed and seen["other"].closed and seen["unused"].closed
            assert kv is not seen["kv"] and not kv.closed
            assert asyncio.get_running_loop() is not seen["loop"]  # a loop per test
        """
    )
    run(user).assert_outcomes(passed=2)


def test_kv_factory_applies_settings(user: pytest.Pytester) -> None:
    user.makepyfile(
        test_factory="""
        import pytest

        @pytest.mark.asyncio
        async def test_prefix_and_default_ttl(kv_factory):
            cache = kv_factory(key_prefix="cache:", default_ttl=30)
            assert cache.settings.driver == "memory"
            assert cache.settings.key_prefix == "cache:"
            await cache.set("page", "<html>")
            assert 29 <= await cache.ttl("page") <= 30
            await cache.set("forever", "x", ttl=None)
            assert await cache.ttl("forever") == -1
            assert sorted(await cache.keys()) == ["forever", "page"]

        @pytest.mark.asyncio
        async def test_memory_limits(kv_factory):
            small = kv_factory(memory_max_keys=2, memory_eviction_policy="allkeys-lru")
            for key in "abc":
                await small.set(key, key)
            assert await small.dbsize() == 2
        """
    )
    run(user).assert_outcomes(passed=2)


def test_fixtures_ignore_the_environment_and_dotenv(
    user: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A developer's settings must not turn a unit test into one against their server.
    monkeypatch.setenv("KV_DRIVER", "redis")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("KV_DEFAULT_TTL", "5")
    user.makefile(".env", "KV_KEY_PREFIX=from-dotenv:\nREDIS_HOST=nowhere.invalid\n")
    user.makepyfile(
        test_env="""
        import pytest

        @pytest.mark.asyncio
        async def test_plain_memory_client(kv):
            assert kv.settings.driver == "memory"
            assert kv.settings.key_prefix == ""
            assert kv.settings.default_ttl is None
            await kv.set("k", "v")
            assert await kv.ttl("k") == -1
        """
    )
    run(user).assert_outcomes(passed=1)


def test_no_report_header_on_the_memory_driver(user: pytest.Pytester) -> None:
    user.makepyfile(test_nothing="def test_nothing(): pass")
    result = run(user)
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("aiokv:*")


def test_module_scoped_event_loop(user: pytest.Pytester) -> None:
    user.makeini("[pytest]\nasyncio_default_fixture_loop_scope = module\n")
    user.makepyfile(
        test_module_loop="""
        import pytest

        pytestmark = pytest.mark.asyncio(loop_scope="module")

        async def test_first(kv):
            await kv.set("k", "v")

        async def test_second(kv):
            assert await kv.get("k") is None
        """
    )
    run(user).assert_outcomes(passed=2)


# -- a real server, through the option -----------------------------------------------------------

SERVER_TESTS = """
import os
import pytest
import redis

URL = os.environ["SERVER_URL"]
prefixes = []

def raw_keys():
    with redis.Redis.from_url(URL, decode_responses=True) as raw:
        return sorted(raw.keys("*"))

@pytest.mark.asyncio
async def test_first(kv):
    assert kv.settings.driver == "redis"
    prefix = kv.settings.key_prefix
    assert prefix.startswith("aiokv-test:") and prefix.endswith(":")
    prefixes.append(prefix)
    await kv.set("shared", "first")
    await kv.hset("profile", "name", "Ada")
    assert sorted(await kv.keys()) == ["profile", "shared"]
    assert raw_keys() == sorted(["outsider", prefix + "profile", prefix + "shared"])

@pytest.mark.asyncio
async def test_second(kv, kv_factory):
    prefix = kv.settings.key_prefix
    assert prefix not in prefixes
    prefixes.append(prefix)
    assert await kv.get("shared") is None  # the first test's keys are gone
    assert raw_keys() == ["outsider"]
    cache = kv_factory(key_prefix="cache:", default_ttl=30)
    assert cache.settings.key_prefix == prefix + "cache:"
    await cache.set("page", "<html>")
    assert 29 <= await cache.ttl("page") <= 30
    assert await kv.get("cache:page") == "<html>"  # one prefix per test, shared by its clients
    await kv.set("shared", "second")

@pytest.mark.asyncio
async def test_failing_test_is_cleaned_up_too(kv):
    await kv.set("leftover", "x")
    assert False, "fails on purpose"

@pytest.mark.asyncio
async def test_closed_client_is_cleaned_up_too(kv):
    await kv.set("leftover", "x")
    await kv.aclose()
"""


def test_option_points_fixtures_at_a_server(user: pytest.Pytester, server: RedisServer) -> None:
    server.command("SET", "outsider", "kept")
    user.makepyfile(test_server=SERVER_TESTS)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SERVER_URL", server.url)
        result = run(user, f"--aiokv-url={server.url}", "-p", "no:randomly")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [f"aiokv: kv fixtures on {server.url}, each test under aiokv-test:*"]
    )
    assert server_keys(server) == ["outsider"]  # every test's keys deleted, nothing else


def test_env_var_points_fixtures_at_a_server(
    user: pytest.Pytester, server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.command("SET", "outsider", "kept")
    user.makepyfile(test_server=SERVER_TESTS)
    monkeypatch.setenv("SERVER_URL", server.url)
    monkeypatch.setenv("AIOKV_TEST_URL", server.url)
    run(user, "-p", "no:randomly").assert_outcomes(passed=3, failed=1)
    assert server_keys(server) == ["outsider"]


def test_readme_test_file_passes_against_a_server(
    user: pytest.Pytester, server: RedisServer
) -> None:
    user.makepyfile(test_user=doc_snippet("test_user.py"))
    run(user, "--aiokv-url", server.url).assert_outcomes(passed=3)
    assert server_keys(server) == []


def test_password_is_masked_in_the_header(user: pytest.Pytester) -> None:
    user.makepyfile(test_nothing="def test_nothing(): pass")
    result = run(user, "--aiokv-url", "redis://:s3cret@127.0.0.1:1/0")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["aiokv: kv fixtures on redis://:***@127.0.0.1:1/0*"])
    result.stdout.no_fnmatch_line("*s3cret*")


def test_bad_url_is_a_usage_error(user: pytest.Pytester) -> None:
    user.makepyfile(test_nothing="def test_nothing(): pass")
    result = run(user, "--aiokv-url", "http://example.invalid/")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--aiokv-url*unsupported URL scheme*"])


# -- without pytest-asyncio ----------------------------------------------------------------------


def test_without_pytest_asyncio_the_fixtures_say_what_to_install(
    user: pytest.Pytester,
) -> None:
    # Shadow pytest-asyncio with a module that cannot be imported, and block its plugin.
    user.makepyfile(pytest_asyncio="raise ImportError('not installed here')")
    user.makepyfile(
        test_no_asyncio="""
        def test_wants_kv(kv):
            pass

        def test_other():
            pass
        """
    )
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PYTHONPATH", os.pathsep.join([str(user.path), os.environ["PYTHONPATH"]]))
        result = run(user, "-p", "no:asyncio")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*need pytest-asyncio: pip install pytest-asyncio*"])
