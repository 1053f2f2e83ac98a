"""Cache-aside: get_or_set, its single-flight, and invalidation with delete_matching."""

from __future__ import annotations

import asyncio
import gc
import textwrap
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any

import pytest
from pydantic import BaseModel

from aiokv import AsyncClient


class Product(BaseModel):
    id: int
    name: str


class Counter:
    """A factory that counts its calls, optionally waiting on a gate before answering."""

    def __init__(self, value: Any = "v", *, gate: asyncio.Event | None = None) -> None:
        self.value = value
        self.gate = gate
        self.calls = 0
        self.started = asyncio.Event()
        self.cancelled = False

    async def __call__(self) -> Any:
        self.calls += 1
        self.started.set()
        try:
            if self.gate is not None:
                await self.gate.wait()
            else:
                await asyncio.sleep(0.02)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return self.value


async def waiting(kv: AsyncClient, key: str, count: int) -> None:
    """Return once ``count`` callers wait for the computation of ``key``."""
    for _ in range(5000):  # polled: the waiters have nothing to signal with
        flight = kv._flights._flights.get(key)
        if flight is not None and flight.waiters >= count:
            return
        await asyncio.sleep(0.001)
    pytest.fail(f"fewer than {count} callers are waiting for {key!r}")


# -- get_or_set --------------------------------------------------------------------------------


async def test_miss_calls_factory_and_stores_json(kv: AsyncClient) -> None:
    factory = Counter({"a": 1})
    assert await kv.get_or_set("k", factory, ttl=60) == {"a": 1}
    assert factory.calls == 1
    assert await kv.get("k") == '{"a":1}'
    assert 59_000 < await kv.pttl("k") <= 60_000


async def test_hit_does_not_call_factory(kv: AsyncClient) -> None:
    await kv.set_json("k", [1, 2])
    factory = Counter()
    assert await kv.get_or_set("k", factory) == [1, 2]
    assert factory.calls == 0


async def test_sync_factory(kv: AsyncClient) -> None:
    calls = []

    def load() -> list[int]:
        calls.append(1)
        return [1, 2, 3]

    assert await kv.get_or_set("k", load) == [1, 2, 3]
    assert await kv.get_or_set("k", load) == [1, 2, 3]
    assert len(calls) == 1


async def test_annotated_factory_gives_a_model_on_hit_and_miss(kv: AsyncClient) -> None:
    async def load() -> Product:
        return Product(id=1, name="lamp")

    first = await kv.get_or_set("p", load)
    second = await kv.get_or_set("p", load)
    assert first == second == Product(id=1, name="lamp")
    assert isinstance(second, Product)


async def test_explicit_type_for_a_lambda(kv: AsyncClient) -> None:
    load: Callable[[], Product] = lambda: Product(id=1, name="lamp")  # noqa: E731
    await kv.get_or_set("p", load, type=Product)
    hit = await kv.get_or_set("p", load, type=Product)
    assert isinstance(hit, Product)

    items = await kv.get_or_set("ps", lambda: [Product(id=2, name="b")], type=list[Product])
    assert items == [Product(id=2, name="b")]
    assert await kv.get_or_set("ps", lambda: [], type=list[Product]) == items


async def test_untyped_factory_returning_plain_json(kv: AsyncClient) -> None:
    value = {"a": [1, 2.5, None, True, "x"]}
    assert await kv.get_or_set("k", lambda: value) == value
    assert await kv.get_or_set("k", lambda: {}) == value


@pytest.mark.parametrize(
    "value", [Product(id=1, name="lamp"), (1, 2), datetime(2024, 1, 1), {"when": date(2024, 1, 1)}]
)
async def test_untyped_factory_returning_what_json_cannot_restore(
    kv: AsyncClient, value: object
) -> None:
    # Without a type, a hit would return plain JSON data instead of the factory's value (and
    # of what a type checker expects): refused at the first call, and nothing is cached.
    with pytest.raises(TypeError, match="pass type= to get_or_set"):
        await kv.get_or_set("k", lambda: value)
    assert await kv.exists("k") == 0


async def test_factory_annotated_as_returning_an_awaitable(kv: AsyncClient) -> None:
    async def fetch() -> Product:
        return Product(id=3, name="c")

    def load() -> Awaitable[Product]:
        return fetch()

    await kv.get_or_set("p", load)
    assert isinstance(await kv.get_or_set("p", load), Product)


