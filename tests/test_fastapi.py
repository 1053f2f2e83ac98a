"""aiokv.fastapi: the lifespan, its composition, the KV dependency, and apps under real uvicorn.

The apps served over HTTP are the README's FastAPI snippet (read from the docs, so the docs cannot
drift from what works) and ``examples/fastapi_app.py``, each run by a real uvicorn process on a
free loopback port, on both drivers, and hit with concurrent requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from docsnippets import doc_snippet
from fastapi import FastAPI, Request, WebSocket
from servers import RedisServer

import aiokv.fastapi
from aiokv import AsyncClient, KVSettings
from aiokv.fastapi import KV, create_lifespan, get_kv, lifespan

with warnings.catch_warnings():  # Starlette's TestClient would rather run on httpx2
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[1]


# -- the lifespan and the dependency, in process -------------------------------------------------


def counter_app(app_lifespan: Any) -> FastAPI:
    app = FastAPI(lifespan=app_lifespan)

    @app.post("/hits")
    async def hit(kv: KV) -> dict[str, int]:
        return {"hits": await kv.incr("hits")}

    return app


def test_lifespan_opens_a_client_from_settings_and_closes_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KV_KEY_PREFIX", "from-env:")
    app = counter_app(lifespan)
    with TestClient(app) as http:
        assert [http.post("/hits").json()["hits"] for _ in range(3)] == [1, 2, 3]
        client = app.state.kv
        assert isinstance(client, AsyncClient)
        assert client.settings.driver == "memory"
        assert client.settings.key_prefix == "from-env:"
        assert not client.closed
    assert client.closed


def test_each_startup_builds_a_new_client() -> None:
    app = counter_app(lifespan)
    with TestClient(app) as http:
        assert http.post("/hits").json() == {"hits": 1}
        first = app.state.kv
    with TestClient(app) as http:
        assert http.post("/hits").json() == {"hits": 1}  # a fresh memory store
        assert app.state.kv is not first


def test_kv_without_the_lifespan_is_a_clear_error() -> None:
    app = counter_app(None)
    with TestClient(app) as http, pytest.raises(RuntimeError) as caught:
        http.post("/hits")
    assert "aiokv.fastapi.lifespan is not installed" in str(caught.value)
    assert "FastAPI(lifespan=aiokv.fastapi.lifespan)" in str(caught.value)


def test_kv_reaches_websocket_handlers() -> None:
    app = FastAPI(lifespan=lifespan)

    @app.websocket("/ws")
    async def hits(websocket: WebSocket, kv: KV) -> None:
        await websocket.accept()
        await websocket.send_json({"hits": await kv.incr("hits")})
        await websocket.close()

    with TestClient(app) as http, http.websocket_connect("/ws") as ws:
        assert ws.receive_json() == {"hits": 1}


def test_create_lifespan_runs_the_apps_lifespan_inside() -> None:
    events: list[str] = []

    @asynccontextmanager
    async def app_lifespan(app: FastAPI) -> AsyncIterator[dict[str, str]]:
        kv: AsyncClient = app.state.kv
        await kv.set("started", "yes")  # the client is open during the app's startup
        events.append("startup")
        yield {"greeting": "hello"}
        await kv.set("stopping", "yes")  # and still open during its shutdown
        events.append(f"shutdown, client closed={kv.closed}")

    app = FastAPI(lifespan=create_lifespan(app_lifespan=app_lifespan))

    @app.get("/")
    async def index(request: Request, kv: KV) -> dict[str, Any]:
        return {"greeting": request.state.greeting, "started": await kv.get("started")}

    with TestClient(app) as http:
        assert http.get("/").json() == {"greeting": "hello", "started": "yes"}
        client = app.state.kv
    assert events == ["startup", "shutdown, client closed=False"]
    assert client.closed


def test_create_lifespan_with_a_stateless_app_lifespan() -> None:
    @asynccontextmanager
    async def app_lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield

    with TestClient(counter_app(create_lifespan(app_lifespan=app_lifespan))) as http:
        assert http.post("/hits").json() == {"hits": 1}


async def test_create_lifespan_serves_a_given_client_and_closes_it() -> None:
    client = AsyncClient(driver="memory", key_prefix="shop:")
    app = counter_app(create_lifespan(client))
    with TestClient(app) as http:
        assert http.post("/hits").json() == {"hits": 1}
        assert app.state.kv is client
    assert client.closed
    # A closed client cannot serve a second startup; the error says what to do.
    with pytest.raises(RuntimeError, match="close=False"), TestClient(app):
        pass


async def test_create_lifespan_close_false_leaves_the_client_open() -> None:
    async with AsyncClient(driver="memory") as client:
        app = counter_app(create_lifespan(client, close=False))
        with TestClient(app) as http:
            assert http.post("/hits").json() == {"hits": 1}
        assert not client.closed
        assert await client.get("hits") == "1"


def test_create_lifespan_with_settings() -> None:
    settings = KVSettings(driver="memory", key_prefix="app:", default_ttl=30)
    app = counter_app(create_lifespan(settings=settings))
    with TestClient(app):
        assert app.state.kv.settings is settings


def startup_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "aiokv" and r.levelname == "INFO"]


def test_startup_logs_the_memory_driver_as_per_process(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="aiokv")
    app = counter_app(create_lifespan(settings=KVSettings(driver="memory")))
    with TestClient(app) as http:
        http.post("/hits")
        http.post("/hits")
    [line] = startup_lines(caplog)
    assert "memory driver" in line
    assert "each worker process has its own" in line


def test_startup_logs_the_server_without_its_password(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="aiokv")
    settings = KVSettings(url="redis://app:S3/cr@t@127.0.0.1:1/2")  # opened, never connected
    with TestClient(counter_app(create_lifespan(settings=settings))):
        pass
    assert startup_lines(caplog) == [
        "aiokv: this FastAPI app uses the redis driver on redis://app:***@127.0.0.1:1/2"
    ]


def test_create_lifespan_takes_a_client_or_settings_not_both() -> None:
    with pytest.raises(TypeError, match="not both"):
        create_lifespan(AsyncClient(driver="memory"), settings=KVSettings(driver="memory"))


async def test_get_kv_can_be_overridden_in_tests() -> None:
    async with AsyncClient(driver="memory") as client:
        await client.set("hits", 41)
        app = counter_app(None)
        app.dependency_overrides[get_kv] = lambda: client
        with TestClient(app) as http:
            assert http.post("/hits").json() == {"hits": 42}


async def test_lifespan_entered_by_hand_serves_through_app_state() -> None:
    # Without an ASGI server's lifespan state (httpx.ASGITransport does not run the lifespan),
    # the dependency finds the client on app.state.
    app = counter_app(lifespan)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            hits = await asyncio.gather(*(http.post("/hits") for _ in range(50)))
    assert sorted(r.json()["hits"] for r in hits) == list(range(1, 51))


def test_readme_lifespan_composition() -> None:
    namespace: dict[str, Any] = {"__name__": "readme_fastapi_lifespan"}
    exec(compile(doc_snippet("fastapi_lifespan.py"), "fastapi_lifespan.py", "exec"), namespace)
    app, kv = namespace["app"], namespace["kv"]
    with TestClient(app) as http:
        assert http.get("/").json() == {"greeting": "hello", "started": "yes"}
        assert app.state.kv is kv
        assert kv.settings.key_prefix == "shop:"
    assert kv.closed


def test_import_without_fastapi_names_the_extra() -> None:
    code = "import sys; sys.modules['fastapi'] = None; import aiokv.fastapi"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "ImportError" in result.stderr
    assert 'pip install "aiokv[fastapi]"' in result.stderr


def test_public_names() -> None:
    assert set(aiokv.fastapi.__all__) == {
        "KV",
        "AppLifespan",
        "RateLimit",
        "cache_response",
        "client_ip",
        "create_lifespan",
        "get_kv",
        "header_key",
        "lifespan",
    }


# -- apps under a real uvicorn -------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _clean_env(**extra: str) -> dict[str, str]:
    """This environment without aiokv settings, with the repo importable, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KV_", "REDIS_", "AIOKV_")) and k != "PYTHONPATH"
    }
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


