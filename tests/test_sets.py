"""Sets: sadd/srem counts, membership, cardinality and empty sets vanishing."""

from __future__ import annotations

import pytest

import aiokv
from aiokv import AsyncClient


async def test_sadd_counts_new_members_only(kv: AsyncClient) -> None:
    assert await kv.sadd("s", "a", "b") == 2
    assert await kv.sadd("s", "a", "c") == 1
    assert await kv.sadd("s", "a") == 0
    assert await kv.smembers("s") == {"a", "b", "c"}


async def test_sadd_duplicate_arguments_count_once(kv: AsyncClient) -> None:
    assert await kv.sadd("s", "a", "a", "b") == 2
    assert await kv.scard("s") == 2


async def test_set_members_are_stored_as_text(kv: AsyncClient) -> None:
    await kv.sadd("s", 1, 2.5, b"raw", "", "☃")
    assert await kv.smembers("s") == {"1", "2.5", "raw", "", "☃"}
    assert await kv.sismember("s", 1) is True
    assert await kv.sismember("s", "1") is True


async def test_int_and_its_text_are_the_same_member(kv: AsyncClient) -> None:
    assert await kv.sadd("s", 7) == 1
    assert await kv.sadd("s", "7") == 0
    assert await kv.scard("s") == 1


async def test_bytes_and_text_are_the_same_member(kv: AsyncClient) -> None:
    assert await kv.sadd("s", b"a", "a") == 1
    assert await kv.sismember("s", b"a") is True
    assert await kv.srem("s", b"a") == 1
    assert await kv.exists("s") == 0


async def test_non_utf8_member_read_back_can_be_used_again(kv: AsyncClient) -> None:
    # smembers returns text; a member that is not UTF-8 comes back with surrogate escapes, and
    # passing that text back must address the same member.
    await kv.sadd("s", b"\xff", "ok")
    odd = next(member for member in await kv.smembers("s") if member != "ok")
    assert odd.encode("utf-8", "surrogateescape") == b"\xff"
    assert await kv.sismember("s", odd) is True
    assert await kv.srem("s", odd) == 1
    assert await kv.smembers("s") == {"ok"}


async def test_sadd_and_srem_without_members_are_invalid(kv: AsyncClient) -> None:
    with pytest.raises(aiokv.InvalidArgumentError):
        await kv.sadd("s")
    assert await kv.exists("s") == 0
    await kv.sadd("t", "a")
    with pytest.raises(aiokv.InvalidArgumentError):
        await kv.srem("t")
    assert await kv.smembers("t") == {"a"}


async def test_smembers_returns_a_str_set(kv: AsyncClient) -> None:
    await kv.sadd("s", "a", "b")
    result = await kv.smembers("s")
    assert isinstance(result, set)
    assert all(isinstance(member, str) for member in result)


async def test_smembers_missing_key_is_empty_set(kv: AsyncClient) -> None:
    result = await kv.smembers("missing")
    assert result == set()
    assert isinstance(result, set)


async def test_sismember(kv: AsyncClient) -> None:
    await kv.sadd("s", "a")
    assert await kv.sismember("s", "a") is True
    assert await kv.sismember("s", "b") is False
    assert await kv.sismember("missing", "a") is False


async def test_scard(kv: AsyncClient) -> None:
    assert await kv.scard("missing") == 0
    await kv.sadd("s", "a", "b", "c")
    assert await kv.scard("s") == 3


async def test_srem_counts_removed_members(kv: AsyncClient) -> None:
    await kv.sadd("s", "a", "b", "c")
    assert await kv.srem("s", "a", "a", "nosuch") == 1
    assert await kv.srem("s", "a") == 0
    assert await kv.smembers("s") == {"b", "c"}


async def test_srem_on_missing_key_returns_zero(kv: AsyncClient) -> None:
    assert await kv.srem("missing", "a") == 0
    assert await kv.exists("missing") == 0


async def test_set_vanishes_when_last_member_removed(kv: AsyncClient) -> None:
    await kv.sadd("s", "a", "b")
    assert await kv.srem("s", "a", "b") == 2
    assert await kv.exists("s") == 0
    assert await kv.scard("s") == 0
    assert await kv.smembers("s") == set()
    assert await kv.dbsize() == 0
    assert await kv.keys() == []
    # No type clash is left behind.
    assert await kv.hset("s", "f", "v") == 1
    assert await kv.hgetall("s") == {"f": "v"}


async def test_sadd_on_list_is_wrongtype(kv: AsyncClient) -> None:
    await kv.rpush("l", "a")
    with pytest.raises(aiokv.WrongTypeError) as excinfo:
        await kv.sadd("l", "m")
    assert isinstance(excinfo.value, TypeError)
    assert await kv.lrange("l", 0, -1) == ["a"]


@pytest.mark.parametrize("kind", ["string", "hash", "list"])
async def test_set_commands_on_other_types_are_wrongtype(kv: AsyncClient, kind: str) -> None:
    if kind == "string":
        await kv.set("k", "v")
    elif kind == "hash":
        await kv.hset("k", "f", "v")
    else:
        await kv.rpush("k", "a")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.sadd("k", "m")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.srem("k", "m")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.smembers("k")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.sismember("k", "m")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.scard("k")
    assert await kv.exists("k") == 1
