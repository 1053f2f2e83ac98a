"""SessionStore: create, get, update (keeping the expiry), refresh, destroy; unguessable ids."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from aiokv import AsyncClient, InvalidArgumentError, SessionStore


async def test_create_and_get(kv: AsyncClient) -> None:
    store = SessionStore(kv)
    session_id = await store.create({"user_id": 42, "roles": ["admin"]})
    assert await store.get(session_id) == {"user_id": 42, "roles": ["admin"]}
    assert await kv.get(f"session:{session_id}") == '{"user_id":42,"roles":["admin"]}'
    assert 86_399 <= await kv.ttl(f"session:{session_id}") <= 86_400


async def test_ids_are_256_random_bits(kv: AsyncClient) -> None:
    store = SessionStore(kv)
    ids = {await store.create({}) for _ in range(200)}
    assert len(ids) == 200
    for session_id in ids:
        assert len(base64.urlsafe_b64decode(session_id + "=")) == 32


async def test_missing_or_expired_is_none(kv: AsyncClient) -> None:
    store = SessionStore(kv, ttl=0.05)
    session_id = await store.create({"a": 1})
    assert await store.get("A" * 43) is None
    await asyncio.sleep(0.08)
    assert await store.get(session_id) is None
    assert not await store.update(session_id, {"a": 2})
    assert not await store.refresh(session_id)
    assert not await store.destroy(session_id)


@pytest.mark.parametrize("forged", ["", "*", "x" * 42, "x" * 44, "../" * 15, "a b" * 14 + "c"])
async def test_forged_ids_are_refused_without_a_lookup(kv: AsyncClient, forged: str) -> None:
    store = SessionStore(kv)
    await kv.set(f"session:{forged}", "{}")
    assert await store.get(forged) is None
    assert not await store.update(forged, {})
    assert not await store.refresh(forged)
    assert not await store.destroy(forged)
    assert await kv.exists(f"session:{forged}") == 1


async def test_update_replaces_the_data_and_keeps_the_expiry(kv: AsyncClient) -> None:
    store = SessionStore(kv, ttl=timedelta(seconds=100))
    session_id = await store.create({"cart": [1], "user": "ann"})
    await kv.expire(f"session:{session_id}", 50)
    assert await store.update(session_id, {"cart": [1, 2]})
    assert await store.get(session_id) == {"cart": [1, 2]}
    assert 49_000 < await kv.pttl(f"session:{session_id}") <= 50_000


async def test_update_of_a_session_without_expiry(kv: AsyncClient) -> None:
    store = SessionStore(kv)
    session_id = await store.create({})
    await kv.persist(f"session:{session_id}")
    assert await store.update(session_id, {"a": 1})
    assert await kv.pttl(f"session:{session_id}") == -1
    assert await store.get(session_id) == {"a": 1}


async def test_refresh_restores_the_full_ttl(kv: AsyncClient) -> None:
    store = SessionStore(kv, ttl=100)
    session_id = await store.create({})
    await kv.expire(f"session:{session_id}", 5)
    assert await store.refresh(session_id)
    assert 99_000 < await kv.pttl(f"session:{session_id}") <= 100_000


async def test_destroy(kv: AsyncClient) -> None:
    store = SessionStore(kv)
    session_id = await store.create({"a": 1})
    assert await store.destroy(session_id)
    assert await store.get(session_id) is None
    assert not await store.destroy(session_id)


async def test_values_go_through_json(kv: AsyncClient) -> None:
    store = SessionStore(kv)
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    session_id = await store.create({"login": when, "ids": (1, 2)})
    assert await store.get(session_id) == {"login": "2024-01-02T03:04:05Z", "ids": [1, 2]}
    with pytest.raises(ValueError, match="serialize"):
        await store.create({"bad": object()})


async def test_custom_prefix_and_client_prefix(
    make_client: Callable[..., AsyncClient], driver: str
) -> None:
    async with make_client(key_prefix="app:") as kv:
        await kv.flushdb()
        store = SessionStore(kv, prefix="sess:")
        session_id = await store.create({})
        assert await kv.keys() == [f"sess:{session_id}"]
        if driver == "redis":
            async with make_client() as raw:
                assert await raw.exists(f"app:sess:{session_id}") == 1
        assert await store.update(session_id, {"a": 1})  # the script sees the prefixed key
        assert await store.get(session_id) == {"a": 1}


async def test_concurrent_sessions_are_independent(kv: AsyncClient) -> None:
    store = SessionStore(kv)
    ids = await asyncio.gather(*(store.create({"n": n}) for n in range(50)))
    assert [await store.get(i) for i in ids] == [{"n": n} for n in range(50)]


@pytest.mark.parametrize("ttl", [0, -1, timedelta(0)])
def test_invalid_ttl(ttl: float) -> None:
    with pytest.raises(InvalidArgumentError):
        SessionStore(AsyncClient(), ttl=ttl)
