"""aiokv's basic operations, end to end, printing what each one does.

Run it with nothing but ``pip install aiokv``: the default driver is the in-process memory
driver, so no server is needed::

    python examples/quickstart.py

The same script runs against a Redis-compatible server when the environment says so::

    KV_DRIVER=redis REDIS_URL=redis://localhost:6379/0 python examples/quickstart.py

Its keys live under the ``quickstart:`` prefix and are deleted at the end, so running it against
a shared server touches nothing else.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from aiokv import AsyncClient, NotAnIntegerError, WrongTypeError


@dataclass
class User:
    id: int
    name: str


def show(what: str, result: object) -> None:
    print(f"  {what:<50} -> {result!r}")


def show_error(what: str, error: Exception) -> None:
    print(f"  {what:<50} -> raises {type(error).__name__}: {error}")


async def main() -> None:
    # Settings come from arguments, then the environment (KV_DRIVER, REDIS_URL, ...), then .env.
    async with AsyncClient(key_prefix="quickstart:") as kv:
        print(f"driver: {kv.settings.driver} ({kv.settings.masked_url})")

        print("\nstrings")
        show('set("greeting", "hello")', await kv.set("greeting", "hello"))
        show('get("greeting")', await kv.get("greeting"))
        show('get("missing")  # a miss is None', await kv.get("missing"))
        show(
            'set("greeting", "hi", nx=True)  # only if new', await kv.set("greeting", "hi", nx=True)
        )

        print("\nexpiration")
        # Structured values go in and out as JSON (never pickle), typed on the way out.
        await kv.set_json("user:123", User(id=123, name="Ada"), ttl=timedelta(hours=1))
        print('  set_json("user:123", User(id=123, name="Ada"), ttl=timedelta(hours=1))')
        show('ttl("user:123")', await kv.ttl("user:123"))
        show('get_json("user:123", type=User)', await kv.get_json("user:123", type=User))
        await kv.setex("search:results:query", "[1, 2, 3]", 5 * 60)
        show('setex("search:results:query", ..., 300); ttl', await kv.ttl("search:results:query"))
        show('ttl("greeting")  # no expiry', await kv.ttl("greeting"))
        show('expire("greeting", 60)', await kv.expire("greeting", 60))
        show('persist("greeting")', await kv.persist("greeting"))
        await kv.set("flash", "gone soon", ttl=0.2)
        await asyncio.sleep(0.3)
        show('get("flash") 0.3 s after ttl=0.2', await kv.get("flash"))

        print("\nexistence and deletion")
        show('exists("greeting")', await kv.exists("greeting"))
        show('delete("greeting")', await kv.delete("greeting"))
        show('exists("greeting")', await kv.exists("greeting"))
        await kv.set("a", 1)
        await kv.set("b", 2)
        show('delete("a", "b", "c")  # how many existed', await kv.delete("a", "b", "c"))

        print("\ncounters")
        show('incr("views:post:1")', await kv.incr("views:post:1"))
        show('incr("views:post:1")', await kv.incr("views:post:1"))
        await kv.set("stock:product:7", 10)
        show('decr("stock:product:7")', await kv.decr("stock:product:7"))
        show('incrby("views:post:1", 40)', await kv.incrby("views:post:1", 40))

        print("\nhashes")
        show(
            'hset("user:123:profile", mapping=...)',
            await kv.hset("user:123:profile", mapping={"name": "Ada", "lang": "en"}),
        )
        show(
            'hset("user:123:profile", "lang", "fr")',
            await kv.hset("user:123:profile", "lang", "fr"),
        )
        show('hget("user:123:profile", "lang")', await kv.hget("user:123:profile", "lang"))
        show('hgetall("user:123:profile")', await kv.hgetall("user:123:profile"))

        print("\nlists (a queue: push left, pop right)")
        show('lpush("jobs", "resize", "email")', await kv.lpush("jobs", "resize", "email"))
        show('llen("jobs")', await kv.llen("jobs"))
        show('rpop("jobs")', await kv.rpop("jobs"))
        show('lrange("jobs", 0, -1)', await kv.lrange("jobs", 0, -1))

        print("\nsets")
        show(
            'sadd("post:1:tags", "python", "async", "python")',
            await kv.sadd("post:1:tags", "python", "async", "python"),
        )
        show('smembers("post:1:tags")', sorted(await kv.smembers("post:1:tags")))
        show('sismember("post:1:tags", "go")', await kv.sismember("post:1:tags", "go"))

        print("\nkeys")
        show('keys("user:*")', sorted(await kv.keys("user:*")))
        show('type("jobs")', await kv.type("jobs"))

        print("\nerrors")
        try:
            await kv.incr("user:123")
        except NotAnIntegerError as exc:
            show_error('incr("user:123")  # holds JSON text', exc)
        try:
            await kv.get("jobs")
        except WrongTypeError as exc:
            show_error('get("jobs")  # holds a list', exc)

        await kv.flushdb()  # with a key prefix, only the keys under it
        show("flushdb(); dbsize()", await kv.dbsize())


if __name__ == "__main__":
    asyncio.run(main())
