"""Sorted sets on both drivers: adding and scoring, ranks, ranges by rank, score and bytes,
removal, pops, scans and wrong types; expected values are what redis-server 7.0 answers.
Union, intersection and difference are in ``test_zsets_algebra.py``.
"""

from __future__ import annotations

import math

import pytest

import aiokv
from aiokv import AsyncClient

INF = math.inf


def _sign(score: float | None) -> float:
    """1.0 or -1.0: tells 0.0 from -0.0, which compare equal."""
    assert score is not None
    return math.copysign(1.0, score)


async def test_zadd_counts_new_members_and_updates_scores(kv: AsyncClient) -> None:
    assert await kv.zadd("z", {"a": 1, "b": 2.5}) == 2
    assert await kv.zadd("z", {"a": 3, "c": -1}) == 1
    assert await kv.zrange("z", 0, -1, withscores=True) == [("c", -1.0), ("b", 2.5), ("a", 3.0)]
    assert await kv.zcard("z") == 3
    assert await kv.type("z") == "zset"


async def test_zadd_flags(kv: AsyncClient) -> None:
    await kv.zadd("z", {"a": 5})
    assert await kv.zadd("z", {"a": 1, "b": 1}, nx=True) == 1
    assert await kv.zscore("z", "a") == 5.0
    assert await kv.zadd("z", {"a": 7, "c": 1}, xx=True) == 0
    assert await kv.zscore("z", "a") == 7.0
    assert await kv.zscore("z", "c") is None
    assert await kv.zadd("z", {"a": 6, "d": 0}, gt=True, ch=True) == 1  # d added; a not lowered
    assert await kv.zscore("z", "a") == 7.0
    assert await kv.zadd("z", {"a": 9}, gt=True, ch=True) == 1
    assert await kv.zadd("z", {"a": 10, "b": 0}, lt=True, ch=True) == 1  # b lowered
    assert await kv.zrange("z", 0, -1, withscores=True) == [
        ("b", 0.0),
        ("d", 0.0),
        ("a", 9.0),
    ]
    assert await kv.zadd("z", {"a": 9, "b": 0}, ch=True) == 0  # same scores: no change
    assert await kv.zadd("missing", {"a": 1}, xx=True) == 0
    assert await kv.exists("missing") == 0


async def test_zadd_refuses_bad_arguments(kv: AsyncClient) -> None:
    with pytest.raises(aiokv.InvalidArgumentError, match="XX and NX"):
        kv.zadd("z", {"a": 1}, nx=True, xx=True)
    with pytest.raises(aiokv.InvalidArgumentError, match="GT, LT, and/or NX"):
        kv.zadd("z", {"a": 1}, gt=True, lt=True)
    with pytest.raises(aiokv.InvalidArgumentError, match="GT, LT, and/or NX"):
        kv.zadd("z", {"a": 1}, nx=True, gt=True)
    with pytest.raises(aiokv.InvalidArgumentError, match="not a valid float"):
        kv.zadd("z", {"a": math.nan})
    with pytest.raises(aiokv.InvalidArgumentError, match="not a valid float"):
        kv.zadd("z", {"a": 10**400})
    with pytest.raises(aiokv.InvalidArgumentError, match="wrong number of arguments"):
        kv.zadd("z", {})
    with pytest.raises(aiokv.ArgumentTypeError):
        kv.zadd("z", {"a": "1"})  # type: ignore[arg-type]
    assert await kv.exists("z") == 0


async def test_score_edge_values(kv: AsyncClient) -> None:
    await kv.zadd("z", {"top": INF, "bottom": -INF, "big": 1e308, "tiny": 5e-324, "zero": 0})
    assert await kv.zrange("z", 0, -1, withscores=True) == [
        ("bottom", -INF),
        ("zero", 0.0),
        ("tiny", 5e-324),
        ("big", 1e308),
        ("top", INF),
    ]
    assert await kv.zscore("z", "top") == INF
    assert await kv.zincrby("z", 1e308, "big") == INF
    assert await kv.zscore("z", "big") == INF
    assert await kv.zrangebyscore("z", "inf", "+inf") == ["big", "top"]


async def test_negative_zero_in_a_small_set_is_stored_as_zero(kv: AsyncClient) -> None:
    await kv.zadd("z", {"a": -0.0})
    assert _sign(await kv.zscore("z", "a")) == 1.0  # a listpack writes -0 as 0
    assert _sign(await kv.zincrby("n", -0.0, "a")) == -1.0  # the reply is the sum
    assert _sign(await kv.zscore("n", "a")) == 1.0
    await kv.zadd("z", {"b": 0.0, "c": -0.0})
    assert await kv.zrange("z", 0, -1) == ["a", "b", "c"]  # -0 ties with 0: by member


