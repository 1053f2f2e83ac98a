"""Script and run_script: one atomic step on both drivers, prefixed keys, translated errors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import pytest
from servers import RedisServer

from aiokv import AsyncClient, Script, WrongTypeError
from aiokv._script import ScriptArg
from aiokv.drivers.memory import MemoryDriver as Driver


async def _bump_local(driver: Driver, keys: Sequence[str], args: Sequence[ScriptArg]) -> int:
    raw = await driver.get(keys[0])
    value = int(raw or 0) + int(args[0])
    await driver.set(keys[0], str(value), None, False, False)
    return value


# A read-modify-write that would lose updates if it were not atomic.
BUMP = Script(
    lua="""
local value = tonumber(redis.call('GET', KEYS[1]) or '0') + tonumber(ARGV[1])
redis.call('SET', KEYS[1], value)
return value
""",
    local=_bump_local,
)


async def _pair_local(driver: Driver, keys: Sequence[str], args: Sequence[ScriptArg]) -> object:
    if await driver.exists(keys) == 0:
        return None
    return [await driver.llen(keys[0]), await driver.scard(keys[1])]


PAIR = Script(
    lua="""
if redis.call('EXISTS', KEYS[1], KEYS[2]) == 0 then
    return false
end
return {redis.call('LLEN', KEYS[1]), redis.call('SCARD', KEYS[2])}
""",
    local=_pair_local,
)


async def _incr_local(driver: Driver, keys: Sequence[str], args: Sequence[ScriptArg]) -> int:
    return await driver.incrby(keys[0], 1)


INCR = Script(lua="return redis.call('INCR', KEYS[1])", local=_incr_local)


async def test_reply_shapes(kv: AsyncClient) -> None:
    assert await kv.run_script(BUMP, ["n"], [5]) == 5
    assert await kv.run_script(BUMP, ["n"], ["2"]) == 7
    assert await kv.get("n") == "7"
    assert await kv.run_script(PAIR, ["l", "s"]) is None
    await kv.rpush("l", "a", "b")
    await kv.sadd("s", "x")
    assert await kv.run_script(PAIR, ["l", "s"]) == [2, 1]


async def test_atomic_under_concurrency(kv: AsyncClient) -> None:
    await asyncio.gather(*(kv.run_script(BUMP, ["n"], [1]) for _ in range(500)))
    assert await kv.get("n") == "500"


async def test_errors_inside_are_translated(kv: AsyncClient) -> None:
    await kv.rpush("l", "a")
    with pytest.raises(WrongTypeError):
        await kv.run_script(INCR, ["l"])


async def test_keys_get_the_client_prefix(
    make_client: Callable[..., AsyncClient], driver: str
) -> None:
    async with make_client(key_prefix="app:") as kv:
        await kv.flushdb()
        await kv.run_script(BUMP, ["n"], [3])
        assert await kv.keys() == ["n"]
        if driver == "redis":
            async with make_client() as raw:
                assert await raw.get("app:n") == "3"


async def test_falls_back_to_eval_after_a_script_flush(
    kv: AsyncClient, driver: str, redis_server: RedisServer
) -> None:
    if driver == "memory":
        pytest.skip("the memory driver runs no Lua")
    assert await kv.run_script(INCR, ["n"]) == 1
    redis_server.command("SCRIPT", "FLUSH")
    assert redis_server.command("SCRIPT", "EXISTS", INCR.sha1) == [0]
    assert await kv.run_script(INCR, ["n"]) == 2
    assert redis_server.command("SCRIPT", "EXISTS", INCR.sha1) == [1]


def test_script_is_frozen_and_named_by_its_digest() -> None:
    # The SHA1 of the source, as SCRIPT LOAD would compute it.
    assert INCR.sha1 == "61636018f4e6b5817b89791bbed242f93fa089e3"
    with pytest.raises(AttributeError):
        INCR.lua = "return 1"  # type: ignore[misc]
