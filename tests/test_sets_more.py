"""Sets: spop, srandmember, smismember, smove, sinter/sunion/sdiff and their store forms,
sintercard and sscan_iter, on both drivers; expected values are what redis-server 7.0 answers.

Random picks are checked by their guarantees (distinct members for a positive count, all of them
when the count exceeds the size, exactly -count members for a negative count), not by value.
"""

from __future__ import annotations

from collections import Counter

import pytest

import aiokv
from aiokv import AsyncClient
from aiokv._pipeline import Transaction

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
MEMBERS = {f"m{i}" for i in range(20)}


async def test_spop_one(kv: AsyncClient) -> None:
    await kv.sadd("s", "a", "b", "c")
    popped = await kv.spop("s")
    assert popped in {"a", "b", "c"}
    assert await kv.smembers("s") == {"a", "b", "c"} - {popped}
    assert await kv.spop("missing") is None


async def test_spop_until_empty_removes_the_key(kv: AsyncClient) -> None:
    await kv.sadd("s", "a", "b")
    seen = {await kv.spop("s"), await kv.spop("s")}
    assert seen == {"a", "b"}
    assert await kv.exists("s") == 0
    assert await kv.spop("s") is None


async def test_spop_count_gives_distinct_members(kv: AsyncClient) -> None:
    await kv.sadd("s", *MEMBERS)
    popped = await kv.spop("s", 5)
    assert isinstance(popped, set)
    assert len(popped) == 5
    assert popped <= MEMBERS
    assert await kv.smembers("s") == MEMBERS - popped


async def test_spop_count_beyond_size_takes_all(kv: AsyncClient) -> None:
    await kv.sadd("s", "a", "b", "c")
    assert await kv.spop("s", 10) == {"a", "b", "c"}
    assert await kv.exists("s") == 0


async def test_spop_count_zero_and_missing(kv: AsyncClient) -> None:
    await kv.sadd("s", "a")
    assert await kv.spop("s", 0) == set()
    assert await kv.smembers("s") == {"a"}
    assert await kv.spop("missing", 3) == set()
    assert await kv.spop("missing", 0) == set()


async def test_spop_count_is_checked(kv: AsyncClient) -> None:
    with pytest.raises(aiokv.InvalidArgumentError, match="must be positive"):
        kv.spop("s", -1)
    with pytest.raises(aiokv.NotAnIntegerError):
        kv.spop("s", 1.0)  # type: ignore[call-overload]


async def test_spop_picks_vary(kv: AsyncClient) -> None:
    seen = set()
    for _ in range(30):
        await kv.sadd("s", *MEMBERS)
        seen.add(await kv.spop("s"))
    assert len(seen) > 1  # 20 members: one pick 30 times in a row is a 1 in 20**29 chance


async def test_srandmember_one(kv: AsyncClient) -> None:
    await kv.sadd("s", "a", "b", "c")
    assert await kv.srandmember("s") in {"a", "b", "c"}
    assert await kv.scard("s") == 3
    assert await kv.srandmember("missing") is None


async def test_srandmember_positive_count_is_distinct(kv: AsyncClient) -> None:
    await kv.sadd("s", *MEMBERS)
    for count in (1, 5, 19):
        picked = await kv.srandmember("s", count)
        assert isinstance(picked, list)
        assert len(picked) == count
        assert len(set(picked)) == count
        assert set(picked) <= MEMBERS
    assert await kv.smembers("s") == MEMBERS


async def test_srandmember_count_beyond_size_gives_all(kv: AsyncClient) -> None:
    await kv.sadd("s", "a", "b", "c")
    for count in (3, 4, INT64_MAX):
        picked = await kv.srandmember("s", count)
        assert sorted(picked) == ["a", "b", "c"]


async def test_srandmember_negative_count_may_repeat(kv: AsyncClient) -> None:
    await kv.sadd("s", "a", "b")
    picked = await kv.srandmember("s", -50)
    assert len(picked) == 50
    assert set(picked) <= {"a", "b"}
    assert max(Counter(picked).values()) > 1  # 50 picks of 2 members must repeat
    await kv.sadd("one", "x")
    assert await kv.srandmember("one", -3) == ["x", "x", "x"]


