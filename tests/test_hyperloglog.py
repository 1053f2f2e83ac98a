"""HyperLogLog (PFADD, PFCOUNT, PFMERGE) on both drivers.

The memory driver runs Redis's own sketch, so for the same elements both drivers give the same
counts (the differential test compares them exactly); the tests here hold each driver to the
bounds Redis documents: exact for small sets, a standard error of 0.81% beyond.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

import aiokv
from aiokv import AsyncClient
from aiokv._pipeline import Transaction

STANDARD_ERROR = 1.04 / math.sqrt(16384)  # 0.0081: Redis's documented standard error

# On a cluster, every key of a test in one slot (see tests/conftest.py).
pytestmark = pytest.mark.one_slot


async def _add_all(kv: AsyncClient, key: str, elements: list[str], batch: int = 1000) -> None:
    for start in range(0, len(elements), batch):
        await kv.pfadd(key, *elements[start : start + batch])


async def test_pfadd_reports_creation_and_change(kv: AsyncClient) -> None:
    assert await kv.pfcount("visits") == 0
    assert await kv.pfadd("visits", "alice", "bob") is True
    assert await kv.pfadd("visits", "alice") is False  # already counted: no register moved
    assert await kv.pfadd("visits") is False  # no element for an existing key
    assert await kv.pfadd("visits", "carol") is True
    assert await kv.pfcount("visits") == 3
    assert await kv.type("visits") == "string"  # Redis keeps a HyperLogLog in a string


async def test_pfadd_without_elements_creates_an_empty_sketch(kv: AsyncClient) -> None:
    assert await kv.pfadd("empty") is True
    assert await kv.exists("empty") == 1
    assert await kv.pfcount("empty") == 0


async def test_small_counts_are_exact(kv: AsyncClient) -> None:
    # Redis's estimator is exact for these small sets (checked on the server: the redis run).
    for n in range(1, 101):
        assert await kv.pfadd("k", f"user:{n}") is True
        assert await kv.pfcount("k") == n


async def test_equal_encodings_are_one_element(kv: AsyncClient) -> None:
    # The server counts bytes: 1 and "1", "é" and its UTF-8 bytes are each one element.
    await kv.pfadd("k", 1, "1", b"1", "é", b"\xc3\xa9", 1.5, "1.5", b"\xff")
    assert await kv.pfcount("k") == 4


@pytest.mark.parametrize("seed", ["a", "b"])
async def test_large_counts_stay_within_three_standard_errors(kv: AsyncClient, seed: str) -> None:
    # Fixed element sets, so each driver's answer is deterministic; the bound is 3 x 0.81%.
    added = 0
    for target in (1_000, 10_000, 100_000):
        await _add_all(kv, "k", [f"{seed}-visitor-{i}" for i in range(added, target)])
        added = target
        estimate = await kv.pfcount("k")
        assert abs(estimate - target) <= 3 * STANDARD_ERROR * target, (target, estimate)


async def test_count_of_a_merge_equals_count_of_the_union(kv: AsyncClient) -> None:
    monday = [f"u{i}" for i in range(0, 3000)]
    tuesday = [f"u{i}" for i in range(2000, 9000)]
    wednesday = [f"u{i}" for i in range(8500, 8600)] + ["x", "y"]
    await _add_all(kv, "mon", monday)
    await _add_all(kv, "tue", tuesday)
    await _add_all(kv, "wed", wednesday)
    await _add_all(kv, "all", monday + tuesday + wednesday)
    union = await kv.pfcount("mon", "tue", "wed", "missing")
    assert union == await kv.pfcount("all")
    assert abs(union - 9002) <= 3 * STANDARD_ERROR * 9002
    assert await kv.pfmerge("week", "mon", "tue", "wed", "missing") is None
    assert await kv.pfcount("week") == union
    # The sources are unchanged.
    assert await kv.pfcount("wed") == 102


async def test_pfmerge_keeps_dest_elements_and_ttl(kv: AsyncClient) -> None:
    await kv.pfadd("dest", "a", "b")
    await kv.expire("dest", 100)
    await kv.pfadd("src", "b", "c", "d")
    await kv.pfmerge("dest", "src")
    assert await kv.pfcount("dest") == 4
    assert await kv.ttl("dest") > 0
    await kv.pfmerge("dest")  # no sources: dest unchanged
    assert await kv.pfcount("dest") == 4


async def test_pfmerge_creates_an_empty_dest(kv: AsyncClient) -> None:
    await kv.pfmerge("d")
    await kv.pfmerge("d2", "missing")
    for key in ("d", "d2"):
        assert await kv.type(key) == "string"
        assert await kv.pfcount(key) == 0
        assert await kv.ttl(key) == -1


async def test_small_and_large_sketches_merge_both_ways(kv: AsyncClient) -> None:
    await _add_all(kv, "big", [f"e{i}" for i in range(5000)])
    await kv.pfadd("small", "e1", "z1", "z2")
    await kv.pfmerge("small2", "small")
    await kv.pfmerge("small2", "big")
    await kv.pfmerge("big2", "big")
    await kv.pfmerge("big2", "small")
    both = await kv.pfcount("big", "small")
    assert await kv.pfcount("small2") == both
    assert await kv.pfcount("big2") == both


async def test_wrong_types(kv: AsyncClient) -> None:
    await kv.set("text", "hello")
    await kv.rpush("list", "x")
    await kv.pfadd("hll", "a")
    for call in (
        lambda: kv.pfadd("text", "a"),
        lambda: kv.pfadd("text"),
        lambda: kv.pfcount("text"),
        lambda: kv.pfcount("hll", "text"),
        lambda: kv.pfmerge("text", "hll"),
        lambda: kv.pfmerge("new", "hll", "text"),
    ):
        with pytest.raises(aiokv.WrongTypeError, match="not a valid HyperLogLog"):
            await call()
    for call in (
        lambda: kv.pfadd("list", "a"),
        lambda: kv.pfcount("list"),
        lambda: kv.pfmerge("new", "list"),
        lambda: kv.pfmerge("list", "hll"),
    ):
        with pytest.raises(aiokv.WrongTypeError, match="wrong kind of value"):
            await call()
    assert await kv.exists("new") == 0
    assert await kv.get("text") == "hello"
    assert await kv.lrange("list", 0, -1) == ["x"]
    with pytest.raises(aiokv.WrongTypeError):
        await kv.lpush("hll", "x")


async def test_pfcount_needs_a_key(kv: AsyncClient) -> None:
    with pytest.raises(aiokv.InvalidArgumentError):
        kv.pfcount()


async def test_set_replaces_a_sketch(kv: AsyncClient) -> None:
    await kv.pfadd("k", "a")
    await kv.set("k", "plain")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.pfadd("k", "b")
    await kv.delete("k")
    assert await kv.pfadd("k", "b") is True


async def test_expired_sketch_counts_as_missing(kv: AsyncClient) -> None:
    await kv.pfadd("k", "a", "b")
    assert await kv.expire("k", -1) is True
    assert await kv.pfcount("k") == 0
    assert await kv.pfadd("k", "c") is True
    assert await kv.pfcount("k") == 1


async def test_key_prefix(make_client: Callable[..., AsyncClient]) -> None:
    async with make_client(key_prefix="{app}:") as app:
        await app.flushdb()
        await app.pfadd("v", "a", "b")
        await app.pfadd("w", "c")
        await app.pfmerge("all", "v", "w")
        assert await app.pfcount("all") == 3
        assert await app.pfcount("v", "w") == 3
        assert sorted(await app.keys()) == ["all", "v", "w"]


async def test_pipeline_gives_the_same_replies(kv: AsyncClient) -> None:
    p = kv.pipeline()
    p.pfadd("a", "x", "y").pfadd("a", "x").pfadd("b", "z").pfcount("a", "b").pfmerge("c", "a", "b")
    p.pfcount("c")
    assert await p.execute() == [True, False, True, 3, None, 3]
    assert await kv.pfcount("c") == 3


async def test_counting_a_changed_sketch_touches_a_watched_key(kv: AsyncClient) -> None:
    # A server rewrites the count it caches in the HyperLogLog's string when PFCOUNT follows a
    # change, and signals the key as modified: a transaction watching it retries once. A
    # second count reads the cache and touches nothing.
    await kv.pfadd("h", "a", "b")
    attempts = 0

    async def count_then_write(tx: Transaction) -> None:
        nonlocal attempts
        attempts += 1
        seen = await tx.pfcount("h")
        tx.multi()
        tx.set("seen", seen)

    assert await kv.transaction(count_then_write, "h") == [True]
    assert attempts == 2
    assert await kv.get("seen") == "2"
    attempts = 0
    await kv.transaction(count_then_write, "h")
    assert attempts == 1
