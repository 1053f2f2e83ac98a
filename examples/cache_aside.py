"""Cache-aside: read the cache, and on a miss load from the database and fill the cache.

``get_or_set`` does the three steps in one call, and ``@cached`` does it for a whole function.
Both are single-flight: ten concurrent requests for a cold key cause one database query, not ten.

Run it with::

    python examples/cache_aside.py
"""

from __future__ import annotations

import asyncio

from pydantic import BaseModel

from aiokv import AsyncClient, cached

kv = AsyncClient(key_prefix="example:cache-aside:")


class Product(BaseModel):
    id: int
    name: str
    price_cents: int


PRODUCTS = {1: Product(id=1, name="Desk lamp", price_cents=3900)}
queries = 0


async def query_product(product_id: int) -> Product | None:
    """Stands in for a slow database query."""
    global queries
    queries += 1
    await asyncio.sleep(0.05)
    return PRODUCTS.get(product_id)


@cached(kv, ttl=3600, key="product:{product_id}")
async def get_product(product_id: int) -> Product | None:
    return await query_product(product_id)


async def main() -> None:
    async with kv:
        # Ten requests arrive at once for a cold key: one query fills the cache for all.
        products = await asyncio.gather(*(get_product(1) for _ in range(10)))
        print(f"10 concurrent reads -> {queries} query; got {products[0]!r}")

        # Later reads are served from the cache, as Product instances.
        product = await get_product(1)
        assert product is not None
        price = product.price_cents / 100
        print(f"cached read -> {product.name} at {price:.2f}; queries={queries}")

        # "Not found" is cached too, so a missing id cannot hammer the database.
        await get_product(404)
        await get_product(404)
        print(f"two reads of a missing product -> {queries - 1} more query")

        # get_or_set is the same pattern inline, for one-off values.
        async def count_products() -> int:
            await asyncio.sleep(0.01)
            return len(PRODUCTS)

        total = await kv.get_or_set("products:count", count_products, ttl=60)
        print(f"get_or_set('products:count') -> {total} (ttl {await kv.ttl('products:count')} s)")

        await kv.flushdb()  # with a key prefix: only this example's keys


if __name__ == "__main__":
    asyncio.run(main())