async def test_srandmember_zero_and_missing(kv: AsyncClient) -> None:
    await kv.sadd("s", "a")
    assert await kv.srandmember("s", 0) == []
    assert await kv.srandmember("missing", 3) == []
    assert await kv.srandmember("missing", -3) == []


async def test_srandmember_count_is_checked(kv: AsyncClient) -> None:
    with pytest.raises(aiokv.InvalidArgumentError, match="out of range"):
        kv.srandmember("s", INT64_MIN)
    with pytest.raises(aiokv.NotAnIntegerError):
        kv.srandmember("s", 2**63)


async def test_smismember(kv: AsyncClient) -> None:
    await kv.sadd("s", "a", 1)
    assert await kv.smismember("s", "a", "z", "1", 1, b"a") == [True, False, True, True, True]
    assert await kv.smismember("missing", "a", "b") == [False, False]
    with pytest.raises(aiokv.InvalidArgumentError):
        kv.smismember("s")


async def test_smove(kv: AsyncClient) -> None:
    await kv.sadd("a", "1", "2")
    assert await kv.smove("a", "b", "1") is True
    assert await kv.smove("a", "b", "9") is False
    assert await kv.smembers("a") == {"2"}
    assert await kv.smembers("b") == {"1"}
    assert await kv.smove("a", "b", 2) is True
    assert await kv.exists("a") == 0
    assert await kv.smembers("b") == {"1", "2"}
    assert await kv.smove("missing", "b", "1") is False


async def test_smove_to_itself(kv: AsyncClient) -> None:
    await kv.sadd("a", "1")
    assert await kv.smove("a", "a", "1") is True
    assert await kv.smove("a", "a", "9") is False
    assert await kv.smembers("a") == {"1"}


async def test_smove_wrong_types(kv: AsyncClient) -> None:
    await kv.sadd("a", "1")
    await kv.set("s", "v")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.smove("a", "s", "1")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.smove("a", "s", "9")  # the destination is checked before the member
    with pytest.raises(aiokv.WrongTypeError):
        await kv.smove("s", "a", "1")
    assert await kv.smove("missing", "s", "1") is False  # the source is checked first
    assert await kv.smembers("a") == {"1"}


async def test_smove_keeps_the_destination_ttl(kv: AsyncClient) -> None:
    await kv.sadd("a", "1")
    await kv.sadd("b", "2")
    await kv.expire("b", 100)
    await kv.smove("a", "b", "1")
    assert 99 <= await kv.ttl("b") <= 100


async def test_set_algebra(kv: AsyncClient) -> None:
    await kv.sadd("a", "1", "2", "3")
    await kv.sadd("b", "2", "3", "4")
    await kv.sadd("c", "3", "5")
    assert await kv.sinter("a", "b") == {"2", "3"}
    assert await kv.sinter("a", "b", "c") == {"3"}
    assert await kv.sinter("a") == {"1", "2", "3"}
    assert await kv.sinter("a", "missing") == set()
    assert await kv.sunion("a", "b", "c") == {"1", "2", "3", "4", "5"}
    assert await kv.sunion("a", "missing") == {"1", "2", "3"}
    assert await kv.sunion("missing") == set()
    assert await kv.sdiff("a", "b") == {"1"}
    assert await kv.sdiff("b", "a", "c") == {"4"}
    assert await kv.sdiff("a", "missing") == {"1", "2", "3"}
    assert await kv.sdiff("missing", "a") == set()


@pytest.mark.parametrize("name", ["sinter", "sunion", "sdiff"])
@pytest.mark.parametrize("keys", [("a", "s"), ("s", "a"), ("missing", "s"), ("a", "missing", "s")])
async def test_set_algebra_wrong_type_anywhere(
    kv: AsyncClient, name: str, keys: tuple[str, ...]
) -> None:
    await kv.sadd("a", "1")
    await kv.set("s", "v")
    with pytest.raises(aiokv.WrongTypeError):
        await getattr(kv, name)(*keys)


