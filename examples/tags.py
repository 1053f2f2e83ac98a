"""Tags with sets: tags per post, posts per tag, and cache invalidation by tag.

Run it with::

    python examples/tags.py
"""

from __future__ import annotations

import asyncio

from aiokv import AsyncClient


async def tag_post(kv: AsyncClient, post_id: int, *tags: str) -> None:
    await kv.sadd(f"post:{post_id}:tags", *tags)
    for tag in tags:
        await kv.sadd(f"tag:{tag}:posts", post_id)  # the reverse index


async def cache_for_tags(kv: AsyncClient, key: str, value: object, *tags: str) -> None:
    """Cache ``value`` and remember, per tag, which cache keys depend on it."""
    await kv.set_json(key, value, ttl=3600)
    for tag in tags:
        await kv.sadd(f"cache-tag:{tag}", key)


async def invalidate_tag(kv: AsyncClient, tag: str) -> int:
    keys = await kv.smembers(f"cache-tag:{tag}")
    return await kv.delete(*keys, f"cache-tag:{tag}")


async def main() -> None:
    async with AsyncClient(key_prefix="example:tags:") as kv:
        await tag_post(kv, 1, "python", "async")
        await tag_post(kv, 2, "python", "web")
        await tag_post(kv, 3, "go")

        print("post 1 tags         ->", sorted(await kv.smembers("post:1:tags")))
        print("posts tagged python ->", sorted(await kv.smembers("tag:python:posts")))
        print("is post 3 'python'? ->", await kv.sismember("post:3:tags", "python"))
        print("number of go posts  ->", await kv.scard("tag:go:posts"))

        await kv.srem("post:2:tags", "web")
        await kv.srem("tag:web:posts", 2)
        print("after untagging web ->", sorted(await kv.smembers("post:2:tags")))

        # Cached pages that depend on a tag are dropped together when the tag changes.
        await cache_for_tags(kv, "page:/tags/python", [1, 2], "python")
        await cache_for_tags(kv, "page:/", [1, 2, 3], "python", "go")
        print("invalidate 'python' ->", await invalidate_tag(kv, "python"), "keys deleted")
        print("page:/ cached?      ->", bool(await kv.exists("page:/")))

        await kv.flushdb()


if __name__ == "__main__":
    asyncio.run(main())
