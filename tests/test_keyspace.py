"""Keyspace: delete/exists counts, keys/scan_iter globs, dbsize/flushdb/ping, type clashes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

import aiokv
from aiokv import AsyncClient

KeyOp = Callable[[AsyncClient, str], Awaitable[object]]


# --- delete / exists -------------------------------------------------------------------------


async def test_delete_returns_number_removed(kv: AsyncClient) -> None:
    await kv.set("a", "1")
    await kv.set("b", "2")
    assert await kv.delete("a", "b", "missing") == 2
    assert await kv.exists("a", "b") == 0


async def test_delete_counts_duplicate_keys_once(kv: AsyncClient) -> None:
    await kv.set("k", "v")
    await kv.set("j", "v")
    assert await kv.delete("k", "k", "j") == 2


async def test_delete_missing_key_returns_zero(kv: AsyncClient) -> None:
    assert await kv.delete("missing") == 0


async def test_delete_twice(kv: AsyncClient) -> None:
    await kv.set("k", "v")
    assert await kv.delete("k") == 1
    assert await kv.delete("k") == 0
    assert await kv.get("k") is None


async def test_delete_removes_every_type(kv: AsyncClient) -> None:
    await kv.set("s", "v")
    await kv.hset("h", "f", "v")
    await kv.rpush("l", "a")
    await kv.sadd("z", "m")
    assert await kv.delete("s", "h", "l", "z") == 4
    assert await kv.dbsize() == 0
    assert await kv.hgetall("h") == {}
    assert await kv.lrange("l", 0, -1) == []
    assert await kv.smembers("z") == set()


async def test_exists_counts_duplicates(kv: AsyncClient) -> None:
    await kv.set("k", "v")
    assert await kv.exists("k") == 1
    assert await kv.exists("k", "k") == 2
    assert await kv.exists("k", "k", "missing") == 2


async def test_exists_counts_every_type(kv: AsyncClient) -> None:
    await kv.set("s", "v")
    await kv.hset("h", "f", "v")
    await kv.rpush("l", "a")
    await kv.sadd("z", "m")
    assert await kv.exists("s", "h", "l", "z", "missing") == 4


async def test_exists_missing_key_is_zero(kv: AsyncClient) -> None:
    assert await kv.exists("missing") == 0
    assert await kv.exists("missing", "also-missing") == 0


async def test_delete_versus_exists_on_the_same_arguments(kv: AsyncClient) -> None:
    await kv.set("a", "v")
    assert await kv.exists("a", "a") == 2
    assert await kv.delete("a", "a") == 1
    assert await kv.exists("a", "a") == 0


@pytest.mark.parametrize("held", ["string", "hash", "list", "set"])
async def test_type_names_the_kind_of_value(kv: AsyncClient, held: str) -> None:
    await MAKERS[held](kv, "k")
    assert await kv.type("k") == held


async def test_type_of_missing_and_vanished_keys_is_none(kv: AsyncClient) -> None:
    assert await kv.type("missing") == "none"
    await kv.sadd("s", "m")
    await kv.srem("s", "m")
    assert await kv.type("s") == "none"


async def test_type_of_counter_and_bytes_is_string(kv: AsyncClient) -> None:
    await kv.incr("n")
    await kv.set("b", b"\xff")
    assert await kv.type("n") == "string"
    assert await kv.type("b") == "string"


# --- dbsize / flushdb / ping -----------------------------------------------------------------


async def test_database_starts_empty(kv: AsyncClient) -> None:
    assert await kv.dbsize() == 0
    assert await kv.keys() == []


async def test_dbsize_counts_keys_of_every_type(kv: AsyncClient) -> None:
    await kv.set("s", "v")
    await kv.hset("h", mapping={"a": "1", "b": "2"})
    await kv.rpush("l", "a", "b", "c")
    await kv.sadd("z", "m")
    assert await kv.dbsize() == 4
    await kv.delete("s")
    assert await kv.dbsize() == 3


async def test_dbsize_does_not_double_count_overwrites(kv: AsyncClient) -> None:
    await kv.set("k", "v")
    await kv.set("k", "w")
    await kv.hset("h", "f", "1")
    await kv.set("h", "string now")
    assert await kv.dbsize() == 2


async def test_flushdb_removes_everything(kv: AsyncClient) -> None:
    await kv.set("s", "v", ttl=100)
    await kv.hset("h", "f", "v")
    await kv.rpush("l", "a")
    await kv.sadd("z", "m")
    assert await kv.flushdb() is None  # type: ignore[func-returns-value]
    assert await kv.dbsize() == 0
    assert await kv.keys() == []
    assert await kv.get("s") is None
    assert await kv.ttl("s") == -2
    # Names are free again, for any type.
    assert await kv.sadd("h", "m") == 1


async def test_flushdb_on_empty_database(kv: AsyncClient) -> None:
    assert await kv.flushdb() is None  # type: ignore[func-returns-value]
    assert await kv.dbsize() == 0


async def test_ping(kv: AsyncClient) -> None:
    assert await kv.ping() is True


# --- keys / scan_iter ------------------------------------------------------------------------


async def test_keys_default_pattern_lists_everything(kv: AsyncClient) -> None:
    names = {"a", "b:1", "c d", "é"}
    for name in names:
        await kv.set(name, "v")
    await kv.hset("h", "f", "v")
    result = await kv.keys()
    assert isinstance(result, list)
    assert all(isinstance(key, str) for key in result)
    assert sorted(result) == sorted([*names, "h"])


async def test_scan_iter_default_pattern_lists_everything(kv: AsyncClient) -> None:
    await kv.set("a", "v")
    await kv.rpush("b", "x")
    result = [key async for key in kv.scan_iter()]
    assert sorted(result) == ["a", "b"]


async def test_scan_iter_on_empty_database(kv: AsyncClient) -> None:
    assert [key async for key in kv.scan_iter()] == []


async def test_scan_iter_walks_a_larger_keyspace(kv: AsyncClient) -> None:
    # Enough keys to need several SCAN round trips on a server.
    for i in range(300):
        await kv.set(f"item:{i}", i)
    await kv.set("other", "v")
    seen = {key async for key in kv.scan_iter("item:*")}
    assert seen == {f"item:{i}" for i in range(300)}
    assert set(await kv.keys("item:1?")) == {f"item:{i}" for i in range(10, 20)}


# A population of keys chosen to exercise the glob corners, and the matches a real Redis 7.0
# server returns for each pattern (checked with KEYS and SCAN MATCH). Matching is byte-wise:
# "é" is two bytes in UTF-8.
GLOB_KEYS = [
    "a", "b", "c", "!", "^", "-", "]", "\\",
    "ab", "ac", "ad", "a[", "a[b", "a*", "a?", "a\\",
    "é", "ée",
    "hello", "hallo", "hxllo", "hllo", "heeeello",
    "user:1", "user:10", "user:2:name",
]  # fmt: skip

GLOB_CASES: list[tuple[str, list[str]]] = [
    ("*", GLOB_KEYS),
    ("h?llo", ["hallo", "hello", "hxllo"]),
    ("h*llo", ["hallo", "heeeello", "hello", "hllo", "hxllo"]),
    ("h[ae]llo", ["hallo", "hello"]),
    ("h[^e]llo", ["hallo", "hxllo"]),
    ("h[a-b]llo", ["hallo"]),
    # Negation is "^"; "!" is an ordinary member of the class.
    ("[^a]", ["!", "-", "\\", "]", "^", "b", "c"]),
    ("[!a]", ["!", "a"]),
    # Reversed ranges work like forward ones.
    ("[c-a]", ["a", "b", "c"]),
    ("[a-c]", ["a", "b", "c"]),
    # An unclosed "[" runs to the end of the pattern.
    ("a[bc", ["ab", "ac"]),
    ("a[", []),
    # Backslash escapes, outside and inside classes.
    ("a\\*", ["a*"]),
    ("a\\?", ["a?"]),
    ("a\\\\", ["a\\"]),
    ("\\a?", ["a*", "a?", "a[", "a\\", "ab", "ac", "ad"]),
    ("[\\]]", ["]"]),
    ("[a\\-c]", ["-", "a", "c"]),
    # "?" is one byte, so it does not match a two-byte character.
    ("?", ["!", "-", "\\", "]", "^", "a", "b", "c"]),
    ("??", ["a*", "a?", "a[", "a\\", "ab", "ac", "ad", "é"]),
    ("*é", ["é"]),
    ("user:?", ["user:1"]),
    ("user:*", ["user:1", "user:10", "user:2:name"]),
    ("nomatch*", []),
]


@pytest.mark.parametrize(("pattern", "expected"), GLOB_CASES)
async def test_keys_glob(kv: AsyncClient, pattern: str, expected: list[str]) -> None:
    for name in GLOB_KEYS:
        await kv.set(name, "v")
    assert sorted(await kv.keys(pattern)) == sorted(expected)


@pytest.mark.parametrize(("pattern", "expected"), GLOB_CASES)
async def test_scan_iter_glob(kv: AsyncClient, pattern: str, expected: list[str]) -> None:
    for name in GLOB_KEYS:
        await kv.set(name, "v")
    assert {key async for key in kv.scan_iter(pattern)} == set(expected)


async def test_keys_pattern_is_case_sensitive(kv: AsyncClient) -> None:
    await kv.set("Key", "v")
    await kv.set("key", "v")
    assert await kv.keys("k*") == ["key"]
    assert sorted(await kv.keys("[kK]ey")) == ["Key", "key"]


# --- type clashes ----------------------------------------------------------------------------

MAKERS: dict[str, KeyOp] = {
    "string": lambda kv, key: kv.set(key, "v"),
    "hash": lambda kv, key: kv.hset(key, "f", "v"),
    "list": lambda kv, key: kv.rpush(key, "a"),
    "set": lambda kv, key: kv.sadd(key, "m"),
}

# Reads back what MAKERS wrote, proving the value survived a refused command.
READERS: dict[str, tuple[KeyOp, object]] = {
    "string": (lambda kv, key: kv.get(key), "v"),
    "hash": (lambda kv, key: kv.hgetall(key), {"f": "v"}),
    "list": (lambda kv, key: kv.lrange(key, 0, -1), ["a"]),
    "set": (lambda kv, key: kv.smembers(key), {"m"}),
}

COMMANDS: dict[str, dict[str, KeyOp]] = {
    "string": {
        "get": lambda kv, key: kv.get(key),
        "get_bytes": lambda kv, key: kv.get_bytes(key),
        "incr": lambda kv, key: kv.incr(key),
        "decr": lambda kv, key: kv.decr(key),
        "incrby": lambda kv, key: kv.incrby(key, 3),
        "decrby": lambda kv, key: kv.decrby(key, 3),
    },
    "hash": {
        "hset": lambda kv, key: kv.hset(key, "f2", "v2"),
        "hset_mapping": lambda kv, key: kv.hset(key, mapping={"f2": "v2"}),
        "hget": lambda kv, key: kv.hget(key, "f"),
        "hgetall": lambda kv, key: kv.hgetall(key),
        "hdel": lambda kv, key: kv.hdel(key, "f"),
    },
    "list": {
        "lpush": lambda kv, key: kv.lpush(key, "x"),
        "rpush": lambda kv, key: kv.rpush(key, "x"),
        "lpop": lambda kv, key: kv.lpop(key),
        "rpop": lambda kv, key: kv.rpop(key),
        "llen": lambda kv, key: kv.llen(key),
        "lrange": lambda kv, key: kv.lrange(key, 0, -1),
    },
    "set": {
        "sadd": lambda kv, key: kv.sadd(key, "x"),
        "srem": lambda kv, key: kv.srem(key, "m"),
        "smembers": lambda kv, key: kv.smembers(key),
        "sismember": lambda kv, key: kv.sismember(key, "m"),
        "scard": lambda kv, key: kv.scard(key),
    },
}

CLASHES = [
    pytest.param(held, command, id=f"{command}-on-{held}")
    for held in MAKERS
    for family, commands in COMMANDS.items()
    if family != held
    for command in commands
]


@pytest.mark.parametrize(("held", "command"), CLASHES)
async def test_command_on_wrong_type_raises_and_changes_nothing(
    kv: AsyncClient, held: str, command: str
) -> None:
    await MAKERS[held](kv, "k")
    family = next(name for name, commands in COMMANDS.items() if command in commands)
    with pytest.raises(aiokv.WrongTypeError) as excinfo:
        await COMMANDS[family][command](kv, "k")
    assert isinstance(excinfo.value, aiokv.CommandError)
    assert isinstance(excinfo.value, TypeError)
    read, expected = READERS[held]
    assert await read(kv, "k") == expected


@pytest.mark.parametrize("held", list(MAKERS))
async def test_same_family_commands_work_on_their_type(kv: AsyncClient, held: str) -> None:
    # Guard for the clash matrix: the commands themselves are fine on the right type.
    await MAKERS[held](kv, "k")
    if held == "string":
        await kv.set("k", "1")
    for command in COMMANDS[held].values():
        await command(kv, "k")


@pytest.mark.parametrize("held", list(MAKERS))
@pytest.mark.parametrize("kind", ["string", "hash", "list", "set"])
async def test_keyspace_commands_work_on_every_type(kv: AsyncClient, held: str, kind: str) -> None:
    await MAKERS[held](kv, "k")
    assert await kv.exists("k") == 1
    assert await kv.expire("k", 100) is True
    assert await kv.ttl("k") == 100
    assert await kv.persist("k") is True
    assert await kv.keys("k") == ["k"]
    # Plain SET overwrites whatever is there, then the new type's commands work.
    assert await kv.set("k", "plain") is True
    assert await kv.get("k") == "plain"
    assert await kv.delete("k") == 1
    await MAKERS[kind](kv, "k")
    read, expected = READERS[kind]
    assert await read(kv, "k") == expected


async def test_set_overwrite_clears_container_ttl(kv: AsyncClient) -> None:
    await kv.hset("k", "f", "v")
    await kv.expire("k", 100)
    await kv.set("k", "plain")
    assert await kv.ttl("k") == -1


# --- lifetime --------------------------------------------------------------------------------


async def test_aclose_is_idempotent_and_use_after_close_raises(kv: AsyncClient) -> None:
    await kv.set("k", "v")
    await kv.aclose()
    await kv.aclose()
    with pytest.raises(aiokv.ClientClosedError) as excinfo:
        await kv.get("k")
    assert isinstance(excinfo.value, RuntimeError)
    with pytest.raises(aiokv.ClientClosedError):
        await kv.set("k", "w")
    with pytest.raises(aiokv.ClientClosedError):
        await kv.ping()
