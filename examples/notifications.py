"""Notification fan-out with pub/sub: one publish reaches every subscriber.

Each subscriber listens on its channels and on glob patterns (``"user.*"``); ``publish``
returns how many subscriptions received the message. Pub/sub is at most once: a subscriber
that is not listening when a message is published never sees it (for work that must not be
lost, use ``kv.queue``, see worker_pool.py). Channels are not keys, so the key prefix does not
apply to them.

Run it with::

    python examples/notifications.py
"""

from __future__ import annotations

import asyncio

from aiokv import AsyncClient


async def listener(kv: AsyncClient, name: str, ready: asyncio.Event, out: list[str]) -> None:
    async with kv.subscribe("alerts", patterns=["user.*"]) as sub:
        ready.set()
        async for message in sub:
            if message.data == "shutdown":
                return
            via = f"pattern {message.pattern}" if message.pattern else "channel"
            out.append(f"{name} got {message.data!r} on {message.channel} ({via})")


async def main() -> None:
    async with AsyncClient() as kv:
        out: list[str] = []
        readies = [asyncio.Event() for _ in range(3)]
        tasks = [
            asyncio.create_task(listener(kv, f"device-{i}", ready, out))
            for i, ready in enumerate(readies)
        ]
        await asyncio.gather(*(ready.wait() for ready in readies))

        print("alerts reached", await kv.publish("alerts", "disk almost full"), "subscribers")
        print("user.42 reached", await kv.publish("user.42", "new login"), "subscribers")
        print("billing reached", await kv.publish("billing", "nobody listens"), "subscribers")
        await kv.publish("alerts", "shutdown")
        await asyncio.gather(*tasks)
        for line in sorted(out):
            print("  " + line)


if __name__ == "__main__":
    asyncio.run(main())