async def test_none_is_cached(kv: AsyncClient) -> None:
    factory = Counter(None)
    assert await kv.get_or_set("k", factory) is None
    assert await kv.get_or_set("k", factory) is None
    assert factory.calls == 1
    assert await kv.get("k") == "null"


async def test_value_that_no_longer_fits_is_recomputed(kv: AsyncClient) -> None:
    await kv.set_json("p", {"id": "old shape"})

    async def load() -> Product:
        return Product(id=1, name="new")

    assert await kv.get_or_set("p", load) == Product(id=1, name="new")
    assert await kv.get_json("p", type=Product) == Product(id=1, name="new")


async def test_ttl_none_and_default(make_client: Callable[..., AsyncClient]) -> None:
    async with make_client(default_ttl=30) as kv:
        await kv.flushdb()
        await kv.get_or_set("a", lambda: 1)
        assert 29_000 < await kv.pttl("a") <= 30_000
        await kv.get_or_set("b", lambda: 1, ttl=None)
        assert await kv.pttl("b") == -1


async def test_unresolvable_annotation_says_to_pass_type(kv: AsyncClient) -> None:
    async def load() -> NotDefinedAnywhere:  # type: ignore[name-defined] # noqa: F821
        return 1

    with pytest.raises(TypeError, match="pass type="):
        await kv.get_or_set("k", load)
    assert await kv.get_or_set("k", load, type=int) == 1


async def test_equal_code_in_two_namespaces_keeps_its_own_types(kv: AsyncClient) -> None:
    # Code objects compare by value: the return type must be looked up per function.
    source = textwrap.dedent(
        """
        from pydantic import BaseModel

        class Item(BaseModel):
            id: int

        async def load() -> Item:
            return Item(id=1)
        """
    )
    first: dict[str, Any] = {}
    second: dict[str, Any] = {}
    exec(compile(source, "same.py", "exec"), first)
    exec(compile(source, "same.py", "exec"), second)
    assert first["load"].__code__ == second["load"].__code__
    await kv.get_or_set("a", first["load"])
    assert type(await kv.get_or_set("a", first["load"])) is first["Item"]
    assert type(await kv.get_or_set("a", second["load"])) is second["Item"]


async def test_factory_error_propagates_and_is_not_cached(kv: AsyncClient) -> None:
    async def fail() -> int:
        raise LookupError("no such product")

    with pytest.raises(LookupError, match="no such product"):
        await kv.get_or_set("k", fail)
    assert await kv.exists("k") == 0
    assert await kv.get_or_set("k", lambda: 5) == 5


# -- single-flight -----------------------------------------------------------------------------


async def test_concurrent_misses_call_the_factory_once(kv: AsyncClient) -> None:
    factory = Counter({"n": 42})
    results = await asyncio.gather(*(kv.get_or_set("k", factory) for _ in range(200)))
    assert factory.calls == 1
    assert results == [{"n": 42}] * 200
    assert len(kv._flights) == 0


async def test_concurrent_misses_with_a_sync_factory_call_it_once(kv: AsyncClient) -> None:
    calls = []

    def load() -> str:
        calls.append(1)
        return "v"

    results = await asyncio.gather(*(kv.get_or_set("k", load) for _ in range(200)))
    assert len(calls) == 1
    assert set(results) == {"v"}


async def test_different_keys_do_not_share(kv: AsyncClient) -> None:
    a, b = Counter("a"), Counter("b")
    results = await asyncio.gather(
        *(kv.get_or_set("a", a) for _ in range(10)), *(kv.get_or_set("b", b) for _ in range(10))
    )
    assert (a.calls, b.calls) == (1, 1)
    assert results == ["a"] * 10 + ["b"] * 10


async def test_error_reaches_every_waiter_and_is_not_cached(kv: AsyncClient) -> None:
    calls = 0
    gate = asyncio.Event()

    async def fail() -> int:
        nonlocal calls
        calls += 1
        await gate.wait()
        raise LookupError("backend down")

    callers = [asyncio.create_task(kv.get_or_set("k", fail)) for _ in range(20)]
    await waiting(kv, "k", 20)  # every caller has missed and joined the one computation
    gate.set()
    results = await asyncio.gather(*callers, return_exceptions=True)
    assert calls == 1
    assert all(isinstance(r, LookupError) for r in results)
    assert len(kv._flights) == 0
    with pytest.raises(LookupError):
        await kv.get_or_set("k", fail)
    assert calls == 2


