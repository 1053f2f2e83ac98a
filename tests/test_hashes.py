"""Hashes: hset/hget/hgetall/hdel, new-field counts and empty hashes vanishing."""

from __future__ import annotations

import pytest

import aiokv
from aiokv import AsyncClient


async def test_hset_new_field_returns_one(kv: AsyncClient) -> None:
    assert await kv.hset("h", "f", "v") == 1
    assert await kv.hget("h", "f") == "v"


async def test_hset_existing_field_returns_zero_and_updates(kv: AsyncClient) -> None:
    await kv.hset("h", "f", "v1")
    assert await kv.hset("h", "f", "v2") == 0
    assert await kv.hget("h", "f") == "v2"


async def test_hset_mapping_counts_only_new_fields(kv: AsyncClient) -> None:
    assert await kv.hset("h", mapping={"a": "1", "b": "2"}) == 2
    assert await kv.hset("h", mapping={"a": "10", "b": "20", "c": "30"}) == 1
    assert await kv.hgetall("h") == {"a": "10", "b": "20", "c": "30"}


async def test_hset_mapping_of_only_existing_fields_returns_zero(kv: AsyncClient) -> None:
    await kv.hset("h", mapping={"a": "1", "b": "2"})
    assert await kv.hset("h", mapping={"a": "x", "b": "y"}) == 0
    assert await kv.hgetall("h") == {"a": "x", "b": "y"}


async def test_hset_field_and_mapping_together(kv: AsyncClient) -> None:
    assert await kv.hset("h", "a", "1", mapping={"b": "2", "c": "3"}) == 3
    assert await kv.hgetall("h") == {"a": "1", "b": "2", "c": "3"}


async def test_hset_values_are_stored_as_text(kv: AsyncClient) -> None:
    await kv.hset("h", mapping={"i": 7, "f": 1.5, "b": b"raw", "s": ""})
    assert await kv.hgetall("h") == {"i": "7", "f": "1.5", "b": "raw", "s": ""}
    assert await kv.hget("h", "i") == "7"
    assert await kv.hget("h", "s") == ""


async def test_hset_unicode_fields_and_values(kv: AsyncClient) -> None:
    await kv.hset("h", "clé", "☃")
    assert await kv.hget("h", "clé") == "☃"
    assert await kv.hgetall("h") == {"clé": "☃"}


async def test_hset_without_any_field_is_invalid_and_creates_nothing(kv: AsyncClient) -> None:
    with pytest.raises(aiokv.InvalidArgumentError):
        await kv.hset("h")
    with pytest.raises(aiokv.InvalidArgumentError):
        await kv.hset("h", mapping={})
    assert await kv.exists("h") == 0


async def test_hset_unsupported_value_raises_type_error(kv: AsyncClient) -> None:
    with pytest.raises(TypeError):
        await kv.hset("h", "f", {"nested": 1})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await kv.hset("h", "f", None)
    assert await kv.exists("h") == 0


async def test_hget_misses(kv: AsyncClient) -> None:
    assert await kv.hget("missing", "f") is None
    await kv.hset("h", "f", "v")
    assert await kv.hget("h", "other") is None


async def test_hgetall_missing_key_is_empty_dict(kv: AsyncClient) -> None:
    result = await kv.hgetall("missing")
    assert result == {}
    assert isinstance(result, dict)


async def test_hgetall_returns_a_str_dict(kv: AsyncClient) -> None:
    await kv.hset("h", mapping={"a": "1", "b": "2"})
    result = await kv.hgetall("h")
    assert result == {"a": "1", "b": "2"}
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in result.items())


async def test_hdel_counts_removed_fields(kv: AsyncClient) -> None:
    await kv.hset("h", mapping={"a": "1", "b": "2", "c": "3"})
    assert await kv.hdel("h", "a", "nosuch") == 1
    assert await kv.hdel("h", "a") == 0
    assert await kv.hgetall("h") == {"b": "2", "c": "3"}


async def test_hdel_duplicate_fields_count_once(kv: AsyncClient) -> None:
    await kv.hset("h", mapping={"a": "1", "b": "2"})
    assert await kv.hdel("h", "a", "a") == 1
    assert await kv.hgetall("h") == {"b": "2"}


async def test_hdel_on_missing_key_returns_zero(kv: AsyncClient) -> None:
    assert await kv.hdel("missing", "f") == 0
    assert await kv.exists("missing") == 0


async def test_hash_vanishes_when_last_field_removed(kv: AsyncClient) -> None:
    await kv.hset("h", mapping={"a": "1", "b": "2"})
    assert await kv.hdel("h", "a", "b") == 2
    assert await kv.exists("h") == 0
    assert await kv.hgetall("h") == {}
    assert await kv.keys() == []
    assert await kv.dbsize() == 0
    assert await kv.ttl("h") == -2
    # No type clash is left behind: the name is free for any type.
    assert await kv.rpush("h", "x") == 1
    assert await kv.lrange("h", 0, -1) == ["x"]


async def test_hash_after_vanishing_starts_fresh(kv: AsyncClient) -> None:
    await kv.hset("h", "a", "1")
    await kv.hdel("h", "a")
    assert await kv.hset("h", "a", "2") == 1
    assert await kv.hgetall("h") == {"a": "2"}


async def test_hset_on_string_is_wrongtype(kv: AsyncClient) -> None:
    await kv.set("k", "v")
    with pytest.raises(aiokv.WrongTypeError) as excinfo:
        await kv.hset("k", "f", "v")
    assert isinstance(excinfo.value, TypeError)
    assert "WRONGTYPE" in str(excinfo.value)
    assert await kv.get("k") == "v"


@pytest.mark.parametrize("kind", ["string", "list", "set"])
async def test_hash_reads_on_other_types_are_wrongtype(kv: AsyncClient, kind: str) -> None:
    if kind == "string":
        await kv.set("k", "v")
    elif kind == "list":
        await kv.rpush("k", "a")
    else:
        await kv.sadd("k", "m")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.hget("k", "f")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.hgetall("k")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.hdel("k", "f")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.hset("k", mapping={"f": "v"})
    assert await kv.exists("k") == 1
