"""Keyspace commands beyond DEL/EXISTS/EXPIRE: UNLINK, TOUCH, RENAME(NX), COPY, EXPIRE's
NX/XX/GT/LT, (P)EXPIREAT, (P)EXPIRETIME, RANDOMKEY and the SCAN cursor.

Every test runs on both drivers; the expected values are what redis-server 7.0 answers (the
redis run of each test is the check). No test depends on timing: TTLs are long and compared
with a tolerance, and absolute times are far in the past or the future.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import aiokv
from aiokv import AsyncClient

FAR_FUTURE = datetime(2999, 1, 1, tzinfo=timezone.utc)
FAR_FUTURE_S = 32472144000
PAST = datetime(2001, 9, 9, tzinfo=timezone.utc)


async def _fill(kv: AsyncClient) -> None:
    """One key of each type."""
    await kv.set("s", "v")
    await kv.hset("h", "f", "v")
    await kv.rpush("l", "a", "b")
    await kv.sadd("z", "m")


# --- UNLINK, TOUCH ---------------------------------------------------------------------------


async def test_unlink_counts_each_existing_key_once(kv: AsyncClient) -> None:
    await _fill(kv)
    assert await kv.unlink("s", "s", "h", "missing") == 2
    assert await kv.exists("s", "h") == 0
    assert await kv.unlink() == 0
    assert await kv.unlink("l", "z") == 2
    assert await kv.dbsize() == 0


async def test_touch_counts_existing_keys_with_duplicates(kv: AsyncClient) -> None:
    await _fill(kv)
    assert await kv.touch("s", "s", "h", "missing") == 3
    assert await kv.touch() == 0
    assert await kv.touch("missing") == 0


async def test_touch_changes_neither_value_nor_ttl(kv: AsyncClient) -> None:
    await kv.set("k", "v", ttl=100)
    await kv.touch("k")
    assert await kv.get("k") == "v"
    assert 99 <= await kv.ttl("k") <= 100


async def test_touch_does_not_break_a_watch(kv: AsyncClient) -> None:
    await kv.set("k", "v")
    attempts = 0

    async def body(tx: Any) -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            assert await kv.touch("k") == 1  # another connection: not a write
        tx.multi()
        tx.set("k", "w")

    assert await kv.transaction(body, "k") == [True]
    assert attempts == 1


async def test_a_write_does_break_a_watch(kv: AsyncClient) -> None:
    # The control for the test above: the same shape with a write retries.
    await kv.set("k", "v")
    attempts = 0

    async def body(tx: Any) -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            await kv.append("k", "x")
        tx.multi()
        tx.set("k", "w")

    assert await kv.transaction(body, "k") == [True]
    assert attempts == 2


# --- RENAME, RENAMENX ------------------------------------------------------------------------


@pytest.mark.one_slot
async def test_rename_moves_the_value_and_the_ttl(kv: AsyncClient) -> None:
    await kv.set("a", "v", ttl=100)
    assert await kv.rename("a", "b") is None  # type: ignore[func-returns-value]
    assert await kv.exists("a") == 0
    assert await kv.get("b") == "v"
    assert 99 <= await kv.ttl("b") <= 100


@pytest.mark.one_slot
async def test_rename_replaces_the_destination_and_its_ttl(kv: AsyncClient) -> None:
    await kv.set("a", "v")
    await kv.hset("b", "f", "x")
    await kv.expire("b", 100)
    await kv.rename("a", "b")
    assert await kv.get("b") == "v"
    assert await kv.ttl("b") == -1


@pytest.mark.one_slot
async def test_rename_of_containers(kv: AsyncClient) -> None:
    await _fill(kv)
    await kv.rename("l", "l2")
    await kv.rename("h", "h2")
    assert await kv.lrange("l2", 0, -1) == ["a", "b"]
    assert await kv.hgetall("h2") == {"f": "v"}
    assert sorted(await kv.keys()) == ["h2", "l2", "s", "z"]


@pytest.mark.one_slot
async def test_rename_of_a_missing_key_raises_no_such_key(kv: AsyncClient) -> None:
    await kv.set("b", "kept")
    with pytest.raises(aiokv.NoSuchKeyError, match="ERR no such key") as caught:
        await kv.rename("missing", "b")
    assert isinstance(caught.value, aiokv.CommandError)
    assert isinstance(caught.value, LookupError)
    assert await kv.get("b") == "kept"
    with pytest.raises(aiokv.NoSuchKeyError):
        await kv.rename("missing", "missing")
    with pytest.raises(aiokv.NoSuchKeyError):
        await kv.renamenx("missing", "other")


@pytest.mark.one_slot
async def test_rename_of_an_expired_key_raises_no_such_key(kv: AsyncClient) -> None:
    await kv.set("a", "v", ttl=100)
    await kv.pexpire("a", -1)
    with pytest.raises(aiokv.NoSuchKeyError):
        await kv.rename("a", "b")


async def test_rename_to_itself_changes_nothing(kv: AsyncClient) -> None:
    await kv.set("a", "v", ttl=100)
    await kv.rename("a", "a")
    assert await kv.get("a") == "v"
    assert 99 <= await kv.ttl("a") <= 100
    assert await kv.renamenx("a", "a") is False


@pytest.mark.one_slot
async def test_renamenx(kv: AsyncClient) -> None:
    await kv.set("a", "1", ttl=100)
    await kv.set("b", "2")
    assert await kv.renamenx("a", "b") is False
    assert await kv.mget("a", "b") == ["1", "2"]
    assert await kv.renamenx("a", "c") is True
    assert await kv.mget("a", "c") == [None, "1"]
    assert 99 <= await kv.ttl("c") <= 100


# --- COPY ------------------------------------------------------------------------------------


@pytest.mark.one_slot
async def test_copy_a_string_with_its_ttl(kv: AsyncClient) -> None:
    await kv.set("a", "v", FAR_FUTURE)
    assert await kv.copy("a", "b") is True
    assert await kv.get("b") == "v"
    assert await kv.expiretime("b") == FAR_FUTURE_S
    assert await kv.get("a") == "v"


@pytest.mark.one_slot
async def test_copy_of_containers_is_deep(kv: AsyncClient) -> None:
    await _fill(kv)
    for src in ("h", "l", "z"):
        assert await kv.copy(src, src + "2") is True
    await kv.hset("h2", "g", "w")
    await kv.rpush("l2", "c")
    await kv.sadd("z2", "n")
    assert await kv.hgetall("h") == {"f": "v"}
    assert await kv.lrange("l", 0, -1) == ["a", "b"]
    assert await kv.smembers("z") == {"m"}
    assert await kv.hgetall("h2") == {"f": "v", "g": "w"}
    assert await kv.lrange("l2", 0, -1) == ["a", "b", "c"]
    assert await kv.smembers("z2") == {"m", "n"}


@pytest.mark.one_slot
async def test_copy_onto_an_existing_key(kv: AsyncClient) -> None:
    await kv.set("a", "new")
    await kv.set("b", "old", ttl=100)
    assert await kv.copy("a", "b") is False
    assert await kv.get("b") == "old"
    assert await kv.copy("a", "b", replace=True) is True
    assert await kv.get("b") == "new"
    assert await kv.ttl("b") == -1  # the source has none


@pytest.mark.one_slot
async def test_copy_of_a_missing_key_is_false(kv: AsyncClient) -> None:
    assert await kv.copy("missing", "b") is False
    assert await kv.copy("missing", "b", replace=True) is False
    assert await kv.exists("b") == 0


async def test_copy_to_itself_is_refused(kv: AsyncClient) -> None:
    with pytest.raises(aiokv.InvalidArgumentError, match="source and destination"):
        kv.copy("a", "a")


# --- EXPIRE's conditions ---------------------------------------------------------------------


async def test_expire_nx_only_without_a_ttl(kv: AsyncClient) -> None:
    await kv.set("k", "v")
    assert await kv.expire("k", 100, nx=True) is True
    assert await kv.expire("k", 200, nx=True) is False
    assert 99 <= await kv.ttl("k") <= 100
    assert await kv.expire("missing", 100, nx=True) is False


async def test_expire_xx_only_with_a_ttl(kv: AsyncClient) -> None:
    await kv.set("k", "v")
    assert await kv.expire("k", 100, xx=True) is False
    assert await kv.ttl("k") == -1
    await kv.expire("k", 100)
    assert await kv.expire("k", 200, xx=True) is True
    assert 199 <= await kv.ttl("k") <= 200


async def test_expire_gt_counts_no_ttl_as_infinite(kv: AsyncClient) -> None:
    await kv.set("k", "v")
    assert await kv.expire("k", 100, gt=True) is False  # nothing beats "never"
    assert await kv.ttl("k") == -1
    await kv.expire("k", 100)
    assert await kv.expire("k", 50, gt=True) is False
    assert await kv.expire("k", 200, gt=True) is True
    assert 199 <= await kv.ttl("k") <= 200
    assert await kv.expire("k", -1, gt=True) is False
    assert await kv.exists("k") == 1


async def test_expire_lt_always_applies_to_a_key_without_ttl(kv: AsyncClient) -> None:
    await kv.set("k", "v")
    assert await kv.expire("k", 100, lt=True) is True
    assert await kv.expire("k", 200, lt=True) is False
    assert await kv.expire("k", 50, lt=True) is True
    assert 49 <= await kv.ttl("k") <= 50
    await kv.set("d", "v")
    assert await kv.expire("d", -1, lt=True) is True  # a past time deletes
    assert await kv.exists("d") == 0


async def test_expire_xx_with_gt_or_lt(kv: AsyncClient) -> None:
    await kv.set("k", "v")
    assert await kv.expire("k", 100, xx=True, lt=True) is False  # no TTL: XX fails
    await kv.expire("k", 100)
    assert await kv.expire("k", 200, xx=True, gt=True) is True
    assert await kv.expire("k", 300, xx=True, lt=True) is False
    assert 199 <= await kv.ttl("k") <= 200


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"nx": True, "xx": True}, "NX and XX, GT or LT"),
        ({"nx": True, "gt": True}, "NX and XX, GT or LT"),
        ({"nx": True, "lt": True}, "NX and XX, GT or LT"),
        ({"gt": True, "lt": True}, "GT and LT options"),
    ],
)
async def test_incompatible_expire_flags_are_refused(
    kv: AsyncClient, flags: dict[str, bool], message: str
) -> None:
    await kv.set("k", "v")
    for call in (
        lambda: kv.expire("k", 10, **flags),
        lambda: kv.pexpire("k", 10_000, **flags),
        lambda: kv.expireat("k", FAR_FUTURE, **flags),
        lambda: kv.pexpireat("k", FAR_FUTURE, **flags),
    ):
        with pytest.raises(aiokv.InvalidArgumentError, match=message):
            call()
    assert await kv.ttl("k") == -1


# --- PEXPIRE, EXPIREAT, PEXPIREAT ------------------------------------------------------------


async def test_pexpire_in_milliseconds(kv: AsyncClient) -> None:
    await kv.set("k", "v")
    assert await kv.pexpire("k", 100_500) is True
    assert 100_000 <= await kv.pttl("k") <= 100_500
    assert await kv.pexpire("k", 200_000, gt=True) is True
    assert await kv.pexpire("k", 300_000, lt=True) is False
    assert await kv.pexpire("missing", 1000) is False
    assert await kv.pexpire("k", 0) is True
    assert await kv.exists("k") == 0


async def test_pexpire_refuses_what_is_not_an_int(kv: AsyncClient) -> None:
    for ms in (1.5, True, "10", 2**63):
        with pytest.raises(aiokv.NotAnIntegerError):
            kv.pexpire("k", ms)  # type: ignore[arg-type]


async def test_expireat_with_a_datetime_or_unix_seconds(kv: AsyncClient) -> None:
    await kv.set("k", "v")
    assert await kv.expireat("k", FAR_FUTURE) is True
    assert await kv.expiretime("k") == FAR_FUTURE_S
    assert await kv.pexpiretime("k") == FAR_FUTURE_S * 1000
    assert await kv.expireat("k", FAR_FUTURE_S + 10) is True
    assert await kv.expiretime("k") == FAR_FUTURE_S + 10
    assert await kv.expireat("missing", FAR_FUTURE) is False


async def test_expireat_in_the_past_deletes(kv: AsyncClient) -> None:
    await kv.set("a", "v")
    await kv.set("b", "v")
    await kv.set("c", "v")
    assert await kv.expireat("a", PAST) is True
    assert await kv.expireat("b", 1) is True
    assert await kv.pexpireat("c", -5) is True
    assert await kv.exists("a", "b", "c") == 0


async def test_expireat_with_conditions(kv: AsyncClient) -> None:
    await kv.set("k", "v")
    assert await kv.expireat("k", FAR_FUTURE, gt=True) is False
    assert await kv.expireat("k", FAR_FUTURE, xx=True) is False
    assert await kv.expireat("k", FAR_FUTURE, nx=True) is True
    # The same time again is neither greater nor less than the current one.
    assert await kv.expireat("k", FAR_FUTURE, gt=True) is False
    assert await kv.expireat("k", FAR_FUTURE, lt=True) is False
    assert await kv.pexpireat("k", FAR_FUTURE_S * 1000, gt=True) is False
    assert await kv.pexpireat("k", FAR_FUTURE_S * 1000 + 1, gt=True) is True
    assert await kv.pexpiretime("k") == FAR_FUTURE_S * 1000 + 1
    assert await kv.expireat("k", FAR_FUTURE_S - 1, lt=True) is True
    assert await kv.expiretime("k") == FAR_FUTURE_S - 1
    assert await kv.expireat("k", PAST, gt=True) is False
    assert await kv.expireat("k", PAST, lt=True) is True
    assert await kv.exists("k") == 0


async def test_expireat_beyond_the_servers_range(kv: AsyncClient) -> None:
    await kv.set("k", "v")
    with pytest.raises(aiokv.InvalidArgumentError, match="invalid expire time in 'expireat'"):
        await kv.expireat("k", 9223372036854776)
    assert await kv.expireat("k", 9223372036854775) is True  # the largest it takes
    assert await kv.ttl("k") > 10**15
    for bad in (1.5, True, 2**63):
        with pytest.raises(aiokv.NotAnIntegerError):
            kv.expireat("k", bad)  # type: ignore[arg-type]


async def test_pexpireat_is_exact_to_the_millisecond(kv: AsyncClient) -> None:
    await kv.set("k", "v")
    assert await kv.pexpireat("k", 99_999_999_999_999) is True
    assert await kv.pexpiretime("k") == 99_999_999_999_999
    assert await kv.expiretime("k") == 100_000_000_000  # seconds rounded half up
    await kv.pexpireat("k", 99_999_999_999_499)
    assert await kv.expiretime("k") == 99_999_999_999
    await kv.pexpireat("k", FAR_FUTURE)
    assert await kv.pexpiretime("k") == FAR_FUTURE_S * 1000


async def test_expiretime_of_missing_and_persistent_keys(kv: AsyncClient) -> None:
    assert await kv.expiretime("missing") == -2
    assert await kv.pexpiretime("missing") == -2
    await kv.set("k", "v")
    assert await kv.expiretime("k") == -1
    assert await kv.pexpiretime("k") == -1
    await kv.hset("h", "f", "v")
    await kv.expireat("h", FAR_FUTURE)
    assert await kv.expiretime("h") == FAR_FUTURE_S


async def test_expiretime_follows_a_relative_ttl(kv: AsyncClient) -> None:
    await kv.set("k", "v", ttl=1000)
    now = await kv.expiretime("k") - 1000  # the server's idea of now
    await kv.expire("k", 5000)
    assert abs(await kv.expiretime("k") - (now + 5000)) <= 2


async def test_expire_of_an_existing_key_still_works_with_an_int_and_a_timedelta(
    kv: AsyncClient,
) -> None:
    await kv.set("k", "v")
    assert await kv.expire("k", timedelta(seconds=100)) is True
    assert 99 <= await kv.ttl("k") <= 100


# --- RANDOMKEY -------------------------------------------------------------------------------


async def test_randomkey(kv: AsyncClient) -> None:
    assert await kv.randomkey() is None
    await _fill(kv)
    seen = {await kv.randomkey() for _ in range(60)}
    assert seen <= {"s", "h", "l", "z"}
    assert len(seen) >= 2  # 60 draws of one key among 4: (1/4)**59 that this fails


async def test_randomkey_skips_expired_keys(kv: AsyncClient) -> None:
    await kv.set("gone", "v", ttl=100)
    await kv.pexpire("gone", -1)
    assert await kv.randomkey() is None
    await kv.set("stays", "v")
    assert await kv.randomkey() == "stays"


async def test_randomkey_under_a_key_prefix(
    kv: AsyncClient, make_client: Callable[..., AsyncClient]
) -> None:
    async with make_client(key_prefix="app:") as app:
        await app.flushdb()
        assert await app.randomkey() is None
        await app.set("a", "v")
        await app.set("b", "v")
        if kv.settings.driver == "redis":  # two memory clients never share a store
            for i in range(20):
                await kv.set(f"other{i}", "v")
        assert {await app.randomkey() for _ in range(30)} <= {"a", "b"}
        with pytest.raises(aiokv.InvalidArgumentError):
            await app.pipeline().randomkey().execute()


# --- SCAN ------------------------------------------------------------------------------------


async def _walk(kv: AsyncClient, **options: Any) -> list[str]:
    found: list[str] = []
    cursor = 0
    while True:
        cursor, keys = await kv.scan(cursor, **options)
        assert isinstance(cursor, int)
        found += keys
        if cursor == 0:
            return found


async def test_scan_of_an_empty_database(kv: AsyncClient) -> None:
    assert await kv.scan() == (0, [])


async def test_scan_walks_every_key(kv: AsyncClient) -> None:
    names = {f"k{i}" for i in range(300)}
    await kv.mset(dict.fromkeys(names, "v"))
    assert set(await _walk(kv)) == names
    assert set(await _walk(kv, count=7)) == names
    assert set(await _walk(kv, count=1000)) == names


async def test_scan_with_match_and_type(kv: AsyncClient) -> None:
    await kv.mset({f"user:{i}": "v" for i in range(50)})
    await kv.mset({f"item:{i}": "v" for i in range(50)})
    await kv.hset("user:h", "f", "v")
    await kv.rpush("user:l", "x")
    assert set(await _walk(kv, match="user:1?")) == {f"user:{i}" for i in range(10, 20)}
    assert set(await _walk(kv, match="user:*", type="hash")) == {"user:h"}
    assert set(await _walk(kv, type="list")) == {"user:l"}
    assert len(await _walk(kv, type="string")) == 100
    assert await _walk(kv, type="zset") == []


async def test_scan_returns_every_key_present_throughout_while_keys_change(
    kv: AsyncClient,
) -> None:
    stay = {f"stay{i}" for i in range(200)}
    await kv.mset(dict.fromkeys(stay, "v"))
    await kv.mset({f"go{i}": "v" for i in range(200)})
    found: set[str] = set()
    cursor, step = 0, 0
    while True:
        cursor, keys = await kv.scan(cursor, count=10)
        found.update(keys)
        step += 1
        await kv.delete(f"go{step}", f"go{step + 100}")
        await kv.set(f"new{step}", "v")
        if cursor == 0:
            break
    assert stay <= found
    assert not {key for key in found if not key.startswith(("stay", "go", "new"))}


async def test_scan_skips_expired_keys(kv: AsyncClient) -> None:
    await kv.set("gone", "v", ttl=100)
    await kv.pexpire("gone", -1)
    await kv.set("stays", "v")
    assert await _walk(kv) == ["stays"]


async def test_scan_under_a_key_prefix(
    kv: AsyncClient, make_client: Callable[..., AsyncClient]
) -> None:
    async with make_client(key_prefix="a[1]:") as app:
        await app.flushdb()
        await app.mset({"x1": "v", "x2": "v", "y": "v"})
        if kv.settings.driver == "redis":  # two memory clients never share a store
            await kv.mset({"x3": "v", "a1:x4": "v"})
        assert sorted(await _walk(app)) == ["x1", "x2", "y"]
        assert sorted(await _walk(app, match="x*")) == ["x1", "x2"]
        with pytest.raises(aiokv.InvalidArgumentError):
            await app.pipeline().scan(0).execute()


@pytest.mark.parametrize("cursor", [-1, 2**64, 1.5, "0", None])
async def test_scan_refuses_a_bad_cursor(kv: AsyncClient, cursor: object) -> None:
    with pytest.raises(aiokv.InvalidArgumentError):
        kv.scan(cursor)  # type: ignore[arg-type]


async def test_scan_refuses_a_count_below_one(kv: AsyncClient) -> None:
    with pytest.raises(aiokv.InvalidArgumentError):
        kv.scan(0, count=0)
    with pytest.raises(aiokv.NotAnIntegerError):
        kv.scan(0, count=1.5)  # type: ignore[arg-type]


# --- pipelines and transactions --------------------------------------------------------------


@pytest.mark.parametrize("transaction", [False, True])
async def test_keyspace_commands_in_a_pipeline(kv: AsyncClient, transaction: bool) -> None:
    await kv.set("a", "1")
    p = kv.pipeline(transaction=transaction)
    p.copy("a", "b").rename("b", "c").renamenx("c", "a").touch("a", "c", "x")
    p.expire("a", 100, nx=True).expire("a", 50, gt=True).pexpire("a", 1_000, lt=True)
    p.expireat("c", FAR_FUTURE).pexpireat("c", FAR_FUTURE_S * 1000 + 7).pexpiretime("c")
    p.expiretime("c").expiretime("missing").unlink("a", "nothing").scan(0, match="c")
    p.randomkey().rename("missing", "z").exists("c")
    replies = await p.execute(raise_on_error=False)
    assert replies[:15] == [
        True,
        None,
        False,
        2,
        True,
        False,
        True,
        True,
        True,
        FAR_FUTURE_S * 1000 + 7,
        FAR_FUTURE_S,
        -2,
        1,
        (0, ["c"]),
        "c",
    ]
    assert isinstance(replies[15], aiokv.NoSuchKeyError)
    assert replies[16] == 1


async def test_an_argument_error_aborts_a_transaction(kv: AsyncClient) -> None:
    await kv.set("a", "1")
    p = kv.pipeline(transaction=True)
    p.set("b", "2").expire("a", 10, nx=True, xx=True)
    with pytest.raises(aiokv.TransactionAbortedError) as caught:
        await p.execute()
    [(index, error)] = caught.value.errors
    assert index == 1
    assert isinstance(error, aiokv.InvalidArgumentError)
    assert "NX and XX, GT or LT" in str(error)
    assert await kv.exists("b") == 0
    assert await kv.ttl("a") == -1


# --- the memory driver's SCAN cursors --------------------------------------------------------


async def test_memory_scan_returns_each_key_once_and_forgets_old_walks() -> None:
    async with AsyncClient(driver="memory") as kv:
        await kv.mset({f"k{i}": "v" for i in range(100)})
        walk = await _walk(kv, count=3)
        assert sorted(walk) == sorted(f"k{i}" for i in range(100))
        assert len(walk) == 100  # a snapshot: never twice
        first, _ = await kv.scan(0, count=10)
        for _ in range(64):
            await kv.scan(0, count=10)
        with pytest.raises(aiokv.InvalidArgumentError, match="start again from cursor 0"):
            await kv.scan(first, count=10)
        with pytest.raises(aiokv.InvalidArgumentError):
            await kv.scan(12345)
