"""The FastAPI example's product cache, rate-limited search and view counters, on aiohttp.

Run it (memory driver; no server needed)::

    pip install "aiokv[aiohttp]"
    python examples/aiohttp_app.py                  # serves http://localhost:8080

or against a Redis-compatible server::

    KV_DRIVER=redis REDIS_URL=redis://localhost:6379/0 python examples/aiohttp_app.py

Then::

    curl localhost:8080/products/1                  # cache-aside: one "db" query per hour
    curl 'localhost:8080/search?q=tea'              # 5 per 10 s per client, then 429
    curl -X POST localhost:8080/posts/1/views       # a view counter
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import asdict, dataclass
from datetime import timedelta

from aiohttp import web

from aiokv import RateLimiter
from aiokv.aiohttp import KV_KEY, setup

PRODUCT_TTL = timedelta(hours=1)
SEARCH_LIMIT, SEARCH_WINDOW = 5, 10  # searches per client per window (seconds)


@dataclass
class Product:
    id: int
    name: str
    price_cents: int


class Database:
    """A stand-in for a real database: slow lookups, and a count of them."""

    def __init__(self) -> None:
        self.products = {
            1: Product(id=1, name="Green tea", price_cents=450),
            2: Product(id=2, name="Black tea", price_cents=400),
            3: Product(id=3, name="Coffee beans", price_cents=1250),
        }
        self.queries = 0

    async def fetch(self, product_id: int) -> Product | None:
        self.queries += 1
        await asyncio.sleep(0.05)
        return self.products.get(product_id)


DB_KEY = web.AppKey("db", Database)
SEARCH_LIMITER_KEY = web.AppKey("search_limiter", RateLimiter)
routes = web.RouteTableDef()


@routes.get(r"/products/{product_id:\d+}")
async def get_product(request: web.Request) -> web.Response:
    kv, db = request.app[KV_KEY], request.app[DB_KEY]
    product_id = int(request.match_info["product_id"])

    async def load() -> Product | None:  # its return annotation types the cached value
        return await db.fetch(product_id)

    # Cache-aside: concurrent misses share one query; "no such product" is cached too.
    product = await kv.get_or_set(f"product:{product_id}", load, PRODUCT_TTL)
    if product is None:
        raise web.HTTPNotFound(text="no such product")
    return web.json_response(asdict(product))


@routes.get("/stats")
async def stats(request: web.Request) -> web.Response:
    return web.json_response({"db_queries": request.app[DB_KEY].queries})


@routes.get("/search")
async def search(request: web.Request) -> web.Response:
    result = await request.app[SEARCH_LIMITER_KEY].hit(f"search:{request.remote}")
    headers = {"X-RateLimit-Remaining": str(result.remaining)}
    if not result.allowed:
        headers["Retry-After"] = str(max(1, math.ceil(result.reset_after)))
        raise web.HTTPTooManyRequests(text="too many searches", headers=headers)
    query = request.query.get("q", "").lower()
    found = [asdict(p) for p in request.app[DB_KEY].products.values() if query in p.name.lower()]
    return web.json_response(found, headers=headers)


@routes.post(r"/posts/{post_id:\d+}/views")
async def add_view(request: web.Request) -> web.Response:
    views = await request.app[KV_KEY].incr(f"views:post:{request.match_info['post_id']}")
    return web.json_response({"views": views})


@routes.get(r"/posts/{post_id:\d+}/views")
async def get_views(request: web.Request) -> web.Response:
    views = await request.app[KV_KEY].get(f"views:post:{request.match_info['post_id']}")
    return web.json_response({"views": int(views or 0)})


async def start_limiter(app: web.Application) -> None:
    # on_startup handlers run after setup() has opened the client.
    app[SEARCH_LIMITER_KEY] = RateLimiter(app[KV_KEY], SEARCH_LIMIT, SEARCH_WINDOW, "sliding")


def create_app() -> web.Application:
    app = web.Application()
    app[DB_KEY] = Database()
    app.add_routes(routes)
    setup(app)  # the client: settings from the environment, opened at startup, closed at cleanup
    app.on_startup.append(start_limiter)
    return app


if __name__ == "__main__":
    web.run_app(create_app())