async def test_negative_zero_in_a_large_set_is_kept(kv: AsyncClient) -> None:
    long_member = "x" * 65  # longer than a listpack member: the set is a skip list
    await kv.zadd("z", {long_member: -0.0})
    assert _sign(await kv.zscore("z", long_member)) == -1.0
    await kv.zadd("z", {"a": -0.0})
    assert _sign(await kv.zscore("z", "a")) == -1.0
    await kv.zadd("z", {"a": 0.0})  # -0 == 0: not an update
    assert _sign(await kv.zscore("z", "a")) == -1.0
    await kv.zadd("many", {f"m{i}": i for i in range(129)})
    await kv.zadd("many", {"neg": -0.0})
    assert _sign(await kv.zscore("many", "neg")) == -1.0


async def test_zincrby(kv: AsyncClient) -> None:
    assert await kv.zincrby("z", 2, "a") == 2.0
    assert await kv.zincrby("z", 0.5, "a") == 2.5
    assert await kv.zincrby("z", -INF, "a") == -INF
    with pytest.raises(aiokv.CommandError, match=r"resulting score is not a number \(NaN\)"):
        await kv.zincrby("z", INF, "a")
    assert await kv.zscore("z", "a") == -INF
    with pytest.raises(aiokv.InvalidArgumentError, match="not a valid float"):
        kv.zincrby("z", math.nan, "a")
    await kv.zadd("q", {"b": 0.1})
    assert await kv.zincrby("q", 0.2, "b") == 0.1 + 0.2


async def test_zscore_zmscore_and_misses(kv: AsyncClient) -> None:
    await kv.zadd("z", {"a": 1.5, "b": 2})
    assert await kv.zscore("z", "a") == 1.5
    assert await kv.zscore("z", "nope") is None
    assert await kv.zscore("missing", "a") is None
    assert await kv.zmscore("z", "b", "nope", "a") == [2.0, None, 1.5]
    assert await kv.zmscore("missing", "a", "b") == [None, None]
    with pytest.raises(aiokv.InvalidArgumentError):
        kv.zmscore("z")
    assert await kv.zcard("missing") == 0


async def test_ranks_ties_order_by_member_bytes(kv: AsyncClient) -> None:
    await kv.zadd("z", {"b": 1, "a": 1, "é": 1, "B": 1, "c": 0, "\U0001f600": 1, "~": 1})
    assert await kv.zrange("z", 0, -1) == ["c", "B", "a", "b", "~", "é", "\U0001f600"]
    assert await kv.zrank("z", "c") == 0
    assert await kv.zrank("z", "é") == 5
    assert await kv.zrevrank("z", "é") == 1
    assert await kv.zrank("z", "nope") is None
    assert await kv.zrevrank("z", "nope") is None
    assert await kv.zrank("missing", "a") is None


async def test_member_types_and_bytes(kv: AsyncClient) -> None:
    await kv.zadd("z", {b"a": 1})
    await kv.zadd("z", {"a": 2, "b": 3})
    assert await kv.zcard("z") == 2  # b"a" and "a" are one member
    assert await kv.zscore("z", b"a") == 2.0
    assert await kv.zscore("z", 1) is None
    await kv.zadd("z", {"1": 0})
    assert await kv.zscore("z", 1) == 0.0


async def test_zrange_by_rank(kv: AsyncClient) -> None:
    await kv.zadd("z", {"a": 1, "b": 2, "c": 3, "d": 4})
    assert await kv.zrange("z", 0, -1) == ["a", "b", "c", "d"]
    assert await kv.zrange("z", 1, 2) == ["b", "c"]
    assert await kv.zrange("z", -2, -1, withscores=True) == [("c", 3.0), ("d", 4.0)]
    assert await kv.zrange("z", 0, 0, rev=True) == ["d"]
    assert await kv.zrange("z", 1, 10, rev=True) == ["c", "b", "a"]
    assert await kv.zrange("z", 3, 1) == []
    assert await kv.zrange("z", 5, 10) == []
    assert await kv.zrange("z", -100, 100) == ["a", "b", "c", "d"]
    assert await kv.zrange("missing", 0, -1) == []
    with pytest.raises(aiokv.NotAnIntegerError):
        kv.zrange("z", 0, 1.5)  # type: ignore[call-overload]


