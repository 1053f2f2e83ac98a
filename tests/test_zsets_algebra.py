"""Sorted sets on both drivers: zunion, zinter, zdiff and their store forms, with weights and
aggregates; expected values are what redis-server 7.0 answers."""

from __future__ import annotations

import math

import pytest

import aiokv
from aiokv import AsyncClient

INF = math.inf

# On a cluster, every key of a test in one slot (see tests/conftest.py).
pytestmark = pytest.mark.one_slot


async def _fill(kv: AsyncClient) -> None:
    await kv.zadd("a", {"x": 1, "y": 2})
    await kv.zadd("b", {"x": 3, "z": 5})
    await kv.sadd("s", "x", "w")


async def test_zunion(kv: AsyncClient) -> None:
    await _fill(kv)
    assert await kv.zunion("a", "b") == ["y", "x", "z"]
    assert await kv.zunion("a", "b", withscores=True) == [("y", 2.0), ("x", 4.0), ("z", 5.0)]
    assert await kv.zunion("a", "b", aggregate="max", withscores=True) == [
        ("y", 2.0),
        ("x", 3.0),
        ("z", 5.0),
    ]
    assert await kv.zunion("a", "b", weights=[2, 0.5], aggregate="min", withscores=True) == [
        ("x", 1.5),
        ("z", 2.5),
        ("y", 4.0),
    ]
    assert await kv.zunion("a", "s", "missing", withscores=True) == [
        ("w", 1.0),
        ("x", 2.0),
        ("y", 2.0),
    ]
    assert await kv.zunion("missing") == []


async def test_zinter_and_zdiff(kv: AsyncClient) -> None:
    await _fill(kv)
    assert await kv.zinter("a", "b", withscores=True) == [("x", 4.0)]
    assert await kv.zinter("a", "b", "s", weights=[1, 1, 10], withscores=True) == [("x", 14.0)]
    assert await kv.zinter("a", "b", aggregate="min") == ["x"]
    assert await kv.zinter("a", "missing") == []
    assert await kv.zdiff("a", "b", withscores=True) == [("y", 2.0)]
    assert await kv.zdiff("s", "a", withscores=True) == [("w", 1.0)]
    assert await kv.zdiff("a") == ["x", "y"]
    assert await kv.zdiff("missing", "a") == []


async def test_infinities_and_not_a_number_count_as_zero(kv: AsyncClient) -> None:
    await kv.zadd("A", {"x": INF})
    await kv.zadd("B", {"x": -INF, "y": 1})
    await kv.zadd("C", {"x": 5, "y": 1, "z": 1})
    # The smallest set is summed first, whatever the key order: inf + -inf is 0, then 5.
    assert await kv.zunion("C", "B", "A", withscores=True) == [("z", 1.0), ("y", 2.0), ("x", 5.0)]
    assert await kv.zinter("A", "B", "C", withscores=True) == [("x", 5.0)]
    # 0 * inf is 0 too.
    assert await kv.zunion("A", "B", weights=[0, 1], withscores=True) == [("x", -INF), ("y", 1.0)]
    assert await kv.zinter("C", "B", weights=[1, 0], withscores=True) == [("y", 1.0), ("x", 5.0)]


async def test_store_forms(kv: AsyncClient) -> None:
    await _fill(kv)
    await kv.set("dst", "old")
    await kv.expire("dst", 100)
    assert await kv.zunionstore("dst", "a", "b", weights=[1, 2]) == 3
    assert await kv.zrange("dst", 0, -1, withscores=True) == [("y", 2.0), ("x", 7.0), ("z", 10.0)]
    assert await kv.ttl("dst") == -1
    assert await kv.zinterstore("dst", "a", "b", aggregate="max") == 1
    assert await kv.zrange("dst", 0, -1, withscores=True) == [("x", 3.0)]
    assert await kv.zdiffstore("dst", "b", "a") == 1
    assert await kv.zrange("dst", 0, -1, withscores=True) == [("z", 5.0)]
    assert await kv.zinterstore("dst", "a", "missing") == 0
    assert await kv.exists("dst") == 0
    assert await kv.zunionstore("a", "a", "b") == 3  # a source may be the destination
    assert await kv.zrange("a", 0, -1, withscores=True) == [("y", 2.0), ("x", 4.0), ("z", 5.0)]


async def test_stored_negative_zero_follows_the_encoding(kv: AsyncClient) -> None:
    await kv.zadd("a", {"x": 0})
    assert await kv.zunionstore("small", "a", weights=[-1]) == 1
    small = await kv.zscore("small", "x")
    assert small is not None
    assert math.copysign(1.0, small) == 1.0  # a listpack stores -0 as 0
    long_member = "m" * 65
    await kv.zadd("a", {long_member: 1})
    assert await kv.zunionstore("large", "a", weights=[-1]) == 2
    score = await kv.zscore("large", "x")
    assert score is not None
    assert math.copysign(1.0, score) == -1.0  # a skip list keeps -0


async def test_wrong_types_leave_the_destination(kv: AsyncClient) -> None:
    await _fill(kv)
    await kv.set("str", "v")
    await kv.zadd("dst", {"keep": 1})
    with pytest.raises(aiokv.WrongTypeError):
        await kv.zunion("a", "str")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.zinter("missing", "str")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.zunionstore("dst", "a", "str")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.zdiffstore("dst", "str")
    assert await kv.zrange("dst", 0, -1) == ["keep"]


async def test_bad_arguments_are_refused(kv: AsyncClient) -> None:
    with pytest.raises(aiokv.InvalidArgumentError, match="at least 1 input key"):
        kv.zunion()
    with pytest.raises(aiokv.InvalidArgumentError, match="at least 1 input key"):
        kv.zinterstore("dst")
    with pytest.raises(aiokv.InvalidArgumentError, match="syntax error"):
        kv.zunion("a", "b", weights=[1])
    with pytest.raises(aiokv.InvalidArgumentError, match="weight value is not a float"):
        kv.zunion("a", weights=[math.nan])
    with pytest.raises(aiokv.InvalidArgumentError, match="syntax error"):
        kv.zunionstore("dst", "a", aggregate="avg")  # type: ignore[arg-type]


async def test_pipeline_and_transaction(kv: AsyncClient) -> None:
    await _fill(kv)
    p = kv.pipeline()
    p.zunion("a", "b", withscores=True).zinter("a", "b").zunionstore("dst", "a", "s")
    p.zdiff("a", "b", withscores=True)
    assert await p.execute() == [
        [("y", 2.0), ("x", 4.0), ("z", 5.0)],
        ["x"],
        3,
        [("y", 2.0)],
    ]
    t = kv.pipeline(transaction=True).zadd("t", {"a": 1}).zincrby("t", 2, "a").zpopmin("t")
    assert await t.execute() == [1, 3.0, [("a", 3.0)]]
