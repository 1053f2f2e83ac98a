"""Lists: push order, pops, llen, lrange index clamping and empty lists vanishing."""

from __future__ import annotations

import pytest

import aiokv
from aiokv import AsyncClient


async def test_lpush_returns_new_length(kv: AsyncClient) -> None:
    assert await kv.lpush("l", "a") == 1
    assert await kv.lpush("l", "b", "c") == 3


async def test_rpush_returns_new_length(kv: AsyncClient) -> None:
    assert await kv.rpush("l", "a", "b") == 2
    assert await kv.rpush("l", "c") == 3


async def test_lpush_many_reverses_argument_order(kv: AsyncClient) -> None:
    await kv.lpush("l", "a", "b", "c")
    assert await kv.lrange("l", 0, -1) == ["c", "b", "a"]


async def test_rpush_keeps_argument_order(kv: AsyncClient) -> None:
    await kv.rpush("l", "a", "b", "c")
    assert await kv.lrange("l", 0, -1) == ["a", "b", "c"]


async def test_lpush_and_rpush_combine(kv: AsyncClient) -> None:
    await kv.rpush("l", "m")
    await kv.lpush("l", "b", "a")
    await kv.rpush("l", "y", "z")
    assert await kv.lrange("l", 0, -1) == ["a", "b", "m", "y", "z"]


async def test_lists_keep_duplicates(kv: AsyncClient) -> None:
    assert await kv.rpush("l", "x", "x", "x") == 3
    assert await kv.lrange("l", 0, -1) == ["x", "x", "x"]


async def test_list_values_are_stored_as_text(kv: AsyncClient) -> None:
    await kv.rpush("l", 1, 2.5, b"raw", "", "☃")
    assert await kv.lrange("l", 0, -1) == ["1", "2.5", "raw", "", "☃"]


async def test_lpop_and_rpop(kv: AsyncClient) -> None:
    await kv.rpush("l", "a", "b", "c", "d")
    assert await kv.lpop("l") == "a"
    assert await kv.rpop("l") == "d"
    assert await kv.lrange("l", 0, -1) == ["b", "c"]
    assert await kv.llen("l") == 2


async def test_rpop_after_lpush_returns_first_pushed(kv: AsyncClient) -> None:
    await kv.lpush("l", "a", "b", "c")
    assert await kv.rpop("l") == "a"
    assert await kv.lpop("l") == "c"


async def test_pops_on_missing_key_are_none(kv: AsyncClient) -> None:
    assert await kv.rpop("missing") is None
    assert await kv.lpop("missing") is None
    assert await kv.exists("missing") == 0


async def test_rpop_with_count_returns_tail_first(kv: AsyncClient) -> None:
    await kv.rpush("l", "a", "b", "c", "d")
    assert await kv.rpop("l", 2) == ["d", "c"]
    assert await kv.lrange("l", 0, -1) == ["a", "b"]


async def test_lpop_with_count_returns_head_first(kv: AsyncClient) -> None:
    await kv.rpush("l", "a", "b", "c", "d")
    assert await kv.lpop("l", 3) == ["a", "b", "c"]
    assert await kv.lrange("l", 0, -1) == ["d"]


async def test_pop_count_larger_than_list_takes_all_and_list_vanishes(kv: AsyncClient) -> None:
    await kv.rpush("l", "a", "b")
    assert await kv.rpop("l", 10) == ["b", "a"]
    assert await kv.exists("l") == 0
    await kv.rpush("m", "a", "b")
    assert await kv.lpop("m", 10) == ["a", "b"]
    assert await kv.exists("m") == 0


async def test_pop_count_zero_is_empty_list_and_keeps_list(kv: AsyncClient) -> None:
    await kv.rpush("l", "a")
    assert await kv.lpop("l", 0) == []
    assert await kv.rpop("l", 0) == []
    assert await kv.lrange("l", 0, -1) == ["a"]


async def test_pop_with_count_on_missing_key_is_none(kv: AsyncClient) -> None:
    assert await kv.rpop("missing", 2) is None
    assert await kv.lpop("missing", 2) is None
    assert await kv.lpop("missing", 0) is None


async def test_pop_with_negative_count_is_invalid(kv: AsyncClient) -> None:
    await kv.rpush("l", "a")
    with pytest.raises(aiokv.InvalidArgumentError):
        await kv.rpop("l", -1)
    with pytest.raises(aiokv.InvalidArgumentError):
        await kv.lpop("l", -1)
    assert await kv.lrange("l", 0, -1) == ["a"]


