"""Rate limiting: at most N requests per window, exact even with many processes.

Run it with::

    python examples/rate_limiting.py
"""

from __future__ import annotations

import asyncio

from aiokv import AsyncClient, RateLimiter


async def main() -> None:
    async with AsyncClient(key_prefix="example:rate-limiting:") as kv:
        # 5 requests per second per client IP; a sliding window has no burst at window edges.
        limiter = RateLimiter(kv, limit=5, window=1.0, strategy="sliding")

        for n in range(1, 8):
            result = await limiter.hit("ip:203.0.113.9")
            if result.allowed:
                print(f"request {n}: 200 OK ({result.remaining} left)")
            else:
                print(f"request {n}: 429 Too Many Requests, Retry-After {result.reset_after:.2f} s")

        # 1,000 requests at once still let exactly the limit through: each hit is atomic.
        burst = RateLimiter(kv, limit=100, window=60, prefix="burst:")
        results = await asyncio.gather(*(burst.hit("api-key:abc") for _ in range(1000)))
        print(f"1000 concurrent hits, limit 100 -> {sum(r.allowed for r in results)} allowed")

        # Expensive operations can cost more than one unit.
        exports = RateLimiter(kv, limit=10, window=3600, prefix="exports:")
        print("export of cost 4 ->", await exports.hit("user:42", cost=4))

        # A simple yes/no check, and forgetting a key (after a successful login, say).
        logins = RateLimiter(kv, limit=3, window=900, prefix="logins:")
        attempts = [await logins.is_allowed("user:ada") for _ in range(4)]
        print("login attempts ->", attempts)
        await logins.reset("user:ada")
        print("after reset    ->", await logins.is_allowed("user:ada"))

        await kv.flushdb()


if __name__ == "__main__":
    asyncio.run(main())