@pytest.mark.parametrize(
    "name", ["sinter", "sunion", "sdiff", "sinterstore", "sunionstore", "sdiffstore", "sintercard"]
)
async def test_set_algebra_needs_a_key(kv: AsyncClient, name: str) -> None:
    args = ("dst",) if name.endswith("store") else ()
    with pytest.raises(aiokv.InvalidArgumentError):
        getattr(kv, name)(*args)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("sinterstore", {"2", "3"}), ("sunionstore", {"1", "2", "3", "4"}), ("sdiffstore", {"1"})],
)
async def test_store_forms_replace_the_destination(
    kv: AsyncClient, name: str, expected: set[str]
) -> None:
    await kv.sadd("a", "1", "2", "3")
    await kv.sadd("b", "2", "3", "4")
    for old in ("string", "list", "set"):
        if old == "string":
            await kv.set("dst", "x", ttl=100)
        elif old == "list":
            await kv.rpush("dst", "x")
            await kv.expire("dst", 100)
        else:
            await kv.sadd("dst", "x", "y")
            await kv.expire("dst", 100)
        assert await getattr(kv, name)("dst", "a", "b") == len(expected)
        assert await kv.smembers("dst") == expected
        assert await kv.ttl("dst") == -1  # the old TTL went with the old value
        await kv.delete("dst")


@pytest.mark.parametrize("name", ["sinterstore", "sunionstore", "sdiffstore"])
async def test_store_forms_delete_the_destination_for_an_empty_result(
    kv: AsyncClient, name: str
) -> None:
    await kv.sadd("a", "1")
    await kv.set("dst", "x")
    keys = ("missing", "a") if name != "sunionstore" else ("missing",)
    assert await getattr(kv, name)("dst", *keys) == 0
    assert await kv.exists("dst") == 0
    assert await getattr(kv, name)("dst", *keys) == 0
    assert await kv.exists("dst") == 0


@pytest.mark.parametrize("name", ["sinterstore", "sunionstore", "sdiffstore"])
async def test_store_forms_wrong_type_keeps_the_destination(kv: AsyncClient, name: str) -> None:
    await kv.sadd("a", "1")
    await kv.set("s", "v")
    await kv.sadd("dst", "old")
    with pytest.raises(aiokv.WrongTypeError):
        await getattr(kv, name)("dst", "a", "s")
    with pytest.raises(aiokv.WrongTypeError):
        await getattr(kv, name)("dst", "missing", "s")
    assert await kv.smembers("dst") == {"old"}


async def test_store_forms_may_name_a_source_as_destination(kv: AsyncClient) -> None:
    await kv.sadd("a", "1", "2", "3")
    await kv.sadd("b", "2", "3", "4")
    assert await kv.sinterstore("a", "a", "b") == 2
    assert await kv.smembers("a") == {"2", "3"}
    assert await kv.sdiffstore("b", "b", "a") == 1
    assert await kv.smembers("b") == {"4"}
    assert await kv.sunionstore("b", "b") == 1
    assert await kv.smembers("b") == {"4"}


async def test_stored_result_is_its_own_set(kv: AsyncClient) -> None:
    await kv.sadd("a", "1", "2")
    assert await kv.sunionstore("copy", "a") == 2
    await kv.sadd("copy", "3")
    await kv.srem("a", "1")
    assert await kv.smembers("a") == {"2"}
    assert await kv.smembers("copy") == {"1", "2", "3"}


async def test_sintercard(kv: AsyncClient) -> None:
    await kv.sadd("a", "1", "2", "3", "4")
    await kv.sadd("b", "2", "3", "4", "5")
    assert await kv.sintercard("a") == 4
    assert await kv.sintercard("a", "b") == 3
    assert await kv.sintercard("a", "b", limit=2) == 2
    assert await kv.sintercard("a", "b", limit=0) == 3
    assert await kv.sintercard("a", "b", limit=INT64_MAX) == 3
    assert await kv.sintercard("a", "missing") == 0
    await kv.set("s", "v")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.sintercard("missing", "s")
    with pytest.raises(aiokv.InvalidArgumentError, match="LIMIT can't be negative"):
        kv.sintercard("a", limit=-1)
    with pytest.raises(aiokv.NotAnIntegerError):
        kv.sintercard("a", limit=1.5)  # type: ignore[arg-type]


