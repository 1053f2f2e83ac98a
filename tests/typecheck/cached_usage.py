"""A user module that mypy --strict must accept: @cached keeps signatures and return types.

Checked by tests/test_patterns_typing.py (and by `mypy` when tests/typecheck is in its files).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from typing_extensions import assert_type

from aiokv import AsyncClient, Lock, RateLimiter, RateLimitResult, SessionStore, cached

kv = AsyncClient()


class Product(BaseModel):
    id: int
    name: str


@cached(kv, ttl=60, key="product:{product_id}")
async def get_product(product_id: int, *, fresh: bool = False) -> Product:
    return Product(id=product_id, name="lamp")


@cached(lambda: kv, key="maybe:{product_id}")
async def find_product(product_id: int) -> Product | None:
    return None


class ProductService:
    @cached(kv, ttl=60, key="service:product:{product_id}")
    async def get(self, product_id: int) -> Product:
        return Product(id=product_id, name="chair")


async def load_product() -> Product:
    return Product(id=1, name="desk")


async def use() -> str:
    product = await get_product(1)
    assert_type(product, Product)
    product = await get_product(product_id=2, fresh=True)
    name: str = product.name

    maybe = await find_product(3)
    assert_type(maybe, Product | None)
    if maybe is not None:
        name += str(maybe.id + 1)

    assert_type(await ProductService().get(4), Product)

    assert_type(await kv.get_json("p", type=Product), Product | None)
    assert_type(await kv.get_json("ps", type=list[Product]), list[Product] | None)
    assert_type(await kv.get_json("raw"), Any)

    assert_type(await kv.get_or_set("n", lambda: 1), int)
    assert_type(await kv.get_or_set("p", load_product), Product)
    assert_type(await kv.get_or_set("p", load_product, 60, type=Product), Product)

    result = await RateLimiter(kv, 10, 60, "sliding").hit("ip")
    assert_type(result, RateLimitResult)
    allowed: bool = result.allowed

    session_id = await SessionStore(kv).create({"user": 1})
    assert_type(await SessionStore(kv).get(session_id), dict[str, Any] | None)

    async with kv.lock("rebuild", ttl=5, blocking_timeout=1) as lock:
        assert_type(lock, Lock)
    return f"{name} {allowed}"
