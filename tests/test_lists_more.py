"""Lists: lindex, lset, lrem, ltrim, linsert, lpos, lmove, rpoplpush, lpushx and rpushx, on both
drivers; expected values are what redis-server 7.0 answers."""

from __future__ import annotations

from typing import Any

import pytest

import aiokv
from aiokv import AsyncClient

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


async def test_lindex(kv: AsyncClient) -> None:
    await kv.rpush("l", "a", "b", "c")
    assert await kv.lindex("l", 0) == "a"
    assert await kv.lindex("l", 2) == "c"
    assert await kv.lindex("l", -1) == "c"
    assert await kv.lindex("l", -3) == "a"
    assert await kv.lindex("l", 3) is None
    assert await kv.lindex("l", -4) is None
    assert await kv.lindex("l", INT64_MIN) is None
    assert await kv.lindex("missing", 0) is None


async def test_lindex_index_must_be_a_64_bit_int(kv: AsyncClient) -> None:
    with pytest.raises(aiokv.NotAnIntegerError):
        kv.lindex("l", 2**63)


async def test_lset(kv: AsyncClient) -> None:
    await kv.rpush("l", "a", "b", "c")
    await kv.lset("l", 1, "B")
    await kv.lset("l", -1, 3)
    await kv.lset("l", -3, b"A")
    assert await kv.lrange("l", 0, -1) == ["A", "B", "3"]


@pytest.mark.parametrize("index", [3, -4, INT64_MAX, INT64_MIN])
async def test_lset_index_out_of_range(kv: AsyncClient, index: int) -> None:
    await kv.rpush("l", "a", "b", "c")
    with pytest.raises(aiokv.CommandError, match="ERR index out of range"):
        await kv.lset("l", index, "x")
    assert await kv.lrange("l", 0, -1) == ["a", "b", "c"]


async def test_lset_missing_key(kv: AsyncClient) -> None:
    with pytest.raises(aiokv.CommandError, match="ERR no such key"):
        await kv.lset("missing", 0, "x")
    assert await kv.exists("missing") == 0


@pytest.mark.parametrize(
    ("count", "removed", "left"),
    [
        (0, 3, ["b", "c", "b"]),
        (1, 1, ["b", "c", "a", "b", "a"]),
        (2, 2, ["b", "c", "b", "a"]),
        (-1, 1, ["a", "b", "c", "a", "b"]),
        (-2, 2, ["a", "b", "c", "b"]),
        (10, 3, ["b", "c", "b"]),
        (INT64_MIN, 3, ["b", "c", "b"]),
    ],
)
async def test_lrem(kv: AsyncClient, count: int, removed: int, left: list[str]) -> None:
    await kv.rpush("l", "a", "b", "c", "a", "b", "a")
    assert await kv.lrem("l", count, "a") == removed
    assert await kv.lrange("l", 0, -1) == left


async def test_lrem_misses_and_vanishing(kv: AsyncClient) -> None:
    await kv.rpush("l", "a", "a")
    assert await kv.lrem("l", 0, "zz") == 0
    assert await kv.lrem("missing", 0, "a") == 0
    assert await kv.lrem("l", 0, "a") == 2
    assert await kv.exists("l") == 0


@pytest.mark.parametrize(
    ("start", "stop", "left"),
    [
        (1, -2, ["b", "c", "d"]),
        (0, -1, ["a", "b", "c", "d", "e"]),
        (-100, 100, ["a", "b", "c", "d", "e"]),
        (2, 2, ["c"]),
        (-2, -1, ["d", "e"]),
        (3, 1, []),
        (5, 10, []),
        (-1, -2, []),
        (INT64_MIN, INT64_MAX, ["a", "b", "c", "d", "e"]),
    ],
)
async def test_ltrim(kv: AsyncClient, start: int, stop: int, left: list[str]) -> None:
    await kv.rpush("l", "a", "b", "c", "d", "e")
    await kv.ltrim("l", start, stop)
    assert await kv.lrange("l", 0, -1) == left
    assert await kv.exists("l") == (1 if left else 0)


async def test_ltrim_missing_key_stays_missing(kv: AsyncClient) -> None:
    await kv.ltrim("missing", 0, 1)
    assert await kv.exists("missing") == 0


async def test_ltrim_keeps_the_ttl(kv: AsyncClient) -> None:
    await kv.rpush("l", "a", "b", "c")
    await kv.expire("l", 100)
    await kv.ltrim("l", 0, 0)
    assert 99 <= await kv.ttl("l") <= 100


async def test_linsert(kv: AsyncClient) -> None:
    await kv.rpush("l", "a", "b", "c", "b")
    assert await kv.linsert("l", "BEFORE", "b", "X") == 5
    assert await kv.linsert("l", "AFTER", "b", "Y") == 6
    assert await kv.lrange("l", 0, -1) == ["a", "X", "b", "Y", "c", "b"]
    assert await kv.linsert("l", "before", "a", 1) == 7  # type: ignore[arg-type]
    assert await kv.linsert("l", "AFTER", "zz", "Q") == -1
    assert await kv.linsert("missing", "BEFORE", "a", "b") == 0
    assert await kv.exists("missing") == 0
    assert await kv.lrange("l", 0, 1) == ["1", "a"]


