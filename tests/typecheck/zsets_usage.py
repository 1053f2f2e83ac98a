"""A user module that mypy --strict must accept: ``withscores`` picks the sorted-set reply type.

Checked by `mypy` (tests/typecheck is in its files); never run.
"""

from __future__ import annotations

from typing import Any

from typing_extensions import assert_type

from aiokv import AsyncClient

kv = AsyncClient()


async def ranges() -> None:
    assert_type(await kv.zrange("z", 0, -1), list[str])
    assert_type(await kv.zrange("z", 0, -1, withscores=True), list[tuple[str, float]])
    assert_type(await kv.zrangebyscore("z", "(1", "+inf"), list[str])
    assert_type(await kv.zrangebyscore("z", 1, 2, withscores=True), list[tuple[str, float]])
    assert_type(await kv.zrevrangebyscore("z", 2, 1, withscores=True), list[tuple[str, float]])
    assert_type(await kv.zunion("a", "b"), list[str])
    assert_type(await kv.zinter("a", "b", withscores=True), list[tuple[str, float]])
    assert_type(await kv.zscore("z", "m"), float | None)
    assert_type(await kv.zincrby("z", 1, "m"), float)
    assert_type(await kv.zrank("z", "m"), int | None)
    assert_type(await kv.zpopmin("z"), list[tuple[str, float]])
    async for member, score in kv.zscan_iter("z"):
        assert_type(member, str)
        assert_type(score, float)
    p = kv.pipeline().zadd("z", {"m": 1}).zrange("z", 0, -1, withscores=True)
    assert_type(await p.execute(), list[Any])