async def test_zrangebyscore_bounds(kv: AsyncClient) -> None:
    await kv.zadd("z", {"a": 1, "b": 1.5, "c": 2, "d": INF, "e": -INF})
    assert await kv.zrangebyscore("z", 1, 2) == ["a", "b", "c"]
    assert await kv.zrangebyscore("z", "(1", 2) == ["b", "c"]
    assert await kv.zrangebyscore("z", "(1", "(2") == ["b"]
    assert await kv.zrangebyscore("z", "(1.5", "(1.5") == []
    assert await kv.zrangebyscore("z", "1.5", "1.5") == ["b"]
    assert await kv.zrangebyscore("z", "-inf", "+inf") == ["e", "a", "b", "c", "d"]
    assert await kv.zrangebyscore("z", "(-inf", "(+inf") == ["a", "b", "c"]
    assert await kv.zrangebyscore("z", -INF, 1.0, withscores=True) == [("e", -INF), ("a", 1.0)]
    assert await kv.zrangebyscore("z", 3, 1) == []
    assert await kv.zrangebyscore("z", "-Infinity", "INF") == ["e", "a", "b", "c", "d"]
    assert await kv.zrangebyscore("z", " 1", "0x2") == ["a", "b", "c"]  # strtod's spellings
    assert await kv.zrangebyscore("z", "(", "1e400") == ["a", "b", "c", "d"]  # "" reads 0
    assert await kv.zrevrangebyscore("z", "+inf", "(1") == ["d", "c", "b"]
    assert await kv.zrevrangebyscore("z", 2, 1, withscores=True) == [
        ("c", 2.0),
        ("b", 1.5),
        ("a", 1.0),
    ]
    assert await kv.zrangebyscore("missing", "-inf", "+inf") == []


@pytest.mark.parametrize("bound", ["x", "1 ", "((1", "nan", "(nan", " ", "1_0", "1e"])
async def test_zrangebyscore_refuses_bad_bounds(kv: AsyncClient, bound: str) -> None:
    with pytest.raises(aiokv.InvalidArgumentError, match="min or max is not a float"):
        kv.zrangebyscore("z", bound, 1)
    with pytest.raises(aiokv.InvalidArgumentError, match="min or max is not a float"):
        kv.zcount("z", 0, bound)


async def test_zrangebyscore_limit(kv: AsyncClient) -> None:
    await kv.zadd("z", {m: i for i, m in enumerate("abcdef")})
    assert await kv.zrangebyscore("z", "-inf", "+inf", offset=1, count=2) == ["b", "c"]
    assert await kv.zrangebyscore("z", "-inf", "+inf", offset=4, count=10) == ["e", "f"]
    assert await kv.zrangebyscore("z", "-inf", "+inf", offset=2) == ["c", "d", "e", "f"]
    assert await kv.zrangebyscore("z", "-inf", "+inf", count=1) == ["a"]
    everything_after_a = ["b", "c", "d", "e", "f"]
    assert await kv.zrangebyscore("z", "-inf", "+inf", offset=1, count=-1) == everything_after_a
    assert await kv.zrangebyscore("z", "-inf", "+inf", offset=-1, count=2) == []
    assert await kv.zrangebyscore("z", "-inf", "+inf", offset=0, count=0) == []
    assert await kv.zrangebyscore("z", "-inf", "+inf", offset=9, count=2) == []
    assert await kv.zrevrangebyscore("z", "+inf", 1, offset=1, count=2, withscores=True) == [
        ("e", 4.0),
        ("d", 3.0),
    ]
    assert await kv.zrevrangebyscore("z", "(4", "-inf", offset=3) == ["a"]


async def test_zcount(kv: AsyncClient) -> None:
    await kv.zadd("z", {"a": 1, "b": 2, "c": 3, "d": INF})
    assert await kv.zcount("z", "-inf", "+inf") == 4
    assert await kv.zcount("z", "(1", 3) == 2
    assert await kv.zcount("z", "(1", "(3") == 1
    assert await kv.zcount("z", "(inf", "+inf") == 0
    assert await kv.zcount("z", 5, 1) == 0
    assert await kv.zcount("missing", 0, 1) == 0