async def test_cancelling_the_first_caller_does_not_cancel_the_others(kv: AsyncClient) -> None:
    gate = asyncio.Event()
    factory = Counter("v", gate=gate)
    first = asyncio.create_task(kv.get_or_set("k", factory))
    await factory.started.wait()
    others = [asyncio.create_task(kv.get_or_set("k", factory)) for _ in range(5)]
    await waiting(kv, "k", 6)  # on the redis driver, their misses take a round trip
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    gate.set()
    assert await asyncio.gather(*others) == ["v"] * 5
    assert factory.calls == 1
    assert not factory.cancelled
    assert await kv.get("k") == '"v"'


async def test_a_waiter_timing_out_leaves_the_others_their_value(kv: AsyncClient) -> None:
    factory = Counter("v", gate=asyncio.Event())
    callers = [asyncio.create_task(kv.get_or_set("k", factory)) for _ in range(3)]
    await waiting(kv, "k", 3)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(kv.get_or_set("k", factory), timeout=0.01)
    assert factory.gate is not None
    factory.gate.set()
    assert await asyncio.gather(*callers) == ["v"] * 3
    assert factory.calls == 1


async def test_when_every_caller_is_cancelled_the_computation_is_too(kv: AsyncClient) -> None:
    factory = Counter("v", gate=asyncio.Event())
    callers = [asyncio.create_task(kv.get_or_set("k", factory)) for _ in range(3)]
    await waiting(kv, "k", 3)
    await factory.started.wait()  # past the read of the store: the factory itself is running
    for task in callers:
        task.cancel()
    await asyncio.gather(*callers, return_exceptions=True)
    await asyncio.sleep(0.01)
    assert factory.cancelled
    assert len(kv._flights) == 0
    assert await kv.exists("k") == 0
    # Nothing is left behind: the next caller computes afresh.
    assert await kv.get_or_set("k", Counter("w")) == "w"


async def test_computation_cancelled_from_outside_is_restarted_for_its_waiters(
    kv: AsyncClient,
) -> None:
    gate = asyncio.Event()
    factory = Counter("v", gate=gate)
    callers = [asyncio.create_task(kv.get_or_set("k", factory)) for _ in range(3)]
    await waiting(kv, "k", 3)
    await factory.started.wait()
    (task,) = kv._flights._tasks
    task.cancel()  # as a shutting-down event loop would
    await asyncio.sleep(0.01)
    gate.set()
    assert await asyncio.gather(*callers) == ["v"] * 3
    assert factory.calls == 2


async def test_no_task_is_left_running(kv: AsyncClient) -> None:
    await asyncio.gather(*(kv.get_or_set("k", Counter()) for _ in range(10)))
    gc.collect()
    current = asyncio.current_task()
    leftovers = [
        t for t in asyncio.all_tasks() if t is not current and "_fly" in repr(t.get_coro())
    ]
    assert leftovers == []


# -- delete_matching ---------------------------------------------------------------------------


async def test_delete_matching_counts_and_spares_the_rest(kv: AsyncClient) -> None:
    for i in range(25):
        await kv.set(f"product:{i}", i)
    await kv.set("products:list", "x")
    await kv.set("user:1", "x")
    assert await kv.delete_matching("product:*", batch=7) == 25
    assert sorted(await kv.keys()) == ["products:list", "user:1"]
    assert await kv.delete_matching("product:*") == 0


async def test_delete_matching_other_types_and_glob_classes(kv: AsyncClient) -> None:
    await kv.hset("user:1:profile", "name", "a")
    await kv.rpush("user:2:queue", "a")
    await kv.sadd("user:3:tags", "a")
    await kv.set("user:x:name", "a")
    assert await kv.delete_matching("user:[0-9]:*") == 3
    assert await kv.keys() == ["user:x:name"]


async def test_delete_matching_under_a_key_prefix(
    make_client: Callable[..., AsyncClient], driver: str
) -> None:
    async with make_client(key_prefix="app[1]:") as app:
        await app.flushdb()
        await app.set("cache:a", 1)
        await app.set("cache:b", 1)
        await app.set("keep", 1)
        if driver == "redis":
            async with make_client() as raw:
                await raw.set("cache:other-app", 1)
                assert await app.delete_matching("cache:*") == 2
                assert await raw.exists("cache:other-app") == 1
                await raw.delete("cache:other-app")
        else:
            assert await app.delete_matching("cache:*") == 2
        assert await app.keys() == ["keep"]
