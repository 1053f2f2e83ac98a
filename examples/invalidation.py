"""Invalidation: delete the cache entries a write makes stale.

One entry by its key with ``delete``; a family of entries by pattern with ``delete_matching``,
which walks the keyspace with SCAN in batches (never KEYS, which blocks a server).

Run it with::

    python examples/invalidation.py
"""

from __future__ import annotations

import asyncio

from aiokv import AsyncClient


async def main() -> None:
    async with AsyncClient(key_prefix="example:invalidation:") as kv:
        # Cached pages of a product listing, and each product.
        for page in range(1, 6):
            await kv.set_json(f"products:list:page:{page}", [page * 10 + i for i in range(10)])
        for product_id in range(1, 4):
            await kv.set_json(f"product:{product_id}", {"id": product_id}, ttl=3600)
        await kv.set_json("user:1", {"name": "Ada"})

        # Product 2 is deleted from the database: drop its entry and every listing page.
        deleted = await kv.delete("product:2")
        print(f"delete('product:2') -> {deleted}")
        pages = await kv.delete_matching("products:list:*")
        print(f"delete_matching('products:list:*') -> {pages} pages")

        # Glob classes work as in Redis: every product whose id is a single digit.
        print(f"delete_matching('product:[0-9]') -> {await kv.delete_matching('product:[0-9]')}")
        print("left:", sorted(await kv.keys()))

        await kv.flushdb()


if __name__ == "__main__":
    asyncio.run(main())