async def test_set_commands_on_wrong_type(kv: AsyncClient) -> None:
    await kv.set("s", "v")
    for call in (
        kv.spop("s"),
        kv.spop("s", 0),
        kv.srandmember("s"),
        kv.srandmember("s", 0),
        kv.smismember("s", "a"),
    ):
        with pytest.raises(aiokv.WrongTypeError):
            await call
    with pytest.raises(aiokv.WrongTypeError):
        [m async for m in kv.sscan_iter("s")]
    assert await kv.get("s") == "v"


async def test_sscan_iter_yields_every_member(kv: AsyncClient) -> None:
    members = {f"m{i}" for i in range(300)} | {"é", ""}
    await kv.sadd("s", *members)
    for count in (1, 7, 1000):
        found = [m async for m in kv.sscan_iter("s", count=count)]
        assert set(found) == members
    assert sorted([m async for m in kv.sscan_iter("s", "m1?")]) == [f"m{i}" for i in range(10, 20)]
    assert [m async for m in kv.sscan_iter("missing")] == []


async def test_sscan_iter_small_set(kv: AsyncClient) -> None:
    await kv.sadd("s", "a", "b", "c")
    assert sorted([m async for m in kv.sscan_iter("s")]) == ["a", "b", "c"]
    assert [m async for m in kv.sscan_iter("s", "b")] == ["b"]


async def test_sscan_iter_survives_changes_during_the_scan(kv: AsyncClient) -> None:
    kept = {f"keep{i}" for i in range(200)}
    await kv.sadd("s", *kept, *(f"drop{i}" for i in range(200)))
    seen = set()
    step = 0
    async for member in kv.sscan_iter("s", count=10):
        seen.add(member)
        step += 1
        await kv.srem("s", f"drop{step}")
        await kv.sadd("s", f"new{step}")
    assert kept <= seen


async def test_sscan_iter_count_is_checked(kv: AsyncClient) -> None:
    with pytest.raises(aiokv.InvalidArgumentError):
        [m async for m in kv.sscan_iter("s", count=0)]


async def test_expired_set_is_a_miss(kv: AsyncClient) -> None:
    await kv.sadd("s", "a")
    await kv.expire("s", 0)
    assert await kv.spop("s") is None
    assert await kv.smismember("s", "a") == [False]
    assert await kv.sunion("s") == set()
    assert await kv.smove("s", "t", "a") is False


async def test_set_commands_in_a_pipeline(kv: AsyncClient) -> None:
    await kv.set("str", "v")
    p = kv.pipeline()
    p.sadd("a", "1", "2", "3")
    p.sadd("b", "2", "3", "4")
    p.smismember("a", "1", "4")
    p.smove("a", "b", "1")
    p.sinter("a", "b")
    p.sunion("a", "b")
    p.sdiff("b", "a")
    p.sinterstore("i", "a", "b")
    p.sunionstore("u", "a", "b")
    p.sdiffstore("d", "b", "a")
    p.sintercard("a", "b", limit=1)
    p.spop("d", 5)
    p.srandmember("a", -3)
    p.srandmember("i", 5)
    p.sunion("a", "str")
    p.spop("missing")
    replies = await p.execute(raise_on_error=False)
    assert replies[:12] == [
        3,
        3,
        [True, False],
        True,
        {"2", "3"},
        {"1", "2", "3", "4"},
        {"1", "4"},
        2,
        4,
        2,
        1,
        {"1", "4"},
    ]
    assert len(replies[12]) == 3
    assert set(replies[12]) <= {"2", "3"}
    assert sorted(replies[13]) == ["2", "3"]
    assert isinstance(replies[14], aiokv.WrongTypeError)
    assert replies[15] is None


async def test_store_form_under_watch_conflicts(kv: AsyncClient) -> None:
    """A store form writes its destination: a transaction watching it starts over."""
    await kv.sadd("a", "1")
    attempts = 0

    async def func(tx: Transaction) -> None:
        nonlocal attempts
        attempts += 1
        await tx.smembers("dst")
        if attempts == 1:
            await kv.sunionstore("dst", "a")  # another writer, between WATCH and EXEC
        tx.multi()
        tx.sadd("dst", "2")

    assert await kv.transaction(func, "dst") == [1]
    assert attempts == 2
    assert await kv.smembers("dst") == {"1", "2"}