async def test_linsert_where_must_be_before_or_after(kv: AsyncClient) -> None:
    with pytest.raises(aiokv.InvalidArgumentError):
        kv.linsert("l", "MIDDLE", "a", "b")  # type: ignore[arg-type]


LPOS_LIST = ["a", "b", "c", "1", "2", "3", "c", "c"]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, 2),
        ({"rank": 2}, 6),
        ({"rank": 3}, 7),
        ({"rank": 4}, None),
        ({"rank": -1}, 7),
        ({"rank": -2}, 6),
        ({"rank": -3}, 2),
        ({"rank": INT64_MAX}, None),
        ({"count": 0}, [2, 6, 7]),
        ({"count": 2}, [2, 6]),
        ({"count": 1, "rank": 2}, [6]),
        ({"count": 0, "rank": -1}, [7, 6, 2]),
        ({"count": 2, "rank": -2}, [6, 2]),
        ({"maxlen": 2}, None),
        ({"maxlen": 3}, 2),
        ({"count": 0, "maxlen": 7}, [2, 6]),
        ({"rank": -1, "maxlen": 2}, 7),
        ({"rank": -2, "maxlen": 2}, 6),
        ({"rank": -3, "maxlen": 2}, None),
        ({"count": 0, "maxlen": 0}, [2, 6, 7]),
        ({"rank": -4, "count": 0, "maxlen": 0}, []),
    ],
)
async def test_lpos(kv: AsyncClient, options: dict[str, Any], expected: object) -> None:
    await kv.rpush("l", *LPOS_LIST)
    assert await kv.lpos("l", "c", **options) == expected


async def test_lpos_misses(kv: AsyncClient) -> None:
    await kv.rpush("l", "a", 1)
    assert await kv.lpos("l", "zz") is None
    assert await kv.lpos("l", "zz", count=0) == []
    assert await kv.lpos("missing", "a") is None
    assert await kv.lpos("missing", "a", count=1) == []
    assert await kv.lpos("l", 1) == 1


@pytest.mark.parametrize(
    "options",
    [{"rank": 0}, {"rank": INT64_MIN}, {"count": -1}, {"maxlen": -1}],
)
async def test_lpos_bad_options(kv: AsyncClient, options: dict[str, Any]) -> None:
    with pytest.raises(aiokv.InvalidArgumentError):
        kv.lpos("l", "a", **options)


@pytest.mark.parametrize("options", [{"rank": 1.5}, {"count": 2**64}, {"maxlen": "1"}])
async def test_lpos_options_must_be_ints(kv: AsyncClient, options: dict[str, Any]) -> None:
    with pytest.raises(aiokv.NotAnIntegerError):
        kv.lpos("l", "a", **options)


async def test_lmove_every_direction(kv: AsyncClient) -> None:
    await kv.rpush("src", "a", "b", "c", "d")
    assert await kv.lmove("src", "dst", "LEFT", "RIGHT") == "a"
    assert await kv.lmove("src", "dst", "RIGHT", "LEFT") == "d"
    assert await kv.lmove("src", "dst", "LEFT", "LEFT") == "b"
    assert await kv.lmove("src", "dst", "right", "right") == "c"  # type: ignore[arg-type]
    assert await kv.lrange("dst", 0, -1) == ["b", "d", "a", "c"]
    assert await kv.exists("src") == 0


async def test_lmove_rotates_one_list(kv: AsyncClient) -> None:
    await kv.rpush("l", "a", "b", "c")
    assert await kv.lmove("l", "l", "LEFT", "RIGHT") == "a"
    assert await kv.lrange("l", 0, -1) == ["b", "c", "a"]
    await kv.rpush("one", "x")
    assert await kv.lmove("one", "one", "RIGHT", "LEFT") == "x"
    assert await kv.lrange("one", 0, -1) == ["x"]


async def test_lmove_missing_source(kv: AsyncClient) -> None:
    await kv.set("s", "v")
    assert await kv.lmove("missing", "dst", "LEFT", "LEFT") is None
    assert await kv.lmove("missing", "s", "LEFT", "LEFT") is None  # source checked first
    assert await kv.exists("dst") == 0


async def test_lmove_wrong_types_move_nothing(kv: AsyncClient) -> None:
    await kv.set("s", "v")
    await kv.rpush("l", "a")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.lmove("l", "s", "LEFT", "LEFT")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.lmove("s", "l", "LEFT", "LEFT")
    assert await kv.lrange("l", 0, -1) == ["a"]
    assert await kv.get("s") == "v"