class Uvicorn:
    """A ``uvicorn`` process serving ``app_ref`` on a free loopback port."""

    def __init__(self, app_ref: str, app_dir: Path, env: dict[str, str], log: Path) -> None:
        self.app_ref, self.app_dir, self.env, self.log = app_ref, app_dir, env, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, timeout: float = 20.0) -> None:
        for _ in range(3):  # another process may take the free port before uvicorn binds it
            port = _free_port()
            with self.log.open("wb") as log:
                argv = [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    self.app_ref,
                    "--app-dir",
                    str(self.app_dir),
                ]
                argv += ["--host", "127.0.0.1", "--port", str(port)]
                argv += ["--no-access-log", "--log-level", "info"]
                self.proc = subprocess.Popen(
                    argv,
                    cwd=self.app_dir,
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            self.url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + timeout
            while self.proc.poll() is None and time.monotonic() < deadline:
                # uvicorn binds its port only after the lifespan's startup has finished.
                with contextlib.suppress(httpx.TransportError):
                    httpx.get(f"{self.url}/openapi.json", timeout=1.0)
                    return
                time.sleep(0.05)
            self.stop()
            if "address already in use" not in self.output().lower():
                break
        raise AssertionError(f"uvicorn did not start serving {self.app_ref}:\n{self.output()}")

    def stop(self) -> int | None:
        """SIGTERM (a graceful shutdown, running the lifespan's), then SIGKILL after 10 s."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        return proc.returncode

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextlib.contextmanager
def serve(app_ref: str, app_dir: Path, env: dict[str, str], log: Path) -> Iterator[str]:
    """Serve an app under uvicorn; stop it afterwards, also when the test fails."""
    server = Uvicorn(app_ref, app_dir, env, log)
    server.start()
    try:
        yield server.url
    finally:
        returncode = server.stop()
    output = server.output()
    # uvicorn re-raises the SIGTERM it handled, once its graceful shutdown is over.
    assert returncode in (0, -signal.SIGTERM), f"uvicorn exited with {returncode}:\n{output}"
    assert "Application shutdown complete" in output, output
    assert "Traceback" not in output, output


@pytest.fixture(params=["memory", "redis"])
def app_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """Environment for an app process on each driver (a flushed real server for redis)."""
    if request.param == "memory":
        return _clean_env()
    server: RedisServer = request.getfixturevalue("redis_server")
    server.command("FLUSHDB")
    return _clean_env(KV_DRIVER="redis", REDIS_URL=server.url)


async def test_readme_app_counts_concurrent_views_exactly(
    app_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "fastapi_app.py").write_text(doc_snippet("fastapi_app.py"), encoding="utf-8")
    with serve("fastapi_app:app", tmp_path, app_env, tmp_path / "uvicorn.log") as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            replies = await asyncio.gather(*(http.post("/posts/7/views") for _ in range(200)))
            assert {r.status_code for r in replies} == {200}
            assert sorted(r.json()["views"] for r in replies) == list(range(1, 201))
            assert (await http.get("/posts/7/views")).json() == {"views": 200}
            assert (await http.get("/posts/8/views")).json() == {"views": 0}


# -- examples/fastapi_app.py ---------------------------------------------------------------------


@pytest.fixture(scope="module", params=["memory", "redis"])
def shop(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The example shop under uvicorn, once per driver; yields its base URL."""
    if request.param == "memory":
        env = _clean_env()
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        server.command("FLUSHDB")
        env = _clean_env(KV_DRIVER="redis", REDIS_URL=server.url)
    workdir = tmp_path_factory.mktemp("shop")  # not ROOT: a `.env` there must not reach the app
    with serve("examples.fastapi_app:app", workdir, env, workdir / "uvicorn.log") as url:
        yield url


async def db_queries(http: httpx.AsyncClient) -> int:
    queries: int = (await http.get("/stats")).json()["db_queries"]
    return queries


async def test_shop_cache_aside_queries_once_under_concurrent_misses(shop: str) -> None:
    async with httpx.AsyncClient(base_url=shop, timeout=30) as http:
        assert (await http.get("/healthz")).json() == {"ok": True}
        before = await db_queries(http)
        replies = await asyncio.gather(*(http.get("/products/1") for _ in range(50)))
        assert {r.status_code for r in replies} == {200}
        assert {r.text for r in replies} == {replies[0].text}
        assert replies[0].json() == {"id": 1, "name": "Green tea", "price_cents": 450}
        assert await db_queries(http) == before + 1
        assert (await http.get("/products/1")).status_code == 200
        assert await db_queries(http) == before + 1  # a hit

        assert (await http.get("/products/404")).status_code == 404
        assert (await http.get("/products/404")).status_code == 404
        assert await db_queries(http) == before + 2  # the miss is cached too


async def test_shop_write_through_and_invalidation(shop: str) -> None:
    async with httpx.AsyncClient(base_url=shop, timeout=30) as http:
        assert (await http.get("/products/3")).json()["price_cents"] == 1250
        updated = await http.put("/products/3", json={"price_cents": 999})
        assert updated.json() == {"id": 3, "name": "Coffee beans", "price_cents": 999}
        before = await db_queries(http)
        assert (await http.get("/products/3")).json()["price_cents"] == 999
        assert await db_queries(http) == before  # served from the cache the update wrote

        assert (await http.get("/products/2")).status_code == 200
        assert (await http.delete("/products/2")).status_code == 204
        assert (await http.get("/products/2")).status_code == 404
        assert (await http.delete("/products/2")).status_code == 404


async def test_shop_sessions(shop: str) -> None:
    async with httpx.AsyncClient(base_url=shop, timeout=30) as http:
        assert (await http.get("/me")).status_code == 401
        login = await http.post("/login", json={"user_id": "ada"})
        assert login.json() == {"user_id": "ada"}
        assert "httponly" in login.headers["set-cookie"].lower()
        me = (await http.get("/me")).json()
        assert me["user_id"] == "ada"
        assert "created_at" in me
        assert (await http.post("/logout")).json() == {"logged_out": True}
        assert (await http.get("/me")).status_code == 401
        http.cookies.set("session", "made-up")
        assert (await http.get("/me")).status_code == 401


async def test_shop_sessions_are_per_client(shop: str) -> None:
    async with (
        httpx.AsyncClient(base_url=shop, timeout=30) as ada,
        httpx.AsyncClient(base_url=shop, timeout=30) as bob,
    ):
        await asyncio.gather(
            ada.post("/login", json={"user_id": "ada"}), bob.post("/login", json={"user_id": "bob"})
        )
        users = await asyncio.gather(*(c.get("/me") for c in [ada, bob] * 20))
        assert [r.json()["user_id"] for r in users] == ["ada", "bob"] * 20


async def test_shop_rate_limit_allows_exactly_the_limit(shop: str) -> None:
    async with httpx.AsyncClient(base_url=shop, timeout=30) as http:
        replies = await asyncio.gather(
            *(http.get("/search", params={"q": "green"}) for _ in range(20))
        )
    allowed = [r for r in replies if r.status_code == 200]
    denied = [r for r in replies if r.status_code == 429]
    assert (len(allowed), len(denied)) == (5, 15)
    assert all([p["name"] for p in r.json()] == ["Green tea"] for r in allowed)
    assert sorted(int(r.headers["x-ratelimit-remaining"]) for r in allowed) == [0, 1, 2, 3, 4]
    assert all(1 <= int(r.headers["retry-after"]) <= 10 for r in denied)


async def test_shop_view_counter_is_exact_under_concurrency(shop: str) -> None:
    async with httpx.AsyncClient(base_url=shop, timeout=30) as http:
        replies = await asyncio.gather(*(http.post("/posts/1/views") for _ in range(200)))
        assert sorted(r.json()["views"] for r in replies) == list(range(1, 201))
        assert (await http.get("/posts/1/views")).json() == {"views": 200}