async def test_lexicographic_ranges(kv: AsyncClient) -> None:
    await kv.zadd("z", dict.fromkeys(["a", "b", "ba", "c", "d", "é", "E"], 0))
    assert await kv.zrangebylex("z", "-", "+") == ["E", "a", "b", "ba", "c", "d", "é"]
    assert await kv.zrangebylex("z", "[b", "[c") == ["b", "ba", "c"]
    assert await kv.zrangebylex("z", "(b", "(c") == ["ba"]
    assert await kv.zrangebylex("z", "[b", "(b") == []
    assert await kv.zrangebylex("z", "+", "-") == []
    assert await kv.zrangebylex("z", "-", "-") == []
    assert await kv.zrangebylex("z", "(d", "+") == ["é"]
    assert await kv.zrangebylex("z", b"[\xc3", "+") == ["é"]
    assert await kv.zrangebylex("z", "-", "+", offset=1, count=2) == ["a", "b"]
    assert await kv.zrangebylex("z", "[a", "[z", offset=-1, count=2) == []
    assert await kv.zrevrangebylex("z", "+", "[c") == ["é", "d", "c"]
    assert await kv.zrevrangebylex("z", "(c", "-", offset=1, count=2) == ["b", "a"]
    assert await kv.zlexcount("z", "-", "+") == 7
    assert await kv.zlexcount("z", "[b", "(c") == 2
    assert await kv.zlexcount("missing", "-", "+") == 0
    assert await kv.zrangebylex("missing", "-", "+") == []


@pytest.mark.parametrize("bound", ["a", "", "+a", "-a", "{a"])
async def test_lex_bounds_are_checked(kv: AsyncClient, bound: str) -> None:
    with pytest.raises(aiokv.InvalidArgumentError, match="not valid string range item"):
        kv.zrangebylex("z", bound, "+")
    with pytest.raises(aiokv.InvalidArgumentError, match="not valid string range item"):
        kv.zlexcount("z", "-", bound)


async def test_zrem(kv: AsyncClient) -> None:
    await kv.zadd("z", {"a": 1, "b": 2, "c": 3})
    assert await kv.zrem("z", "a", "nope", "a") == 1
    assert await kv.zrange("z", 0, -1) == ["b", "c"]
    assert await kv.zrem("z", "b", "c") == 2
    assert await kv.exists("z") == 0
    assert await kv.zrem("missing", "a") == 0
    with pytest.raises(aiokv.InvalidArgumentError):
        kv.zrem("z")


async def test_zremrangebyscore_rank_and_lex(kv: AsyncClient) -> None:
    await kv.zadd("z", {m: i for i, m in enumerate("abcdef")})
    assert await kv.zremrangebyscore("z", "(0", 2) == 2
    assert await kv.zrange("z", 0, -1) == ["a", "d", "e", "f"]
    assert await kv.zremrangebyrank("z", -2, -1) == 2
    assert await kv.zrange("z", 0, -1) == ["a", "d"]
    assert await kv.zremrangebyrank("z", 5, 10) == 0
    assert await kv.zremrangebyscore("z", 10, 20) == 0
    assert await kv.zremrangebyrank("z", 0, -1) == 2
    assert await kv.exists("z") == 0
    await kv.zadd("l", dict.fromkeys("abcd", 0))
    assert await kv.zremrangebylex("l", "(a", "[c") == 2
    assert await kv.zrange("l", 0, -1) == ["a", "d"]
    assert await kv.zremrangebylex("l", "-", "+") == 2
    assert await kv.exists("l") == 0
    assert await kv.zremrangebyscore("missing", "-inf", "+inf") == 0
    assert await kv.zremrangebyrank("missing", 0, -1) == 0


async def test_zpopmin_zpopmax(kv: AsyncClient) -> None:
    await kv.zadd("z", {"a": 1, "b": 2, "c": 3, "d": 4})
    assert await kv.zpopmin("z") == [("a", 1.0)]
    assert await kv.zpopmax("z") == [("d", 4.0)]
    assert await kv.zpopmin("z", 0) == []
    assert await kv.zpopmax("z", 5) == [("c", 3.0), ("b", 2.0)]
    assert await kv.exists("z") == 0
    assert await kv.zpopmin("z") == []
    assert await kv.zpopmax("missing", 2) == []
    with pytest.raises(aiokv.InvalidArgumentError, match="must be positive"):
        kv.zpopmin("z", -1)


