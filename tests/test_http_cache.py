"""HTTP response caching (aiokv.web.HTTPCache, aiokv.fastapi.cache_response) under real uvicorn.

The app is ``tests/edge_app.py``, served by a uvicorn process on each driver (a real server for
redis): ETag and 304 round trips, the request's Cache-Control, vary, POST bodies, and
invalidation by tag and by key. The framework-neutral pieces are also tested directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from servers import RedisServer
from test_fastapi import _clean_env, serve

from aiokv import AsyncClient, InvalidArgumentError
from aiokv.web import HTTPCache, etag_for, etag_matches, request_directives

TESTS = Path(__file__).resolve().parent


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


@pytest.fixture(autouse=True)
def _fresh_app(request: pytest.FixtureRequest) -> None:
    """Every test against the app starts from an empty store (the suite runs in random order)."""
    if "edge" in request.fixturenames:
        httpx.post(request.getfixturevalue("edge") + "/reset", timeout=30).raise_for_status()


async def calls(http: httpx.AsyncClient, name: str) -> int:
    count: int = (await http.get("/calls")).json().get(name, 0)
    return count


async def test_etag_and_304_round_trip(edge: str) -> None:
    async with httpx.AsyncClient(base_url=edge, timeout=30) as http:
        first = await http.get("/products/1")
        assert first.status_code == 200
        assert first.json() == {"id": 1, "name": "Green tea", "price_cents": 450}
        assert first.headers["x-cache"] == "miss"
        etag = first.headers["etag"]
        assert etag.startswith('W/"')

        again = await http.get("/products/1")
        assert (again.status_code, again.headers["x-cache"]) == (200, "hit")
        assert again.headers["etag"] == etag
        assert again.content == first.content  # the declared type, serialised the same way

        fresh = await http.get("/products/1", headers={"If-None-Match": etag})
        assert fresh.status_code == 304
        assert fresh.content == b""
        assert fresh.headers["etag"] == etag
        listed = await http.get("/products/1", headers={"If-None-Match": f'"other", {etag}'})
        assert listed.status_code == 304
        stale = await http.get("/products/1", headers={"If-None-Match": '"other"'})
        assert stale.status_code == 200
        assert await calls(http, "product") == 1


async def test_concurrent_requests_share_one_entry(edge: str) -> None:
    async with httpx.AsyncClient(base_url=edge, timeout=30) as http:
        await http.get("/products/1")  # stored by now (or by an earlier test)
        before = await calls(http, "product")
        replies = await asyncio.gather(*(http.get("/products/1") for _ in range(100)))
        assert {r.status_code for r in replies} == {200}
        assert {r.headers["x-cache"] for r in replies} == {"hit"}
        assert len({r.headers["etag"] for r in replies}) == 1
        assert await calls(http, "product") == before


async def test_request_cache_control(edge: str) -> None:
    async with httpx.AsyncClient(base_url=edge, timeout=30) as http:
        await http.get("/products/1")
        before = await calls(http, "product")
        no_store = await http.get("/products/1", headers={"Cache-Control": "no-store"})
        assert no_store.status_code == 200
        assert "etag" not in no_store.headers
        assert "x-cache" not in no_store.headers
        assert await calls(http, "product") == before + 1

        for directive in ("no-cache", "max-age=0"):
            revalidated = await http.get("/products/1", headers={"Cache-Control": directive})
            assert revalidated.headers["x-cache"] == "miss"
        assert await calls(http, "product") == before + 3
        assert (await http.get("/products/1")).headers["x-cache"] == "hit"
        assert await calls(http, "product") == before + 3


async def test_vary_keeps_entries_apart(edge: str) -> None:
    async with httpx.AsyncClient(base_url=edge, timeout=30) as http:
        fr = {"Accept-Language": "fr"}
        french = await http.get("/products/1", headers=fr)
        english = await http.get("/products/1")
        assert french.json()["name"] == "Thé vert"
        assert english.json()["name"] == "Green tea"
        assert french.headers["etag"] != english.headers["etag"]
        assert (await http.get("/products/1", headers=fr)).json()["name"] == "Thé vert"
        assert (await http.get("/products/1", headers=fr)).headers["x-cache"] == "hit"


async def test_invalidate_by_tag_and_by_key(edge: str) -> None:
    async with httpx.AsyncClient(base_url=edge, timeout=30) as http:
        await http.get("/products/1")
        await http.get("/products/1", headers={"Accept-Language": "fr"})
        old = (await http.get("/products/1")).headers["etag"]
        # One tag drops both language variants, atomically.
        assert (await http.put("/products/1", params={"price_cents": 500})).json() == {
            "invalidated": 2
        }
        updated = await http.get("/products/1", headers={"If-None-Match": old})
        assert updated.status_code == 200
        assert (updated.headers["x-cache"], updated.json()["price_cents"]) == ("miss", 500)
        assert (await http.put("/products/1", params={"price_cents": 450})).json() == {
            "invalidated": 1
        }
        await http.get("/products/1")
        # By key: only the entry that key names.
        await http.get("/products/1", headers={"Accept-Language": "fr"})
        assert (await http.post("/products/1/refresh")).json() == {"invalidated": 1}
        assert (await http.get("/products/1")).headers["x-cache"] == "miss"
        fr = await http.get("/products/1", headers={"Accept-Language": "fr"})
        assert fr.headers["x-cache"] == "hit"


async def test_post_body_is_part_of_the_key(edge: str) -> None:
    async with httpx.AsyncClient(base_url=edge, timeout=30) as http:
        before = await calls(http, "search")
        tea = await http.post("/search", json={"text": "tea"})
        coffee = await http.post("/search", json={"text": "coffee"})
        assert (tea.json(), coffee.json()) == (["Green tea"], [])
        assert (await http.post("/search", json={"text": "tea"})).headers["x-cache"] == "hit"
        assert await calls(http, "search") == before + 2
        # A POST is never answered 304: If-None-Match is a GET's validator.
        etag = tea.headers["etag"]
        post = await http.post("/search", json={"text": "tea"}, headers={"If-None-Match": etag})
        assert post.status_code == 200


# -- the framework-neutral parts, on each driver -----------------------------------------------


def test_key_for_sorts_the_query_and_reads_vary_case_insensitively() -> None:
    cache = HTTPCache(AsyncClient(), prefix="c:")
    one = cache.key_for("get", "/p", [("b", "2"), ("a", "1")], {"accept": "x"}, ["Accept"])
    two = cache.key_for("GET", "/p", [("a", "1"), ("b", "2")], {"accept": "x"}, ["accept"])
    assert one == two == "c:GET /p?a=1&b=2|accept=x"
    assert cache.key_for("GET", "/p", [("a", "&b=2")]) == "c:GET /p?a=%26b%3D2"
    assert cache.key_for("POST", "/p", body=b"1") != cache.key_for("POST", "/p", body=b"2")
    assert cache.key_for("head", "/p") == cache.key_for("GET", "/p") == "c:GET /p"


def test_etags_and_directives() -> None:
    etag = etag_for(b"{}")
    assert etag == etag_for(b"{}") != etag_for(b"[]")
    assert etag_matches(etag, etag)
    assert etag_matches(etag.removeprefix("W/"), etag)  # weak comparison
    assert etag_matches("*", etag)
    assert not etag_matches(None, etag)
    assert not etag_matches('"nope"', etag)
    assert request_directives(None) == (False, False)
    assert request_directives("No-Store") == (True, False)
    assert request_directives("max-age = 0, private") == (False, True)
    assert request_directives("max-age=10") == (False, False)


def test_ttl_must_be_positive() -> None:
    with pytest.raises(InvalidArgumentError):
        HTTPCache(AsyncClient(), ttl=0)


async def test_store_and_invalidate_tags(kv: AsyncClient) -> None:
    # A cluster keeps an entry and its tags in one slot: the prefix's hash tag does it.
    cache = HTTPCache(kv, ttl=60, prefix="{h}:")
    await cache.store("{h}:a", b"1", ["x", "y"])
    await cache.store("{h}:b", b"2", ["y"], ttl=120)
    await cache.store("{h}:c", b"3")
    assert await kv.smembers("{h}:tag:y") == {"{h}:a", "{h}:b"}
    assert 119_000 < await kv.pttl("{h}:tag:y") <= 120_000  # lives as long as its longest entry
    assert 59_000 < await kv.pttl("{h}:tag:x") <= 60_000
    assert await cache.load("{h}:a") == b"1"
    assert await cache.invalidate_tags("y", "y") == 2
    assert sorted(await kv.keys()) == ["{h}:c", "{h}:tag:x"]
    assert await cache.invalidate_tags("x") == 0  # its entry went with tag y
    assert await cache.invalidate_tags() == 0
    assert await cache.invalidate("{h}:c", "{h}:zz") == 1
    assert await kv.keys() == []


async def test_tags_under_a_client_key_prefix(make_client: object) -> None:
    # A cluster keeps an entry and its tags in one slot: the prefix's hash tag does it.
    async with make_client(key_prefix="{app}:") as kv:  # type: ignore[operator]
        await kv.flushdb()
        cache = HTTPCache(kv)
        key = cache.key_for("GET", "/x")
        await cache.store(key, b"1", ["t"])
        assert await kv.smembers("http:tag:t") == {"{app}:" + key}  # the full key, as Lua sees it
        assert await cache.invalidate_tags("t") == 1
        assert await kv.keys() == []