async def test_lmove_bad_ends(kv: AsyncClient) -> None:
    with pytest.raises(aiokv.InvalidArgumentError):
        kv.lmove("a", "b", "UP", "LEFT")  # type: ignore[arg-type]
    with pytest.raises(aiokv.InvalidArgumentError):
        kv.lmove("a", "b", "LEFT", 1)  # type: ignore[arg-type]


async def test_lmove_keeps_destination_ttl_and_new_destination_has_none(kv: AsyncClient) -> None:
    await kv.rpush("src", "a", "b")
    await kv.rpush("dst", "x")
    await kv.expire("dst", 100)
    await kv.expire("src", 200)
    await kv.lmove("src", "dst", "LEFT", "LEFT")
    assert 99 <= await kv.ttl("dst") <= 100
    assert await kv.lmove("src", "new", "LEFT", "LEFT") == "b"
    assert await kv.ttl("new") == -1
    assert await kv.ttl("src") == -2


async def test_rpoplpush(kv: AsyncClient) -> None:
    await kv.rpush("src", "a", "b", "c")
    assert await kv.rpoplpush("src", "dst") == "c"
    assert await kv.rpoplpush("src", "dst") == "b"
    assert await kv.lrange("dst", 0, -1) == ["b", "c"]
    assert await kv.rpoplpush("dst", "dst") == "c"
    assert await kv.lrange("dst", 0, -1) == ["c", "b"]
    assert await kv.rpoplpush("missing", "dst") is None
    await kv.set("s", "v")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.rpoplpush("dst", "s")


async def test_pushx_only_on_an_existing_list(kv: AsyncClient) -> None:
    assert await kv.lpushx("l", "a") == 0
    assert await kv.rpushx("l", "a", "b") == 0
    assert await kv.exists("l") == 0
    await kv.rpush("l", "m")
    assert await kv.lpushx("l", "b", "a") == 3
    assert await kv.rpushx("l", "y", "z") == 5
    assert await kv.lrange("l", 0, -1) == ["a", "b", "m", "y", "z"]


async def test_pushx_needs_a_value(kv: AsyncClient) -> None:
    with pytest.raises(aiokv.InvalidArgumentError):
        kv.lpushx("l")
    with pytest.raises(aiokv.InvalidArgumentError):
        kv.rpushx("l")


async def test_list_commands_on_wrong_type(kv: AsyncClient) -> None:
    await kv.set("s", "v")
    for call in (
        kv.lindex("s", 0),
        kv.lset("s", 0, "x"),
        kv.lrem("s", 0, "x"),
        kv.ltrim("s", 0, 1),
        kv.linsert("s", "BEFORE", "a", "b"),
        kv.lpos("s", "a"),
        kv.lpos("s", "a", count=0),
        kv.lpushx("s", "a"),
        kv.rpushx("s", "a"),
    ):
        with pytest.raises(aiokv.WrongTypeError):
            await call
    assert await kv.get("s") == "v"


async def test_expired_list_is_a_miss(kv: AsyncClient) -> None:
    await kv.rpush("l", "a")
    await kv.expire("l", 0)
    assert await kv.lindex("l", 0) is None
    assert await kv.lpushx("l", "b") == 0
    assert await kv.lmove("l", "dst", "LEFT", "LEFT") is None
    with pytest.raises(aiokv.CommandError, match="no such key"):
        await kv.lset("l", 0, "x")


async def test_list_commands_in_a_pipeline(kv: AsyncClient) -> None:
    await kv.set("s", "v")
    p = kv.pipeline()
    p.rpush("l", "a", "b", "c", "b")
    p.lindex("l", -1)
    p.lset("l", 0, "A")
    p.lrem("l", -1, "b")
    p.linsert("l", "AFTER", "A", "X")
    p.lpos("l", "b")
    p.lpos("l", "zz", count=0)
    p.lmove("l", "m", "RIGHT", "LEFT")
    p.rpoplpush("l", "m")
    p.lpushx("m", "0")
    p.rpushx("nope", "1")
    p.ltrim("l", 0, 0)
    p.lrange("l", 0, -1)
    p.lrange("m", 0, -1)
    p.lset("l", 5, "x")
    p.lindex("s", 0)
    replies = await p.execute(raise_on_error=False)
    assert replies[:14] == [
        4,
        "b",
        None,
        1,
        4,
        2,
        [],
        "c",
        "b",
        3,
        0,
        None,
        ["A"],
        ["0", "b", "c"],
    ]
    assert isinstance(replies[14], aiokv.CommandError)
    assert str(replies[14]) == "ERR index out of range"
    assert isinstance(replies[15], aiokv.WrongTypeError)


async def test_list_argument_error_in_a_transaction_aborts_it(kv: AsyncClient) -> None:
    p = kv.pipeline(transaction=True)
    p.rpush("l", "a")
    p.lpos("l", "a", rank=0)
    with pytest.raises(aiokv.TransactionAbortedError):
        await p.execute()
    assert await kv.exists("l") == 0