async def test_pop_count_beyond_int64_is_invalid(kv: AsyncClient) -> None:
    # The server: "ERR value is out of range, must be positive"; nothing is popped.
    await kv.rpush("l", "a", "b")
    with pytest.raises(aiokv.InvalidArgumentError):
        await kv.rpop("l", 2**63)
    assert await kv.lrange("l", 0, -1) == ["a", "b"]


async def test_push_without_values_is_invalid_and_creates_nothing(kv: AsyncClient) -> None:
    with pytest.raises(aiokv.InvalidArgumentError):
        await kv.lpush("l")
    with pytest.raises(aiokv.InvalidArgumentError):
        await kv.rpush("l")
    assert await kv.exists("l") == 0


async def test_llen(kv: AsyncClient) -> None:
    assert await kv.llen("missing") == 0
    await kv.rpush("l", "a", "b", "c")
    assert await kv.llen("l") == 3


async def test_list_vanishes_when_last_element_popped(kv: AsyncClient) -> None:
    await kv.rpush("l", "a", "b")
    assert await kv.lpop("l") == "a"
    assert await kv.rpop("l") == "b"
    assert await kv.exists("l") == 0
    assert await kv.llen("l") == 0
    assert await kv.lrange("l", 0, -1) == []
    assert await kv.lpop("l") is None
    assert await kv.dbsize() == 0
    assert await kv.keys() == []
    # No type clash is left behind.
    assert await kv.sadd("l", "m") == 1
    assert await kv.smembers("l") == {"m"}


async def test_empty_string_element_keeps_the_list(kv: AsyncClient) -> None:
    await kv.rpush("l", "")
    assert await kv.exists("l") == 1
    assert await kv.rpop("l") == ""
    assert await kv.exists("l") == 0


@pytest.mark.parametrize(
    ("start", "stop", "expected"),
    [
        (0, -1, ["a", "b", "c", "d", "e"]),
        (0, 0, ["a"]),
        (1, 3, ["b", "c", "d"]),
        (-2, -1, ["d", "e"]),
        (-1, -1, ["e"]),
        (-3, 3, ["c", "d"]),
        (0, 100, ["a", "b", "c", "d", "e"]),
        (-100, 100, ["a", "b", "c", "d", "e"]),
        (-100, 1, ["a", "b"]),
        (-100, -100, []),
        (3, 1, []),
        (5, 10, []),
        (10, 20, []),
        (-1, -100, []),
        (4, 4, ["e"]),
        (2, -3, ["c"]),
        (2, -4, []),
    ],
)
async def test_lrange_indexes(kv: AsyncClient, start: int, stop: int, expected: list[str]) -> None:
    await kv.rpush("l", "a", "b", "c", "d", "e")
    assert await kv.lrange("l", start, stop) == expected


@pytest.mark.parametrize(("start", "stop"), [(0, 2**63), (-(2**63) - 1, -1), (2**64, 0)])
async def test_lrange_index_beyond_int64_is_not_an_integer(
    kv: AsyncClient, start: int, stop: int
) -> None:
    await kv.rpush("l", "a", "b")
    with pytest.raises(aiokv.NotAnIntegerError):
        await kv.lrange("l", start, stop)
    with pytest.raises(aiokv.NotAnIntegerError):
        await kv.lrange("missing", start, stop)


async def test_lrange_int64_extremes_clamp(kv: AsyncClient) -> None:
    await kv.rpush("l", "a", "b")
    assert await kv.lrange("l", -(2**63), 2**63 - 1) == ["a", "b"]


async def test_lrange_missing_key_is_empty_list(kv: AsyncClient) -> None:
    result = await kv.lrange("missing", 0, -1)
    assert result == []
    assert isinstance(result, list)


async def test_lrange_does_not_modify(kv: AsyncClient) -> None:
    await kv.rpush("l", "a", "b")
    await kv.lrange("l", 0, 0)
    assert await kv.llen("l") == 2


async def test_lpush_on_set_is_wrongtype(kv: AsyncClient) -> None:
    await kv.sadd("s", "m")
    with pytest.raises(aiokv.WrongTypeError) as excinfo:
        await kv.lpush("s", "a")
    assert isinstance(excinfo.value, TypeError)
    assert await kv.smembers("s") == {"m"}


@pytest.mark.parametrize("kind", ["string", "hash", "set"])
async def test_list_commands_on_other_types_are_wrongtype(kv: AsyncClient, kind: str) -> None:
    if kind == "string":
        await kv.set("k", "v")
    elif kind == "hash":
        await kv.hset("k", "f", "v")
    else:
        await kv.sadd("k", "m")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.lpush("k", "a")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.rpush("k", "a")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.lpop("k")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.rpop("k")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.rpop("k", 2)
    with pytest.raises(aiokv.WrongTypeError):
        await kv.llen("k")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.lrange("k", 0, -1)
    assert await kv.exists("k") == 1
