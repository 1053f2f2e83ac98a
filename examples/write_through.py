"""Write-through: every write goes to the database, then straight into the cache.

Reads then find fresh data in the cache without ever loading it on a miss. The cache entry still
has a TTL, so a write that reached the database but not the cache (a crash in between) heals by
itself.

Run it with::

    python examples/write_through.py
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pydantic import BaseModel

from aiokv import AsyncClient

TTL = timedelta(hours=1)


class Product(BaseModel):
    id: int
    name: str
    price_cents: int


class ProductService:
    def __init__(self, kv: AsyncClient) -> None:
        self.kv = kv
        self.db: dict[int, Product] = {}  # stands in for the database

    async def save(self, product: Product) -> Product:
        self.db[product.id] = product  # 1. the database is the source of truth
        await self.kv.set_json(f"product:{product.id}", product, ttl=TTL)  # 2. then the cache
        return product

    async def rename(self, product_id: int, name: str) -> Product:
        updated = self.db[product_id].model_copy(update={"name": name})
        return await self.save(updated)

    async def get(self, product_id: int) -> Product | None:
        cached = await self.kv.get_json(f"product:{product_id}", type=Product)
        if cached is not None:
            return cached
        found = self.db.get(product_id)  # evicted or expired: fall back to the database
        if found is not None:
            await self.kv.set_json(f"product:{product_id}", found, ttl=TTL)
        return found


async def main() -> None:
    async with AsyncClient(key_prefix="example:write-through:") as kv:
        service = ProductService(kv)
        await service.save(Product(id=7, name="Chair", price_cents=4900))
        print("after save   ->", await kv.get("product:7"))

        await service.rename(7, "Office chair")
        print("after rename ->", await service.get(7))

        await kv.delete("product:7")  # as if the entry had been evicted
        print("after evict  ->", await service.get(7), "(reloaded from the database)")

        await kv.flushdb()


if __name__ == "__main__":
    asyncio.run(main())
