"""aiokv.aiohttp: setup() and KV_KEY, and apps served by a real aiohttp server.

The apps served over HTTP are the README's aiohttp snippet (read from the docs) and
``examples/aiohttp_app.py``, each on a real ``web.AppRunner`` bound to a free loopback port, on
both drivers, and hit with concurrent requests.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from docsnippets import doc_snippet
from servers import RedisServer

import aiokv.aiohttp
from aiokv import AsyncClient, KVSettings
from aiokv.aiohttp import KV_KEY, get_kv, setup

ROOT = Path(__file__).resolve().parents[1]


@asynccontextmanager
async def running(app: web.Application) -> AsyncIterator[str]:
    """Serve ``app`` on a free loopback port; yield its base URL; clean up, also on failure."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
def app_env(
    request: pytest.FixtureRequest, kv_settings: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """The environment an app reads its settings from, on each driver (a flushed server)."""
    for name in list(os.environ):
        if name.startswith(("KV_", "REDIS_")):
            monkeypatch.delenv(name)
    if kv_settings["driver"] == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        server.command("FLUSHDB")
        monkeypatch.setenv("KV_DRIVER", "redis")
        monkeypatch.setenv("REDIS_URL", server.url)
    elif kv_settings["driver"] == "cluster":
        request.getfixturevalue("redis_cluster").flushall()
        monkeypatch.setenv("REDIS_URL", kv_settings["url"])  # its scheme picks the cluster driver
    return kv_settings


# -- setup() and KV_KEY --------------------------------------------------------------------------


def counter_app() -> web.Application:
    async def hit(request: web.Request) -> web.Response:
        return web.json_response({"hits": await request.app[KV_KEY].incr("hits")})

    app = web.Application()
    app.router.add_post("/hits", hit)
    return app


async def test_setup_opens_a_client_from_settings_and_closes_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KV_KEY_PREFIX", "from-env:")
    app = counter_app()
    setup(app)
    async with running(app) as url, aiohttp.ClientSession(url) as http:
        replies = await asyncio.gather(*(http.post("/hits") for _ in range(100)))
        assert sorted([(await r.json())["hits"] for r in replies]) == list(range(1, 101))
        client = app[KV_KEY]
        assert client.settings.driver == "memory"
        assert client.settings.key_prefix == "from-env:"
        assert not client.closed
    assert client.closed


async def test_startup_handlers_see_an_open_client() -> None:
    seen: list[str | None] = []

    async def on_startup(app: web.Application) -> None:
        await app[KV_KEY].set("warm", "yes")
        seen.append(await app[KV_KEY].get("warm"))

    app = counter_app()
    app.on_startup.append(on_startup)  # even when appended before setup()
    setup(app)
    async with running(app):
        assert seen == ["yes"]


async def test_setup_serves_a_given_client_and_closes_it() -> None:
    client = AsyncClient(driver="memory", key_prefix="shop:")
    app = counter_app()
    setup(app, client)
    async with running(app) as url, aiohttp.ClientSession(url) as http:
        assert await (await http.post("/hits")).json() == {"hits": 1}
        assert app[KV_KEY] is client
    assert client.closed


async def test_a_closed_given_client_cannot_serve_again() -> None:
    client = AsyncClient(driver="memory")
    await client.aclose()
    app = counter_app()
    setup(app, client)
    runner = web.AppRunner(app)
    with pytest.raises(RuntimeError, match="close=False"):
        await runner.setup()
    await runner.cleanup()


async def test_setup_close_false_leaves_the_client_open() -> None:
    async with AsyncClient(driver="memory") as client:
        app = counter_app()
        setup(app, client, close=False)
        async with running(app) as url, aiohttp.ClientSession(url) as http:
            await http.post("/hits")
        assert not client.closed
        assert await client.get("hits") == "1"


async def test_setup_with_settings() -> None:
    settings = KVSettings(driver="memory", key_prefix="app:")
    app = counter_app()
    setup(app, settings=settings)
    async with running(app):
        assert app[KV_KEY].settings is settings


def startup_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "aiokv" and r.levelname == "INFO"]


async def test_startup_logs_the_memory_driver_as_per_process(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="aiokv")
    app = counter_app()
    setup(app, AsyncClient(driver="memory"))
    async with running(app) as url, aiohttp.ClientSession(url) as http:
        await http.post("/hits")
        await http.post("/hits")
    [line] = startup_lines(caplog)
    assert "memory driver" in line
    assert "each worker process has its own" in line


async def test_startup_logs_the_server_without_its_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="aiokv")
    app = counter_app()
    setup(app, settings=KVSettings(url="redis://app:S3/cr@t@127.0.0.1:1/2"))
    async with running(app):  # opened, never connected
        pass
    assert startup_lines(caplog) == [
        "aiokv: this aiohttp app uses the redis driver on redis://app:***@127.0.0.1:1/2"
    ]


