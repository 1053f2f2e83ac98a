"""The web edge on FastAPI: cached responses with ETags and tags, and rate limits with headers.

Serve it (memory driver; no server needed)::

    pip install "aiokv[fastapi]" uvicorn
    uvicorn examples.web_edge:app

Then::

    curl -i localhost:8000/products/1                            # ETag, X-Cache: miss, then hit
    curl -i localhost:8000/products/1 -H 'If-None-Match: W/"..."'  # 304 Not Modified
    curl -i -X PUT 'localhost:8000/products/1?price_cents=500'     # invalidates tag product:1
    curl -i localhost:8000/search?q=tea                            # RateLimit-* headers, then 429

or run it as a script: it serves itself on a free port with uvicorn and walks through the above.
"""

from __future__ import annotations

import asyncio
import socket
from datetime import timedelta

import httpx
import uvicorn
from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel

from aiokv import AsyncClient, MultiRateLimiter
from aiokv.fastapi import RateLimit, cache_response, create_lifespan
from aiokv.web import HTTPCache

PREFIX = "example:web-edge:"
kv = AsyncClient(key_prefix=PREFIX)
app = FastAPI(title="aiokv web edge", lifespan=create_lifespan(kv))

# Responses live 5 minutes; an update drops them at once through their tags.
http_cache = HTTPCache(kv, ttl=timedelta(minutes=5))

# 3 searches per second and 100 per hour per client IP, checked and counted in one step.
searches = RateLimit(MultiRateLimiter(kv, [(3, 1), (100, 3600)], prefix="rl:search:"))


class Product(BaseModel):
    id: int
    name: str
    price_cents: int


products = {1: Product(id=1, name="Green tea", price_cents=450)}


@app.get("/products/{product_id}")
@cache_response(http_cache, tags=["product:{product_id}"], vary=["accept-language"])
async def get_product(product_id: int) -> Product:
    if product_id not in products:
        raise HTTPException(404, "no such product")  # not cached
    return products[product_id]


@app.put("/products/{product_id}")
async def set_price(product_id: int, price_cents: int) -> Product:
    products[product_id].price_cents = price_cents
    await http_cache.invalidate_tags(f"product:{product_id}")
    return products[product_id]


@app.get("/search", dependencies=[Depends(searches)])
async def search(q: str) -> list[Product]:
    return [p for p in products.values() if q.lower() in p.name.lower()]


async def main() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
            await asyncio.sleep(0.01)
        url = "http://{}:{}".format(*sock.getsockname())
        try:
            async with httpx.AsyncClient(base_url=url) as http:
                await walk_through(http)
        finally:
            server.should_exit = True
            await serving
    async with AsyncClient(key_prefix=PREFIX) as cleanup:
        await cleanup.flushdb()  # only this example's keys


async def walk_through(http: httpx.AsyncClient) -> None:
    first = await http.get("/products/1")
    etag = first.headers["etag"]
    print("GET /products/1           ->", first.status_code, first.headers["x-cache"], etag)
    again = await http.get("/products/1")
    print("again                     ->", again.status_code, again.headers["x-cache"])
    same = await http.get("/products/1", headers={"If-None-Match": etag})
    print("If-None-Match: that ETag  ->", same.status_code, repr(same.content))
    fresh = await http.get("/products/1", headers={"Cache-Control": "no-cache"})
    print("Cache-Control: no-cache   ->", fresh.status_code, fresh.headers["x-cache"])

    await http.put("/products/1", params={"price_cents": 500})
    changed = await http.get("/products/1", headers={"If-None-Match": etag})
    print("after an update           ->", changed.status_code, changed.json()["price_cents"])

    for _ in range(4):
        reply = await http.get("/search", params={"q": "tea"})
        limits = {k: v for k, v in reply.headers.items() if k.startswith(("ratelimit", "retry"))}
        print("GET /search?q=tea         ->", reply.status_code, limits)


if __name__ == "__main__":
    asyncio.run(main())
