"""aiokv.aiohttp.cache_response: an aiohttp app on a real ``web.AppRunner`` and loopback port,
asked through an aiohttp client, on every driver (and on a server that cannot be reached)."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from docsnippets import doc_snippet
from test_aiohttp import running

from aiokv import AsyncClient
from aiokv.aiohttp import cache_response
from aiokv.web import HTTPCache


def make_app(kv: AsyncClient) -> tuple[web.Application, HTTPCache, Counter[str]]:
    # A hash tag in the prefix keeps an entry and its tags' sets in one slot on a cluster.
    http_cache = HTTPCache(kv, ttl=60, prefix="{http}:")
    calls: Counter[str] = Counter()

    @cache_response(http_cache, vary=["accept-language"], tags=["product:{product_id}"])
    async def product(request: web.Request) -> web.Response:
        calls["product"] += 1
        await asyncio.sleep(0)
        number = request.match_info["product_id"]
        lang = request.headers.get("Accept-Language", "en")
        return web.json_response({"id": int(number), "lang": lang, "call": calls["product"]})

    @cache_response(http_cache, body=True)
    async def search(request: web.Request) -> web.Response:
        calls["search"] += 1
        return web.json_response({"query": (await request.json())["q"]})

    @cache_response(http_cache)
    async def text(request: web.Request) -> web.Response:
        calls["text"] += 1
        return web.Response(text="héllo", content_type="text/plain", charset="utf-8")

    @cache_response(http_cache)
    async def uncachable(request: web.Request) -> web.StreamResponse:
        kind = request.match_info["kind"]
        calls[kind] += 1
        if kind == "teapot":
            return web.Response(status=418, text="short and stout")
        if kind == "cookie":
            response = web.Response(text="hello")
            response.set_cookie("session", "s1")
            return response
        if kind == "private":
            return web.Response(text="yours", headers={"Cache-Control": "private"})
        if kind == "missing":
            raise web.HTTPNotFound(text="no such thing")
        stream = web.StreamResponse()
        await stream.prepare(request)
        await stream.write(b"streamed")
        await stream.write_eof()
        return stream

    app = web.Application()
    app.router.add_get("/products/{product_id}", product)
    app.router.add_post("/search", search)
    app.router.add_get("/text", text)
    app.router.add_get("/other/{kind}", uncachable)
    return app, http_cache, calls


@pytest.fixture
async def site(
    kv: AsyncClient,
) -> AsyncIterator[tuple[aiohttp.ClientSession, HTTPCache, Counter[str]]]:
    app, http_cache, calls = make_app(kv)
    async with running(app) as url, aiohttp.ClientSession(url) as http:
        yield http, http_cache, calls


Site = tuple[aiohttp.ClientSession, HTTPCache, Counter[str]]


async def test_etag_and_304_round_trip(site: Site) -> None:
    http, _, calls = site
    async with http.get("/products/1") as first:
        assert first.status == 200
        assert first.headers["X-Cache"] == "miss"
        assert first.content_type == "application/json"
        body = await first.read()
        etag = first.headers["ETag"]
    assert etag.startswith('W/"')
    async with http.get("/products/1") as again:
        assert (again.status, again.headers["X-Cache"], again.headers["ETag"]) == (200, "hit", etag)
        assert again.content_type == "application/json"
        assert await again.read() == body
    async with http.get("/products/1", headers={"If-None-Match": f'"other", {etag}'}) as fresh:
        assert fresh.status == 304
        assert await fresh.read() == b""
        assert fresh.headers["ETag"] == etag
    async with http.get("/products/1", headers={"If-None-Match": '"other"'}) as stale:
        assert stale.status == 200
    async with http.head("/products/1") as head:
        assert (head.status, head.headers["X-Cache"]) == (200, "hit")
    assert calls["product"] == 1


async def test_content_type_and_charset_are_kept(site: Site) -> None:
    http, _, calls = site
    for state in ("miss", "hit"):
        async with http.get("/text") as reply:
            assert reply.headers["X-Cache"] == state
            assert reply.headers["Content-Type"] == "text/plain; charset=utf-8"
            assert await reply.text() == "héllo"
    assert calls["text"] == 1


async def test_concurrent_requests_after_the_first_are_hits(site: Site) -> None:
    http, _, calls = site
    async with http.get("/products/2") as reply:
        first = await reply.json()

    async def one() -> object:
        async with http.get("/products/2") as reply:
            return await reply.json()

    assert await asyncio.gather(*(one() for _ in range(50))) == [first] * 50
    assert calls["product"] == 1


async def test_request_cache_control(site: Site) -> None:
    http, _, _ = site
    async with http.get("/products/3") as reply:
        assert (await reply.json())["call"] == 1
    async with http.get("/products/3", headers={"Cache-Control": "no-store"}) as reply:
        assert "X-Cache" not in reply.headers  # neither read nor written
        assert (await reply.json())["call"] == 2
    async with http.get("/products/3") as reply:
        assert (reply.headers["X-Cache"], (await reply.json())["call"]) == ("hit", 1)
    async with http.get("/products/3", headers={"Cache-Control": "no-cache"}) as reply:
        assert (reply.headers["X-Cache"], (await reply.json())["call"]) == ("miss", 3)
    async with http.get("/products/3", headers={"Cache-Control": "max-age=0"}) as reply:
        assert (reply.headers["X-Cache"], (await reply.json())["call"]) == ("miss", 4)
    async with http.get("/products/3") as reply:  # the recomputed entry was stored
        assert (reply.headers["X-Cache"], (await reply.json())["call"]) == ("hit", 4)


async def test_vary_and_query_keep_entries_apart(site: Site) -> None:
    http, _, calls = site
    for lang in ("fr", "de", "fr"):
        async with http.get("/products/4", headers={"Accept-Language": lang}) as reply:
            assert (await reply.json())["lang"] == lang
    assert calls["product"] == 2
    async with http.get("/products/4?a=1&b=2") as one, http.get("/products/4?b=2&a=1") as two:
        assert (one.headers["X-Cache"], two.headers["X-Cache"]) == ("miss", "hit")
    assert calls["product"] == 3


async def test_invalidate_by_tag_and_by_key(site: Site) -> None:
    http, http_cache, calls = site
    for number in (5, 6):
        async with http.get(f"/products/{number}") as reply:
            assert reply.headers["X-Cache"] == "miss"
    assert await http_cache.invalidate_tags("product:5") == 1
    async with http.get("/products/5") as five, http.get("/products/6") as six:
        assert (five.headers["X-Cache"], six.headers["X-Cache"]) == ("miss", "hit")
    key = http_cache.key_for("GET", "/products/6", headers={}, vary=["accept-language"])
    assert await http_cache.invalidate(key) == 1
    async with http.get("/products/6") as six:
        assert six.headers["X-Cache"] == "miss"
    assert calls["product"] == 4


async def test_post_body_is_part_of_the_key(site: Site) -> None:
    http, _, calls = site
    for q in ("tea", "coffee", "tea"):
        async with http.post("/search", json={"q": q}) as reply:
            assert (await reply.json()) == {"query": q}
    assert calls["search"] == 2


@pytest.mark.parametrize("kind", ["teapot", "cookie", "private", "missing", "stream"])
async def test_what_is_not_stored(site: Site, kind: str) -> None:
    http, _, calls = site
    replies = []
    for _ in range(2):
        async with http.get(f"/other/{kind}") as reply:
            replies.append((reply.status, await reply.read()))
            assert "X-Cache" not in reply.headers
    assert replies[0] == replies[1]
    assert replies[0][0] != 200 or replies[0][1] in (b"hello", b"yours", b"streamed")
    assert calls[kind] == 2


async def test_an_unreachable_store_serves_uncached(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as probe:  # a port with nothing listening: connections are refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = AsyncClient(driver="redis", url=f"redis://127.0.0.1:{port}", retry_attempts=0)
    app, _, calls = make_app(down)
    with caplog.at_level(logging.WARNING, logger="aiokv"):
        async with down, running(app) as url, aiohttp.ClientSession(url) as http:
            for call in (1, 2):
                async with http.get("/products/7") as reply:
                    assert reply.status == 200
                    assert (await reply.json())["call"] == call
    assert calls["product"] == 2
    messages = [r.getMessage() for r in caplog.records if r.name == "aiokv"]
    assert any("not read" in m for m in messages), messages
    assert any("not cached" in m for m in messages), messages


def test_the_handler_must_be_async() -> None:
    http_cache = HTTPCache(AsyncClient())

    def sync(request: web.Request) -> web.Response:  # pragma: no cover - never called
        return web.Response()

    with pytest.raises(TypeError, match="async handler"):
        cache_response(http_cache)(sync)  # type: ignore[arg-type]


async def test_readme_example() -> None:
    readme: dict[str, Any] = {"__name__": "readme_aiohttp_cache"}
    exec(compile(doc_snippet("aiohttp_cache.py"), "README.md", "exec"), readme)
    app: web.Application = readme["create_app"]()
    async with running(app) as url, aiohttp.ClientSession(url) as http:
        states = []
        for _ in range(2):
            async with http.get("/products/1") as reply:
                assert await reply.json() == {"id": 1, "name": "product 1"}
                states.append(reply.headers["X-Cache"])
        async with http.put("/products/1") as reply:
            assert reply.status == 200
        async with http.get("/products/1") as reply:
            states.append(reply.headers["X-Cache"])
    assert states == ["miss", "hit", "miss"]
