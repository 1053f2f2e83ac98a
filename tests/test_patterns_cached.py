"""@cached: keys from arguments, typed results, None cached, single-flight, late-bound clients."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect

import anyio
import pytest
from pydantic import BaseModel

from aiokv import AsyncClient, cached


class Product(BaseModel):
    id: int
    name: str


@dataclasses.dataclass
class User:
    id: int
    name: str


async def test_key_template_and_typed_result(kv: AsyncClient) -> None:
    calls: list[int] = []

    @cached(kv, ttl=60, key="product:{product_id}")
    async def get_product(product_id: int) -> Product:
        calls.append(product_id)
        return Product(id=product_id, name=f"p{product_id}")

    first = await get_product(7)
    second = await get_product(product_id=7)
    assert first == second == Product(id=7, name="p7")
    assert isinstance(second, Product)
    assert calls == [7]
    assert await kv.get_json("product:7") == {"id": 7, "name": "p7"}
    assert 59_000 < await kv.pttl("product:7") <= 60_000

    await get_product(8)
    assert calls == [7, 8]


async def test_defaults_and_attribute_access_in_the_key(kv: AsyncClient) -> None:
    @cached(kv, ttl=60, key="orders:{user.id}:{page}")
    async def orders(user: User, page: int = 1) -> list[int]:
        return [user.id, page]

    assert await orders(User(3, "ann")) == [3, 1]
    assert await orders(User(3, "ann"), page=2) == [3, 2]
    assert sorted(await kv.keys("orders:*")) == ["orders:3:1", "orders:3:2"]


async def test_list_of_dataclasses(kv: AsyncClient) -> None:
    @cached(kv, ttl=60, key="users")
    async def users() -> list[User]:
        return [User(1, "a")]

    await users()
    again = await users()
    assert again == [User(1, "a")]
    assert isinstance(again[0], User)


async def test_none_is_cached(kv: AsyncClient) -> None:
    calls = 0

    @cached(kv, ttl=60, key="maybe:{id}")
    async def find(id: int) -> Product | None:
        nonlocal calls
        calls += 1
        return None

    assert await find(1) is None
    assert await find(1) is None
    assert calls == 1
    assert await kv.get("maybe:1") == "null"


async def test_exceptions_are_not_cached(kv: AsyncClient) -> None:
    calls = 0

    @cached(kv, ttl=60, key="flaky")
    async def flaky() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("backend down")
        return calls

    with pytest.raises(ConnectionError):
        await flaky()
    assert await flaky() == 2
    assert await flaky() == 2


async def test_concurrent_calls_run_the_function_once(kv: AsyncClient) -> None:
    calls = 0

    @cached(kv, ttl=60, key="product:{product_id}")
    async def get_product(product_id: int) -> Product:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.02)
        return Product(id=product_id, name="p")

    results = await asyncio.gather(*(get_product(1) for _ in range(100)))
    assert calls == 1
    assert all(r == Product(id=1, name="p") for r in results)


async def test_client_from_a_function(kv_settings: dict[str, object]) -> None:
    holder: dict[str, AsyncClient] = {}

    @cached(lambda: holder["kv"], ttl=60, key="answer")
    async def answer() -> int:
        return 42

    # Decorated before the client exists, as in an app that creates it at startup.
    async with AsyncClient(**kv_settings) as client:  # type: ignore[arg-type]
        await client.flushdb()
        holder["kv"] = client
        assert await answer() == 42
        assert await client.get("answer") == "42"


async def test_methods(kv: AsyncClient) -> None:
    class Service:
        def __init__(self) -> None:
            self.calls = 0

        @cached(kv, ttl=60, key="svc:{product_id}")
        async def get(self, product_id: int) -> Product:
            self.calls += 1
            return Product(id=product_id, name="m")

    service = Service()
    assert await service.get(5) == await service.get(5) == Product(id=5, name="m")
    assert service.calls == 1


async def test_type_overrides_the_annotation(kv: AsyncClient) -> None:
    @cached(kv, ttl=60, key="raw", type=dict)
    async def raw() -> Product:
        return Product(id=1, name="r")

    await raw()
    assert await raw() == {"id": 1, "name": "r"}  # type: ignore[comparison-overlap]


async def test_signature_and_metadata_are_kept(kv: AsyncClient) -> None:
    async def get_product(product_id: int, *, fresh: bool = False) -> Product:
        """Docs."""
        return Product(id=product_id, name="x")

    wrapped = cached(kv, ttl=60, key="p:{product_id}")(get_product)
    assert inspect.signature(wrapped) == inspect.signature(get_product)
    assert wrapped.__name__ == "get_product"
    assert wrapped.__doc__ == "Docs."
    assert inspect.iscoroutinefunction(wrapped)


def test_sync_functions_are_refused() -> None:
    kv = AsyncClient()

    def plain(x: int) -> int:
        return x

    with pytest.raises(TypeError, match="async functions"):
        cached(kv, ttl=1, key="k:{x}")(plain)  # type: ignore[arg-type]


@pytest.mark.parametrize("template", ["k:{missing}", "k:{}", "k:{0}", "k:{x.a}{nope[1]}"])
def test_key_template_must_name_parameters(template: str) -> None:
    kv = AsyncClient()

    async def f(x: int) -> int:
        return x

    with pytest.raises(TypeError, match="parameter names"):
        cached(kv, ttl=1, key=template)(f)


def test_single_flight_under_trio() -> None:
    async def main() -> tuple[int, list[int]]:
        calls = 0
        results: list[int] = []
        async with AsyncClient() as kv:

            @cached(kv, ttl=60, key="n")
            async def compute() -> int:
                nonlocal calls
                calls += 1
                await anyio.sleep(0.02)
                return 5

            async def call() -> None:
                results.append(await compute())

            async with anyio.create_task_group() as tg:
                for _ in range(20):
                    tg.start_soon(call)
        return calls, results

    assert anyio.run(main, backend="trio") == (1, [5] * 20)


def test_cancelled_caller_under_trio_leaves_the_others_their_value() -> None:
    async def main() -> tuple[int, list[str]]:
        gate = anyio.Event()
        calls = 0
        results: list[str] = []

        async def load() -> str:
            nonlocal calls
            calls += 1
            await gate.wait()
            return "v"

        async with AsyncClient() as kv:

            async def call(scope: anyio.CancelScope | None = None) -> None:
                with scope or anyio.CancelScope():
                    results.append(await kv.get_or_set("k", load))

            first = anyio.CancelScope()
            async with anyio.create_task_group() as tg:
                tg.start_soon(call, first)
                await anyio.sleep(0.01)
                tg.start_soon(call)
                tg.start_soon(call)
                await anyio.sleep(0.01)
                first.cancel()
                await anyio.sleep(0.01)
                gate.set()
        return calls, results

    assert anyio.run(main, backend="trio") == (1, ["v", "v"])
