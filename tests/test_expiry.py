"""Expiry: ttl/pttl rounding, expire/persist, which writes keep or drop a TTL, lazy expiry."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

import aiokv
from aiokv import AsyncClient

# A TTL short enough to sleep through cheaply, and a sleep comfortably past it.
SHORT = 0.05
PAST_SHORT = 0.12


# --- ttl / pttl ------------------------------------------------------------------------------


async def test_ttl_and_pttl_of_missing_key_are_minus_two(kv: AsyncClient) -> None:
    assert await kv.ttl("missing") == -2
    assert await kv.pttl("missing") == -2


async def test_ttl_and_pttl_of_key_without_expiry_are_minus_one(kv: AsyncClient) -> None:
    await kv.set("k", "v")
    assert await kv.ttl("k") == -1
    assert await kv.pttl("k") == -1


@pytest.mark.parametrize("kind", ["hash", "list", "set"])
async def test_ttl_of_container_without_expiry_is_minus_one(kv: AsyncClient, kind: str) -> None:
    if kind == "hash":
        await kv.hset("k", "f", "v")
    elif kind == "list":
        await kv.rpush("k", "a")
    else:
        await kv.sadd("k", "m")
    assert await kv.ttl("k") == -1
    assert await kv.pttl("k") == -1


async def test_ttl_and_pttl_return_ints(kv: AsyncClient) -> None:
    await kv.set("k", "v", ttl=10.5)
    ttl = await kv.ttl("k")
    pttl = await kv.pttl("k")
    assert type(ttl) is int
    assert type(pttl) is int


async def test_pttl_is_in_milliseconds(kv: AsyncClient) -> None:
    await kv.set("k", "v", ttl=100)
    assert 99_000 < await kv.pttl("k") <= 100_000
    assert await kv.ttl("k") == 100


async def test_ttl_rounds_up_from_point_six(kv: AsyncClient) -> None:
    await kv.set("k", "v", ttl=1.6)
    assert await kv.ttl("k") == 2
    assert 1_400 < await kv.pttl("k") <= 1_600


async def test_ttl_rounds_down_from_point_four(kv: AsyncClient) -> None:
    await kv.set("k", "v", ttl=1.4)
    assert await kv.ttl("k") == 1
    assert 1_200 < await kv.pttl("k") <= 1_400


async def test_ttl_below_one_second_rounds_to_one(kv: AsyncClient) -> None:
    await kv.set("k", "v", ttl=0.8)
    assert await kv.ttl("k") == 1


async def test_ttl_below_half_a_second_is_zero_while_key_exists(kv: AsyncClient) -> None:
    await kv.set("k", "v", ttl=0.4)
    assert await kv.ttl("k") == 0
    assert 0 < await kv.pttl("k") <= 400
    assert await kv.exists("k") == 1


async def test_timedelta_ttl(kv: AsyncClient) -> None:
    await kv.set("k", "v", ttl=timedelta(seconds=100))
    assert await kv.ttl("k") == 100
    await kv.set("j", "v", ttl=timedelta(milliseconds=1600))
    assert await kv.ttl("j") == 2
    assert 1_400 < await kv.pttl("j") <= 1_600


async def test_ttl_has_millisecond_precision(kv: AsyncClient) -> None:
    await kv.set("k", "v", ttl=2.345)
    assert 2_200 < await kv.pttl("k") <= 2_345


# --- expiry actually happens -----------------------------------------------------------------


async def test_key_with_ttl_is_readable_until_it_expires(kv: AsyncClient) -> None:
    await kv.set("k", "v", ttl=0.2)
    assert await kv.get("k") == "v"
    await asyncio.sleep(0.3)
    assert await kv.get("k") is None
    assert await kv.get_bytes("k") is None
    assert await kv.exists("k") == 0
    assert await kv.ttl("k") == -2
    assert await kv.pttl("k") == -2


async def test_expired_key_is_not_listed(kv: AsyncClient) -> None:
    await kv.set("gone", "v", ttl=SHORT)
    await kv.set("stays", "v")
    await asyncio.sleep(PAST_SHORT)
    assert await kv.keys() == ["stays"]
    assert [key async for key in kv.scan_iter()] == ["stays"]


async def test_expired_keys_are_not_listed_by_a_pattern(kv: AsyncClient) -> None:
    for i in range(300):
        await kv.set(f"user:{i}", "v", ttl=SHORT if i % 2 else None)
    await asyncio.sleep(PAST_SHORT)
    live = sorted(f"user:{i}" for i in range(0, 300, 2))
    assert sorted(await kv.keys("user:*")) == live
    assert sorted([key async for key in kv.scan_iter("user:*", count=7)]) == live
    assert await kv.exists(*[f"user:{i}" for i in range(300)]) == 150


async def test_expired_key_can_be_set_with_nx(kv: AsyncClient) -> None:
    await kv.set("k", "old", ttl=SHORT)
    await asyncio.sleep(PAST_SHORT)
    assert await kv.set("k", "new", nx=True) is True
    assert await kv.get("k") == "new"
    assert await kv.ttl("k") == -1


async def test_expired_key_is_not_set_with_xx(kv: AsyncClient) -> None:
    await kv.set("k", "old", ttl=SHORT)
    await asyncio.sleep(PAST_SHORT)
    assert await kv.set("k", "new", xx=True) is False
    assert await kv.exists("k") == 0


async def test_delete_and_expire_do_not_count_an_expired_key(kv: AsyncClient) -> None:
    await kv.set("a", "v", ttl=SHORT)
    await kv.set("b", "v", ttl=SHORT)
    await asyncio.sleep(PAST_SHORT)
    assert await kv.delete("a") == 0
    assert await kv.expire("b", 100) is False
    assert await kv.persist("b") is False


async def test_incr_on_expired_key_starts_from_zero_without_ttl(kv: AsyncClient) -> None:
    await kv.set("n", 41, ttl=SHORT)
    await asyncio.sleep(PAST_SHORT)
    assert await kv.incr("n") == 1
    assert await kv.ttl("n") == -1


async def test_hset_on_expired_hash_starts_empty_without_ttl(kv: AsyncClient) -> None:
    await kv.hset("h", mapping={"old": "1", "f": "1"})
    await kv.expire("h", SHORT)
    await asyncio.sleep(PAST_SHORT)
    assert await kv.hset("h", "f", "2") == 1  # f is a new field again
    assert await kv.hgetall("h") == {"f": "2"}
    assert await kv.ttl("h") == -1


async def test_lpush_on_expired_list_starts_empty_without_ttl(kv: AsyncClient) -> None:
    await kv.rpush("l", "old1", "old2")
    await kv.expire("l", SHORT)
    await asyncio.sleep(PAST_SHORT)
    assert await kv.lpush("l", "new") == 1
    assert await kv.lrange("l", 0, -1) == ["new"]
    assert await kv.ttl("l") == -1


async def test_sadd_on_expired_set_starts_empty_without_ttl(kv: AsyncClient) -> None:
    await kv.sadd("s", "a", "b")
    await kv.expire("s", SHORT)
    await asyncio.sleep(PAST_SHORT)
    assert await kv.sadd("s", "a") == 1
    assert await kv.smembers("s") == {"a"}
    assert await kv.ttl("s") == -1


async def test_expired_container_is_no_longer_a_type_clash(kv: AsyncClient) -> None:
    await kv.hset("k", "f", "v")
    await kv.expire("k", SHORT)
    await asyncio.sleep(PAST_SHORT)
    assert await kv.get("k") is None
    assert await kv.rpush("k", "a") == 1
    assert await kv.lrange("k", 0, -1) == ["a"]


# --- which writes drop or keep a TTL ---------------------------------------------------------


async def test_plain_set_clears_ttl(kv: AsyncClient) -> None:
    await kv.set("k", "v", ttl=100)
    await kv.set("k", "w")
    assert await kv.ttl("k") == -1
    assert await kv.pttl("k") == -1


async def test_set_with_new_ttl_replaces_ttl(kv: AsyncClient) -> None:
    await kv.set("k", "v", ttl=100)
    await kv.set("k", "w", ttl=50)
    assert await kv.ttl("k") == 50


async def test_set_without_ttl_really_removes_expiry(kv: AsyncClient) -> None:
    await kv.set("k", "v", ttl=SHORT)
    await kv.set("k", "w")
    await asyncio.sleep(PAST_SHORT)
    assert await kv.get("k") == "w"


async def test_setex_replaces_ttl(kv: AsyncClient) -> None:
    await kv.set("k", "v", ttl=100)
    await kv.setex("k", "w", 20)
    assert await kv.ttl("k") == 20
    assert await kv.get("k") == "w"


async def test_incr_keeps_ttl(kv: AsyncClient) -> None:
    await kv.set("n", 5, ttl=100)
    assert await kv.incr("n") == 6
    assert await kv.incrby("n", 4) == 10
    assert await kv.decr("n") == 9
    assert await kv.decrby("n", 2) == 7
    assert await kv.ttl("n") == 100


async def test_incr_keeps_a_short_ttl_that_then_fires(kv: AsyncClient) -> None:
    await kv.set("n", 1, ttl=SHORT)
    assert await kv.incr("n") == 2
    await asyncio.sleep(PAST_SHORT)
    assert await kv.get("n") is None


async def test_hset_and_hdel_keep_ttl(kv: AsyncClient) -> None:
    await kv.hset("h", mapping={"a": "1", "b": "2"})
    assert await kv.expire("h", 100) is True
    await kv.hset("h", "c", "3")
    await kv.hdel("h", "a")
    assert await kv.ttl("h") == 100


async def test_list_pushes_and_pops_keep_ttl(kv: AsyncClient) -> None:
    await kv.rpush("l", "a", "b", "c")
    assert await kv.expire("l", 100) is True
    await kv.lpush("l", "x")
    await kv.rpush("l", "y")
    await kv.lpop("l")
    await kv.rpop("l")
    assert await kv.ttl("l") == 100


async def test_sadd_and_srem_keep_ttl(kv: AsyncClient) -> None:
    await kv.sadd("s", "a", "b")
    assert await kv.expire("s", 100) is True
    await kv.sadd("s", "c")
    await kv.srem("s", "a")
    assert await kv.ttl("s") == 100


async def test_emptied_container_loses_its_ttl_with_the_key(kv: AsyncClient) -> None:
    await kv.rpush("l", "a")
    await kv.expire("l", 100)
    await kv.rpop("l")
    assert await kv.ttl("l") == -2
    await kv.rpush("l", "b")
    assert await kv.ttl("l") == -1


# --- expire ----------------------------------------------------------------------------------


async def test_expire_sets_ttl_on_existing_key(kv: AsyncClient) -> None:
    await kv.set("k", "v")
    assert await kv.expire("k", 100) is True
    assert await kv.ttl("k") == 100


async def test_expire_missing_key_returns_false(kv: AsyncClient) -> None:
    assert await kv.expire("missing", 100) is False
    assert await kv.exists("missing") == 0


async def test_expire_accepts_float_and_timedelta(kv: AsyncClient) -> None:
    await kv.set("a", "v")
    await kv.set("b", "v")
    assert await kv.expire("a", 1.6) is True
    assert await kv.ttl("a") == 2
    assert 1_400 < await kv.pttl("a") <= 1_600
    assert await kv.expire("b", timedelta(minutes=2)) is True
    assert await kv.ttl("b") == 120


async def test_expire_replaces_an_existing_ttl(kv: AsyncClient) -> None:
    await kv.set("k", "v", ttl=100)
    assert await kv.expire("k", 300) is True
    assert await kv.ttl("k") == 300


async def test_expire_short_ttl_fires(kv: AsyncClient) -> None:
    await kv.set("k", "v")
    assert await kv.expire("k", SHORT) is True
    await asyncio.sleep(PAST_SHORT)
    assert await kv.exists("k") == 0


@pytest.mark.parametrize("ttl", [0, -1, -100, 0.0, -0.5])
async def test_expire_non_positive_deletes_key_and_returns_true(
    kv: AsyncClient, ttl: float
) -> None:
    await kv.set("k", "v")
    assert await kv.expire("k", ttl) is True
    # Deleted at once, not left behind to expire: nothing is counted by DBSIZE.
    assert await kv.dbsize() == 0
    assert await kv.exists("k") == 0
    assert await kv.get("k") is None
    assert await kv.ttl("k") == -2


async def test_expire_timedelta_zero_deletes_key(kv: AsyncClient) -> None:
    await kv.hset("h", "f", "v")
    assert await kv.expire("h", timedelta(0)) is True
    assert await kv.exists("h") == 0


@pytest.mark.parametrize("ttl", [0, -1])
async def test_expire_non_positive_on_missing_key_returns_false(kv: AsyncClient, ttl: int) -> None:
    assert await kv.expire("missing", ttl) is False
    assert await kv.exists("missing") == 0


@pytest.mark.parametrize("kind", ["hash", "list", "set"])
async def test_expire_non_positive_deletes_containers(kv: AsyncClient, kind: str) -> None:
    if kind == "hash":
        await kv.hset("k", "f", "v")
    elif kind == "list":
        await kv.rpush("k", "a")
    else:
        await kv.sadd("k", "m")
    assert await kv.expire("k", 0) is True
    assert await kv.dbsize() == 0
    assert await kv.exists("k") == 0


# --- persist ---------------------------------------------------------------------------------


async def test_persist_removes_ttl_and_returns_true(kv: AsyncClient) -> None:
    await kv.set("k", "v", ttl=100)
    assert await kv.persist("k") is True
    assert await kv.ttl("k") == -1
    assert await kv.get("k") == "v"


async def test_persist_on_key_without_ttl_returns_false(kv: AsyncClient) -> None:
    await kv.set("k", "v")
    assert await kv.persist("k") is False
    assert await kv.get("k") == "v"


async def test_persist_twice_returns_true_then_false(kv: AsyncClient) -> None:
    await kv.set("k", "v", ttl=100)
    assert await kv.persist("k") is True
    assert await kv.persist("k") is False


async def test_persist_on_missing_key_returns_false(kv: AsyncClient) -> None:
    assert await kv.persist("missing") is False
    assert await kv.exists("missing") == 0


async def test_persisted_key_survives_its_old_deadline(kv: AsyncClient) -> None:
    await kv.set("k", "v", ttl=SHORT)
    assert await kv.persist("k") is True
    await asyncio.sleep(PAST_SHORT)
    assert await kv.get("k") == "v"


async def test_persist_works_on_containers(kv: AsyncClient) -> None:
    await kv.sadd("s", "m")
    await kv.expire("s", 100)
    assert await kv.persist("s") is True
    assert await kv.ttl("s") == -1


async def test_setex_with_invalid_ttl_is_an_invalid_argument(kv: AsyncClient) -> None:
    with pytest.raises(aiokv.InvalidArgumentError):
        await kv.setex("k", "v", -5)
    with pytest.raises(aiokv.InvalidArgumentError):
        await kv.setex("k", "v", timedelta(seconds=-1))
    assert await kv.exists("k") == 0


# --- TTLs beyond the 64-bit millisecond range --------------------------------------------------

# 10**16 s is 10**19 ms, past INT64_MAX: the server refuses the argument as "not an integer".
HUGE_TTL = 10**16


async def test_set_with_ttl_beyond_int64_ms_is_refused(kv: AsyncClient) -> None:
    with pytest.raises(aiokv.NotAnIntegerError):
        await kv.set("k", "v", ttl=HUGE_TTL)
    with pytest.raises(aiokv.NotAnIntegerError):
        await kv.setex("k", "v", HUGE_TTL)
    assert await kv.exists("k") == 0


async def test_expire_beyond_int64_ms_is_refused_and_changes_nothing(kv: AsyncClient) -> None:
    await kv.set("k", "v")
    with pytest.raises(aiokv.NotAnIntegerError):
        await kv.expire("k", HUGE_TTL)
    with pytest.raises(aiokv.NotAnIntegerError):
        await kv.expire("k", -HUGE_TTL)
    assert await kv.get("k") == "v"
    assert await kv.ttl("k") == -1


async def test_very_long_ttl_within_range(kv: AsyncClient) -> None:
    # One million years still fits: ms = 3.15e16.
    await kv.set("k", "v", ttl=timedelta(days=365 * 1_000_000))
    assert await kv.ttl("k") == 365 * 1_000_000 * 86_400


async def test_active_expiry_reclaims_keys_nobody_touches(kv: AsyncClient) -> None:
    # DBSIZE counts expired keys not yet reclaimed and does not itself expire anything, so it
    # only drops once background (active) expiry has deleted the keys. Poll with a deadline:
    # a server reclaims within a cycle or two (hz=10); allow a generous bound.
    for i in range(30):
        await kv.set(f"tmp:{i}", "v", ttl=SHORT)
    await kv.set("kept", "v")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 2.5
    size = await kv.dbsize()
    while size > 1 and loop.time() < deadline:
        await asyncio.sleep(0.05)
        size = await kv.dbsize()
    assert size == 1
