"""An app for the web-edge tests, served by a real uvicorn (tests/test_http_cache.py, ...).

Settings come from the environment (``KV_DRIVER``, ``REDIS_URL``), as in production.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from fastapi import Depends, FastAPI, Header
from pydantic import BaseModel

from aiokv import AsyncClient, MultiRateLimiter, RateLimiter, RateLimitResult
from aiokv.fastapi import RateLimit, cache_response, create_lifespan, header_key
from aiokv.web import HTTPCache

kv = AsyncClient()
app = FastAPI(lifespan=create_lifespan(kv))
http_cache = HTTPCache(kv, ttl=300)
calls: Counter[str] = Counter()


class Product(BaseModel):
    id: int
    name: str
    price_cents: int


class Query(BaseModel):
    text: str


products = {1: Product(id=1, name="Green tea", price_cents=450)}


@app.get("/products/{product_id}")
@cache_response(http_cache, tags=["product:{product_id}"], vary=["accept-language"])
async def get_product(product_id: int, accept_language: Annotated[str, Header()] = "en") -> Product:
    calls["product"] += 1
    product = products[product_id].model_copy()
    if accept_language.startswith("fr"):
        product.name = "Thé vert"
    return product


@app.put("/products/{product_id}")
async def set_price(product_id: int, price_cents: int) -> dict[str, int]:
    products[product_id].price_cents = price_cents
    return {"invalidated": await http_cache.invalidate_tags(f"product:{product_id}")}


@app.post("/products/{product_id}/refresh")
async def refresh(product_id: int) -> dict[str, int]:
    key = http_cache.key_for("GET", f"/products/{product_id}", vary=["accept-language"])
    return {"invalidated": await http_cache.invalidate(key)}


@app.post("/search")
@cache_response(http_cache, body=True)
async def search(query: Query) -> list[str]:
    calls["search"] += 1
    return [p.name for p in products.values() if query.text.lower() in p.name.lower()]


@app.get("/calls")
async def get_calls() -> dict[str, int]:
    return dict(calls)


@app.post("/reset")
async def reset() -> None:
    """For the tests (which run in random order): an empty store, counters and catalogue."""
    await kv.flushdb()
    calls.clear()
    products.clear()
    products[1] = Product(id=1, name="Green tea", price_cents=450)


# -- rate limits: 100 per hour per client on each strategy -------------------------------------

STRATEGIES = ("fixed", "sliding", "sliding-counter", "gcra")
for _strategy in STRATEGIES:
    _limit = RateLimit(RateLimiter(kv, 100, 3600, _strategy, prefix=f"rl:{_strategy}:"))

    @app.get(f"/limited/{_strategy}", name=f"limited_{_strategy}", dependencies=[Depends(_limit)])
    async def limited() -> dict[str, bool]:
        return {"ok": True}


two_limits = RateLimit(MultiRateLimiter(kv, [(150, 3600), (100, 7200)], prefix="rl:multi:"))


@app.get("/limited/multi")
async def limited_multi(result: Annotated[RateLimitResult | None, Depends(two_limits)]) -> int:
    assert result is not None
    return result.remaining


per_api_key = RateLimit(RateLimiter(kv, 2, 60, prefix="rl:api:"), key=header_key("x-api-key"))


@app.get("/api", dependencies=[Depends(per_api_key)])
async def api() -> dict[str, bool]:
    return {"ok": True}