def test_setup_takes_a_client_or_settings_not_both() -> None:
    with pytest.raises(TypeError, match="not both"):
        setup(web.Application(), AsyncClient(driver="memory"), settings=KVSettings())


async def test_get_kv_looks_through_parent_apps_and_explains_a_missing_setup() -> None:
    async def child_hit(request: web.Request) -> web.Response:
        return web.json_response({"hits": await get_kv(request).incr("hits")})

    child = web.Application()
    child.router.add_post("/hits", child_hit)
    app = counter_app()
    app.add_subapp("/child", child)
    setup(app)
    async with running(app) as url, aiohttp.ClientSession(url) as http:
        await http.post("/hits")
        assert await (await http.post("/child/hits")).json() == {"hits": 2}

    bare = web.Application()
    bare.router.add_post("/child/hits", child_hit)
    async with running(bare) as url, aiohttp.ClientSession(url) as http:
        reply = await http.post("/child/hits")
        assert reply.status == 500

    from aiohttp.test_utils import make_mocked_request

    with pytest.raises(RuntimeError, match=r"call aiokv\.aiohttp\.setup\(app\)"):
        get_kv(make_mocked_request("GET", "/", app=web.Application()))


def test_kv_key_is_typed() -> None:
    assert isinstance(KV_KEY, web.AppKey)
    assert set(aiokv.aiohttp.__all__) == {
        "KV_KEY",
        "cache_response",
        "client_ip",
        "get_kv",
        "ratelimit_middleware",
        "setup",
    }


def test_import_without_aiohttp_names_the_extra() -> None:
    code = "import sys; sys.modules['aiohttp'] = None; import aiokv.aiohttp"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "ImportError" in result.stderr
    assert 'pip install "aiokv[aiohttp]"' in result.stderr


# -- the README's app and examples/aiohttp_app.py, over HTTP -------------------------------------


@pytest.fixture
def load_module(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Import a file as a fresh module (fresh routes and state), registered for the test."""

    def load(name: str, path: Path) -> ModuleType:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, name, module)
        spec.loader.exec_module(module)
        return module

    return load


async def test_readme_app_counts_concurrent_views_exactly(
    app_env: dict[str, Any], tmp_path: Path, load_module: Any
) -> None:
    path = tmp_path / "readme_aiohttp_app.py"
    path.write_text(doc_snippet("aiohttp_app.py"), encoding="utf-8")
    readme = load_module("readme_aiohttp_app", path)
    app: web.Application = readme.create_app()
    async with running(app) as url, aiohttp.ClientSession(url) as http:
        replies = await asyncio.gather(*(http.post("/posts/7/views") for _ in range(200)))
        assert {r.status for r in replies} == {200}
        assert sorted([(await r.json())["views"] for r in replies]) == list(range(1, 201))
        assert await (await http.get("/posts/7/views")).json() == {"views": 200}
        assert await (await http.get("/posts/8/views")).json() == {"views": 0}
        assert app[KV_KEY].settings.driver == app_env["driver"]


@pytest.fixture
def example(app_env: dict[str, Any], load_module: Any) -> ModuleType:
    module: ModuleType = load_module("aiohttp_example", ROOT / "examples" / "aiohttp_app.py")
    return module


async def test_example_cache_aside_queries_once_under_concurrent_misses(
    example: ModuleType,
) -> None:
    app: web.Application = example.create_app()
    db = app[example.DB_KEY]
    async with running(app) as url, aiohttp.ClientSession(url) as http:
        replies = await asyncio.gather(*(http.get("/products/1") for _ in range(50)))
        bodies = [await r.json() for r in replies]
        assert bodies == [{"id": 1, "name": "Green tea", "price_cents": 450}] * 50
        assert db.queries == 1
        assert (await http.get("/products/1")).status == 200
        assert (await http.get("/products/9")).status == 404
        assert (await http.get("/products/9")).status == 404
        assert await (await http.get("/stats")).json() == {"db_queries": 2}


async def test_example_rate_limit_allows_exactly_the_limit(example: ModuleType) -> None:
    async with running(example.create_app()) as url, aiohttp.ClientSession(url) as http:
        replies = await asyncio.gather(*(http.get("/search?q=tea") for _ in range(20)))
        allowed = [r for r in replies if r.status == 200]
        denied = [r for r in replies if r.status == 429]
        assert (len(allowed), len(denied)) == (5, 15)
        assert sorted(int(r.headers["X-RateLimit-Remaining"]) for r in allowed) == [0, 1, 2, 3, 4]
        assert all(1 <= int(r.headers["Retry-After"]) <= 10 for r in denied)
        assert len(await allowed[0].json()) == 2


async def test_example_view_counter_is_exact_under_concurrency(example: ModuleType) -> None:
    async with running(example.create_app()) as url, aiohttp.ClientSession(url) as http:
        replies = await asyncio.gather(*(http.post("/posts/1/views") for _ in range(200)))
        assert sorted([(await r.json())["views"] for r in replies]) == list(range(1, 201))
        assert await (await http.get("/posts/1/views")).json() == {"views": 200}
