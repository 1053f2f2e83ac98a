"""Typed values: set_json / get_json round trips through pydantic, never pickle."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import pydantic
import pytest
from pydantic import BaseModel, Field

from aiokv import AsyncClient, WrongTypeError


class Product(BaseModel):
    id: int
    name: str
    tags: list[str] = []
    created: datetime | None = None


class Aliased(BaseModel):
    product_id: int = Field(alias="productId")


@dataclasses.dataclass
class Point:
    x: float
    y: float


async def test_model_round_trip(kv: AsyncClient) -> None:
    product = Product(
        id=1, name="lamp", tags=["home"], created=datetime(2024, 5, 1, 12, tzinfo=timezone.utc)
    )
    await kv.set_json("p", product)
    back = await kv.get_json("p", type=Product)
    assert back == product
    assert isinstance(back, Product)


async def test_stored_as_json_text(kv: AsyncClient) -> None:
    await kv.set_json("p", Product(id=1, name="lamp"))
    assert await kv.get("p") == '{"id":1,"name":"lamp","tags":[],"created":null}'


async def test_without_type_returns_plain_json_data(kv: AsyncClient) -> None:
    await kv.set_json("p", Product(id=1, name="lamp"))
    assert await kv.get_json("p") == {"id": 1, "name": "lamp", "tags": [], "created": None}


async def test_list_of_models_and_dataclasses(kv: AsyncClient) -> None:
    await kv.set_json("ps", [Product(id=1, name="a"), Product(id=2, name="b")])
    products = await kv.get_json("ps", type=list[Product])
    assert products is not None
    assert [p.name for p in products] == ["a", "b"]
    assert all(isinstance(p, Product) for p in products)

    await kv.set_json("pts", {"a": Point(1, 2.5)})
    assert await kv.get_json("pts", type=dict[str, Point]) == {"a": Point(1.0, 2.5)}


async def test_aliases_round_trip(kv: AsyncClient) -> None:
    await kv.set_json("a", Aliased(productId=7))
    assert await kv.get_json("a") == {"productId": 7}
    assert await kv.get_json("a", type=Aliased) == Aliased(productId=7)


@pytest.mark.parametrize(
    "value",
    [None, True, 0, -1.5, "text é", [1, "two", None], {"nested": {"list": [1, 2]}}],
)
async def test_json_natives_round_trip(kv: AsyncClient, value: Any) -> None:
    await kv.set_json("v", value)
    assert await kv.get_json("v") == value


async def test_other_pydantic_types(kv: AsyncClient) -> None:
    uid = UUID("12345678-1234-5678-1234-567812345678")
    await kv.set_json("u", uid)
    assert await kv.get_json("u", type=UUID) == uid
    await kv.set_json("d", timedelta(minutes=90))
    assert await kv.get_json("d", type=timedelta) == timedelta(minutes=90)


async def test_miss_is_none(kv: AsyncClient) -> None:
    assert await kv.get_json("missing") is None
    assert await kv.get_json("missing", type=Product) is None


async def test_ttl(kv: AsyncClient) -> None:
    await kv.set_json("p", {"a": 1}, ttl=100)
    assert 99_000 < await kv.pttl("p") <= 100_000
    await kv.set_json("p", {"a": 1}, ttl=None)
    assert await kv.pttl("p") == -1


async def test_client_default_ttl_applies(make_client: Callable[..., AsyncClient]) -> None:
    async with make_client(default_ttl=50) as kv:
        await kv.flushdb()
        await kv.set_json("p", [1])
        assert 49_000 < await kv.pttl("p") <= 50_000


async def test_key_prefix_applies(make_client: Callable[..., AsyncClient], driver: str) -> None:
    if driver == "memory":
        pytest.skip("two memory clients never share a store; the prefix is checked on redis")
    async with make_client(key_prefix="app:") as kv, make_client() as raw:
        await raw.flushdb()
        await kv.set_json("p", {"a": 1})
        assert await raw.get("app:p") == '{"a":1}'
        assert await kv.get_json("p") == {"a": 1}


async def test_value_that_does_not_fit_the_type_raises(kv: AsyncClient) -> None:
    await kv.set_json("p", {"id": "not a number", "name": "x"})
    with pytest.raises(pydantic.ValidationError):
        await kv.get_json("p", type=Product)
    with pytest.raises(ValueError, match="validation error"):
        await kv.get_json("p", type=Product)


async def test_text_that_is_not_json_raises(kv: AsyncClient) -> None:
    await kv.set("p", "not json")
    with pytest.raises(pydantic.ValidationError):
        await kv.get_json("p")


async def test_wrong_kind_of_key_raises(kv: AsyncClient) -> None:
    await kv.rpush("l", "a")
    with pytest.raises(WrongTypeError):
        await kv.get_json("l")


async def test_unserialisable_value_raises_before_writing(kv: AsyncClient) -> None:
    with pytest.raises(ValueError, match="Unable to serialize"):
        await kv.set_json("o", object())
    assert await kv.exists("o") == 0


async def test_a_pickle_is_never_loaded(kv: AsyncClient) -> None:
    import pickle

    await kv.set("p", pickle.dumps({"a": 1}))
    with pytest.raises(pydantic.ValidationError):
        await kv.get_json("p")