async def test_zscan_iter(kv: AsyncClient) -> None:
    members = {f"m{i}": float(i) for i in range(300)}
    await kv.zadd("z", members)
    seen = dict([pair async for pair in kv.zscan_iter("z", count=7)])
    assert seen == members
    matched = {member async for member, _ in kv.zscan_iter("z", "m1?")}
    assert matched == {f"m{i}" for i in range(10, 20)}
    assert [pair async for pair in kv.zscan_iter("missing")] == []
    with pytest.raises(aiokv.InvalidArgumentError):
        [pair async for pair in kv.zscan_iter("z", count=0)]


async def test_wrong_types(kv: AsyncClient) -> None:
    await kv.set("s", "v")
    await kv.zadd("z", {"a": 1})
    with pytest.raises(aiokv.WrongTypeError):
        await kv.zadd("s", {"a": 1})
    with pytest.raises(aiokv.WrongTypeError):
        await kv.zscore("s", "a")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.zrange("s", 0, -1)
    with pytest.raises(aiokv.WrongTypeError):
        await kv.zincrby("s", 1, "a")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.zpopmin("s")
    with pytest.raises(aiokv.WrongTypeError):
        [pair async for pair in kv.zscan_iter("s")]
    with pytest.raises(aiokv.WrongTypeError):
        await kv.get("z")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.sadd("z", "a")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.hget("z", "a")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.lpush("z", "a")
    assert await kv.get("s") == "v"
    assert await kv.zrange("z", 0, -1, withscores=True) == [("a", 1.0)]


async def test_ttl_is_kept_by_updates_and_dropped_with_the_key(kv: AsyncClient) -> None:
    await kv.zadd("z", {"a": 1, "b": 2})
    await kv.expire("z", 100)
    await kv.zadd("z", {"a": 5})
    await kv.zincrby("z", 1, "b")
    assert 0 < await kv.ttl("z") <= 100
    await kv.zpopmin("z", 2)
    assert await kv.ttl("z") == -2
    await kv.zadd("z", {"a": 1})
    assert await kv.ttl("z") == -1


async def test_pipeline_gives_the_same_values(kv: AsyncClient) -> None:
    p = kv.pipeline()
    p.zadd("z", {"a": 1, "b": 2, "c": INF})
    p.zincrby("z", 0.5, "a")
    p.zscore("z", "c")
    p.zmscore("z", "a", "nope")
    p.zrank("z", "b")
    p.zrange("z", 0, -1, withscores=True)
    p.zrangebyscore("z", "(1.5", "+inf")
    p.zrevrangebyscore("z", "+inf", "-inf", withscores=True, offset=0, count=1)
    p.zrangebylex("z", "-", "+")
    p.zcount("z", "-inf", "+inf")
    p.zpopmax("z")
    p.zcard("z")
    assert await p.execute() == [
        3,
        1.5,
        INF,
        [1.5, None],
        1,
        [("a", 1.5), ("b", 2.0), ("c", INF)],
        ["b", "c"],
        [("c", INF)],
        ["a", "b", "c"],
        3,
        [("c", INF)],
        2,
    ]


async def test_a_large_set_keeps_order_and_ranks(kv: AsyncClient) -> None:
    # Thousands of members: the memory driver's order spans several chunks.
    scores = {f"m{i:05d}": float((i * 7919) % 1000) for i in range(5000)}
    for start in range(0, 5000, 1000):
        chunk = dict(list(scores.items())[start : start + 1000])
        await kv.zadd("z", chunk)
    expected = sorted(scores, key=lambda m: (scores[m], m))
    assert await kv.zcard("z") == 5000
    assert await kv.zrange("z", 0, -1) == expected
    for position in (0, 1, 1023, 1024, 2500, 4999):
        assert await kv.zrank("z", expected[position]) == position
        assert await kv.zrevrank("z", expected[position]) == 4999 - position
    assert await kv.zrange("z", 1020, 1030) == expected[1020:1031]
    in_range = [m for m in expected if 100 < scores[m] <= 200]
    assert await kv.zrangebyscore("z", "(100", 200) == in_range
    assert await kv.zcount("z", "(100", 200) == len(in_range)
    assert await kv.zrangebyscore("z", "(100", 200, offset=7, count=30) == in_range[7:37]
    assert await kv.zremrangebyrank("z", 1000, 3999) == 3000
    remaining = expected[:1000] + expected[4000:]
    assert await kv.zrange("z", 0, -1) == remaining
    assert await kv.zrank("z", expected[4000]) == 1000
    assert await kv.zrem("z", *remaining[::2]) == 1000
    assert await kv.zrange("z", 0, -1) == remaining[1::2]
    assert await kv.zpopmax("z", 3) == [(m, scores[m]) for m in reversed(remaining[-5::2])]
