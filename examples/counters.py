"""Counters: page views, stock levels and per-day statistics with INCR/DECR.

Each increment is atomic in the store, so concurrent requests never lose a count (unlike reading
a number, adding one and writing it back).

Run it with::

    python examples/counters.py
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from aiokv import AsyncClient


async def reserve(kv: AsyncClient, product_id: int, quantity: int) -> bool:
    """Take ``quantity`` items from stock if there are enough; never oversell."""
    left = await kv.decrby(f"stock:{product_id}", quantity)
    if left < 0:
        await kv.incrby(f"stock:{product_id}", quantity)  # not enough: give them back
        return False
    return True


async def main() -> None:
    async with AsyncClient(key_prefix="example:counters:") as kv:
        # 500 concurrent page views: exactly 500 counted.
        await asyncio.gather(*(kv.incr("views:post:1") for _ in range(500)))
        print("views:post:1 ->", await kv.get("views:post:1"))

        # 30 buyers race for 10 items: exactly 10 succeed.
        await kv.set("stock:7", 10)
        sold = await asyncio.gather(*(reserve(kv, 7, 1) for _ in range(30)))
        print(f"stock:7 -> {sum(sold)} sold, {await kv.get('stock:7')} left")

        # A counter per day that cleans itself up a week later.
        key = f"signups:{date.today().isoformat()}"
        await kv.incrby(key, 3)
        await kv.expire(key, timedelta(days=7))
        print(f"{key} -> {await kv.get(key)} (expires in {await kv.ttl(key)} s)")

        await kv.flushdb()


if __name__ == "__main__":
    asyncio.run(main())
