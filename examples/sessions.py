"""Server-side sessions: the cookie carries a random id, the data stays in the store.

Run it with::

    python examples/sessions.py
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from aiokv import AsyncClient, SessionStore


async def main() -> None:
    async with AsyncClient(key_prefix="example:sessions:") as kv:
        sessions = SessionStore(kv, ttl=timedelta(hours=24))

        # An anonymous visitor fills a cart.
        anonymous = await sessions.create({"cart": [101]})
        print(f"create -> id {anonymous[:8]}... ({len(anonymous)} characters, 256 random bits)")

        # On login, issue a new id (so an id planted before login is worthless), keep the data.
        data = await sessions.get(anonymous) or {}
        logged_in = await sessions.create(
            {**data, "user_id": 42, "login_at": datetime.now(timezone.utc)}
        )
        await sessions.destroy(anonymous)
        print("login  ->", await sessions.get(logged_in))

        # Each request: read it, change it (the expiry is kept), slide the expiry on activity.
        session = await sessions.get(logged_in)
        assert session is not None
        session["cart"].append(202)
        await sessions.update(logged_in, session)
        await sessions.refresh(logged_in)
        print("update ->", (await sessions.get(logged_in) or {})["cart"])
        print(f"ttl    -> {await kv.ttl('session:' + logged_in)} s")

        # A forged or expired id is simply no session.
        print("forged ->", await sessions.get("not-a-session-id"))

        # Logout.
        print("logout ->", await sessions.destroy(logged_in), await sessions.get(logged_in))

        await kv.flushdb()


if __name__ == "__main__":
    asyncio.run(main())
