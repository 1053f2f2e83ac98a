"""A small shop on FastAPI and aiokv: cache-aside, sessions, rate limiting and view counters.

Run it (memory driver; no server needed)::

    pip install "aiokv[fastapi]" uvicorn
    uvicorn examples.fastapi_app:app

or against a Redis-compatible server, with several workers sharing it::

    KV_DRIVER=redis REDIS_URL=redis://localhost:6379/0 uvicorn examples.fastapi_app:app --workers 4

Then::

    curl localhost:8000/products/1                           # cache-aside: one "db" query
    curl -X PUT localhost:8000/products/1 --json '{"price_cents": 999}'   # write-through
    curl -c jar localhost:8000/login --json '{"user_id": "ada"}'         # a session cookie
    curl -b jar localhost:8000/me
    curl 'localhost:8000/search?q=tea'                       # 5 per 10 s per client, then 429
    curl -X POST localhost:8000/posts/1/views                # a view counter
"""

from __future__ import annotations

import asyncio
import math
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

from fastapi import Cookie, Depends, FastAPI, HTTPException, Request, Response
from pydantic import BaseModel

from aiokv import AsyncClient, RateLimiter, SessionStore, cached
from aiokv.fastapi import KV, create_lifespan

# One client for the app, created at import so that the decorator and helpers below can hold it;
# the lifespan opens it at startup and closes it at shutdown. Settings come from the environment.
# Handlers receive the same client as `kv: KV`, which tests can swap through dependency_overrides.
kv = AsyncClient()
app = FastAPI(title="aiokv shop", lifespan=create_lifespan(kv))

PRODUCT_TTL = timedelta(hours=1)
SEARCH_LIMIT, SEARCH_WINDOW = 5, 10  # searches per client per window (seconds)


# -- a stand-in for a real database ------------------------------------------------------------


class Product(BaseModel):
    id: int
    name: str
    price_cents: int


class ProductUpdate(BaseModel):
    name: str | None = None
    price_cents: int | None = None


class Database:
    """Slow lookups, and a count of them, so that the cache's effect can be seen."""

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

    async def update(self, product_id: int, change: ProductUpdate) -> Product | None:
        self.queries += 1
        current = self.products.get(product_id)
        if current is None:
            return None
        updated = current.model_copy(update=change.model_dump(exclude_none=True))
        self.products[product_id] = updated
        return updated

    async def delete(self, product_id: int) -> bool:
        self.queries += 1
        return self.products.pop(product_id, None) is not None


db = Database()


# -- products: cache-aside, write-through, invalidation ----------------------------------------


@cached(kv, key="product:{product_id}", ttl=PRODUCT_TTL)
async def load_product(product_id: int) -> Product | None:
    """Read through the cache; concurrent misses share one database query."""
    return await db.fetch(product_id)


@app.get("/products/{product_id}")
async def get_product(product_id: int) -> Product:
    product = await load_product(product_id)
    if product is None:
        raise HTTPException(404, "no such product")
    return product


@app.put("/products/{product_id}")
async def update_product(product_id: int, change: ProductUpdate, kv: KV) -> Product:
    product = await db.update(product_id, change)
    if product is None:
        raise HTTPException(404, "no such product")
    await kv.set_json(f"product:{product_id}", product, ttl=PRODUCT_TTL)  # write-through
    return product


@app.delete("/products/{product_id}", status_code=204)
async def delete_product(product_id: int, kv: KV) -> None:
    if not await db.delete(product_id):
        raise HTTPException(404, "no such product")
    await kv.delete(f"product:{product_id}")  # invalidate


@app.get("/stats")
async def stats() -> dict[str, int]:
    return {"db_queries": db.queries}


# -- sessions ----------------------------------------------------------------------------------

sessions = SessionStore(kv, ttl=timedelta(hours=24))


class Login(BaseModel):
    user_id: str


async def current_session(session: Annotated[str | None, Cookie()] = None) -> str:
    """The caller's session id; each request restores the session's full 24 hours."""
    if session is None or not await sessions.refresh(session):
        raise HTTPException(401, "not logged in")
    return session


Session = Annotated[str, Depends(current_session)]


@app.post("/login")
async def login(body: Login, response: Response) -> dict[str, str]:
    now = datetime.now(timezone.utc).isoformat()
    session_id = await sessions.create({"user_id": body.user_id, "created_at": now})
    response.set_cookie("session", session_id, httponly=True, samesite="lax")
    return {"user_id": body.user_id}


@app.get("/me")
async def me(session: Session) -> dict[str, Any]:
    return await sessions.get(session) or {}


@app.post("/logout")
async def logout(session: Session, response: Response) -> dict[str, bool]:
    response.delete_cookie("session")
    return {"logged_out": await sessions.destroy(session)}


# -- a rate-limited endpoint -------------------------------------------------------------------

search_limiter = RateLimiter(kv, SEARCH_LIMIT, SEARCH_WINDOW, strategy="sliding")


async def limit_searches(request: Request, response: Response) -> None:
    client = request.client.host if request.client else "unknown"
    result = await search_limiter.hit(f"search:{client}")
    response.headers["X-RateLimit-Remaining"] = str(result.remaining)
    if not result.allowed:
        retry_after = str(max(1, math.ceil(result.reset_after)))
        raise HTTPException(429, "too many searches", headers={"Retry-After": retry_after})


@app.get("/search", dependencies=[Depends(limit_searches)])
async def search(q: str) -> list[Product]:
    return [p for p in db.products.values() if q.lower() in p.name.lower()]


# -- view counters -----------------------------------------------------------------------------


@app.post("/posts/{post_id}/views")
async def add_view(post_id: int, kv: KV) -> dict[str, int]:
    return {"views": await kv.incr(f"views:post:{post_id}")}


@app.get("/posts/{post_id}/views")
async def get_views(post_id: int, kv: KV) -> dict[str, int]:
    return {"views": int(await kv.get(f"views:post:{post_id}") or 0)}


@app.get("/healthz")
async def healthz(kv: KV) -> dict[str, bool]:
    return {"ok": await kv.ping()}
