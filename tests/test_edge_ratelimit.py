"""Rate limiting at the edge (aiokv.fastapi.RateLimit) under real uvicorn, and its failure policy.

The app is ``tests/edge_app.py``, served by a uvicorn process on each driver (a real server for
redis): out of 1,000 concurrent requests exactly the limit pass, for every strategy and for two
limits at once, with 429, ``Retry-After`` and the ``RateLimit-*`` headers. What the dependency
does when the store fails (a refused connection, a hit whose reply was lost) is tested in
process, with a real server behind a fault-injecting TCP proxy.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from aiohttp import web
from fastapi import Depends, FastAPI
from faultproxy import FaultProxy
from servers import RedisServer
from test_aiohttp import running
from test_fastapi import _clean_env, serve

from aiokv import AsyncClient, MultiRateLimiter, RateLimiter
from aiokv.aiohttp import ratelimit_middleware
from aiokv.fastapi import RateLimit, client_ip, create_lifespan

TESTS = Path(__file__).resolve().parent
STRATEGIES = ["fixed", "sliding", "sliding-counter", "gcra", "multi"]


@dataclass
class Reply:
    status_code: int
    headers: Mapping[str, str]
    body: bytes


@pytest.fixture(scope="module", params=["memory", "redis"])
def edge(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """tests/edge_app.py under uvicorn, once per driver; yields its base URL."""
    if request.param == "memory":
        env = _clean_env()
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        server.command("FLUSHDB")
        env = _clean_env(KV_DRIVER="redis", REDIS_URL=server.url)
    log = tmp_path_factory.mktemp("edge") / "uvicorn.log"
    with serve("edge_app:app", TESTS, env, log) as url:
        yield url


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_exactly_the_limit_of_1000_concurrent_requests_pass(edge: str, strategy: str) -> None:
    # aiohttp's client: several times faster than httpx's at a thousand requests.
    async with aiohttp.ClientSession(edge) as http:

        async def fetch() -> Reply:
            async with http.get(f"/limited/{strategy}") as reply:
                return Reply(reply.status, reply.headers, await reply.read())

        replies = await asyncio.gather(*(fetch() for _ in range(1000)))
    allowed = [r for r in replies if r.status_code == 200]
    denied = [r for r in replies if r.status_code == 429]
    assert (len(allowed), len(denied)) == (100, 900)
    assert {r.headers["ratelimit-limit"] for r in replies} == {"100"}
    assert sorted(int(r.headers["ratelimit-remaining"]) for r in allowed) == list(range(100))
    assert {r.headers["ratelimit-remaining"] for r in denied} == {"0"}
    assert all("retry-after" not in r.headers for r in allowed)
    for reply in denied:
        retry_after, reset = (
            int(reply.headers["retry-after"]),
            int(reply.headers["ratelimit-reset"]),
        )
        assert retry_after == reset
        assert 1 <= retry_after <= 2 * 7200  # bounded by the windows (twice for the counter)
    if strategy == "multi":  # the handler receives the binding limit's result
        assert sorted(int(r.body) for r in allowed) == list(range(100))


async def test_key_function_none_is_not_limited(edge: str) -> None:
    async with httpx.AsyncClient(base_url=edge, timeout=30) as http:
        anonymous = [await http.get("/api") for _ in range(4)]
        assert {r.status_code for r in anonymous} == {200}
        assert all("ratelimit-limit" not in r.headers for r in anonymous)
        ada = [(await http.get("/api", headers={"X-API-Key": "ada"})).status_code for _ in range(3)]
        bob = (await http.get("/api", headers={"X-API-Key": "bob"})).status_code
        assert (ada, bob) == ([200, 200, 429], 200)


# -- the failure policy, in process --------------------------------------------------------------


def limited_app(kv: AsyncClient, limit: RateLimit) -> FastAPI:
    app = FastAPI(lifespan=create_lifespan(kv, close=False))

    @app.get("/", dependencies=[Depends(limit)])
    async def index() -> dict[str, bool]:
        return {"ok": True}

    return app


SCRIPT_WIRE = ("EVALSHA", "EVAL")


@pytest.fixture
async def proxy(redis_server: RedisServer) -> AsyncIterator[FaultProxy]:
    redis_server.command("FLUSHDB")
    async with FaultProxy(redis_server.address) as proxy:
        yield proxy


async def get(app: FastAPI, times: int) -> list[httpx.Response]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            return [await http.get("/") for _ in range(times)]


@pytest.mark.parametrize("on_error", ["allow", "deny"])
async def test_a_lost_reply_is_never_counted_twice(
    proxy: FaultProxy,
    redis_server: RedisServer,
    on_error: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="aiokv")
    options: dict[str, Any] = {"retry_attempts": 3, "retry_backoff_base": 0.01}
    async with AsyncClient(driver="redis", url=proxy.url(), **options) as kv:
        limiter = RateLimiter(kv, 3, 60, "gcra", prefix="rl:")
        app = limited_app(kv, RateLimit(limiter, key=lambda request: "k", on_error=on_error))
        await limiter.hit("warm")  # the server knows the script: the next hit is one EVALSHA
        proxy.reset_after_forward(1, match=SCRIPT_WIRE)
        first, *rest = await get(app, 4)
    assert proxy.resets == 1
    if on_error == "allow":  # fail open: through, without headers
        assert (first.status_code, first.json()) == (200, {"ok": True})
        assert "ratelimit-remaining" not in first.headers
    else:  # fail closed
        assert (first.status_code, first.headers["retry-after"]) == (503, "1")
    # The lost hit ran once on the server and was not re-sent: two more pass, then 429.
    assert [r.status_code for r in rest] == [200, 200, 429]
    assert [r.headers["ratelimit-remaining"] for r in rest] == ["1", "0", "0"]
    [warning] = [r.getMessage() for r in caplog.records if r.name == "aiokv"]
    assert "may have been counted" in warning


async def test_an_unreachable_store_fails_open_or_closed(proxy: FaultProxy) -> None:
    options: dict[str, Any] = {"retry_attempts": 1, "retry_backoff_base": 0.01}
    async with AsyncClient(driver="redis", url=proxy.url(), **options) as kv:
        limiter = MultiRateLimiter(kv, [(5, 1), (10, 60)], prefix="rl:")
        proxy.reset_new_connections(1000)
        proxy.drop_all()
        opened = limited_app(kv, RateLimit(limiter, key=client_ip))
        closed = limited_app(kv, RateLimit(limiter, key=client_ip, on_error="deny"))
        assert [r.status_code for r in await get(opened, 2)] == [200, 200]
        assert [r.status_code for r in await get(closed, 2)] == [503, 503]
        proxy.heal()
        healed = await get(closed, 1)
    assert healed[0].status_code == 200
    assert healed[0].headers["ratelimit-limit"] == "5"
    assert healed[0].headers["ratelimit-remaining"] == "4"


def test_on_error_is_checked() -> None:
    with pytest.raises(ValueError, match="on_error"):
        RateLimit(RateLimiter(AsyncClient(), 1, 1), on_error="maybe")  # type: ignore[arg-type]


# -- the aiohttp middleware, on a real aiohttp server --------------------------------------------


@pytest.mark.parametrize("strategy", ["fixed", "sliding", "sliding-counter", "gcra"])
async def test_aiohttp_middleware_allows_exactly_the_limit(kv: AsyncClient, strategy: Any) -> None:
    limiter = RateLimiter(kv, 100, 3600, strategy, prefix="rl:")

    async def index(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application(middlewares=[ratelimit_middleware(limiter)])
    app.router.add_get("/", index)
    async with running(app) as url, aiohttp.ClientSession(url) as http:

        async def fetch() -> Reply:
            async with http.get("/") as reply:
                return Reply(reply.status, reply.headers, await reply.read())

        replies = await asyncio.gather(*(fetch() for _ in range(1000)))
    allowed = [r for r in replies if r.status_code == 200]
    denied = [r for r in replies if r.status_code == 429]
    assert (len(allowed), len(denied)) == (100, 900)
    assert sorted(int(r.headers["ratelimit-remaining"]) for r in allowed) == list(range(100))
    assert all(int(r.headers["retry-after"]) >= 1 for r in denied)
    assert {r.headers["ratelimit-limit"] for r in replies} == {"100"}


async def test_aiohttp_middleware_skips_requests_without_a_key(kv: AsyncClient) -> None:
    limiter = RateLimiter(kv, 1, 60, prefix="rl:")

    async def index(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    by_token = ratelimit_middleware(limiter, key=lambda request: request.headers.get("token"))
    app = web.Application(middlewares=[by_token])
    app.router.add_get("/", index)
    async with running(app) as url, aiohttp.ClientSession(url) as http:
        anonymous = [(await http.get("/")).status for _ in range(3)]
        token = [(await http.get("/", headers={"token": "t"})).status for _ in range(2)]
    assert (anonymous, token) == ([200, 200, 200], [200, 429])
    with pytest.raises(ValueError, match="on_error"):
        ratelimit_middleware(limiter, on_error="never")  # type: ignore[arg-type]
