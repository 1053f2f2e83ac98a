"""String values: set/get/get_bytes/setex, value encoding and the NX/XX flags."""

from __future__ import annotations

import pytest

import aiokv
from aiokv import AsyncClient


async def test_get_missing_key_is_none(kv: AsyncClient) -> None:
    assert await kv.get("missing") is None
    assert await kv.get_bytes("missing") is None


async def test_set_returns_true_and_get_returns_text(kv: AsyncClient) -> None:
    assert await kv.set("k", "hello") is True
    value = await kv.get("k")
    assert value == "hello"
    assert isinstance(value, str)


async def test_set_overwrites_previous_value(kv: AsyncClient) -> None:
    await kv.set("k", "one")
    assert await kv.set("k", "two") is True
    assert await kv.get("k") == "two"


async def test_empty_string_is_a_value_not_a_miss(kv: AsyncClient) -> None:
    await kv.set("k", "")
    assert await kv.get("k") == ""
    assert await kv.get_bytes("k") == b""
    assert await kv.exists("k") == 1


async def test_unicode_text_round_trips_and_is_stored_as_utf8(kv: AsyncClient) -> None:
    text = "héllo ☃ 日本"
    await kv.set("k", text)
    assert await kv.get("k") == text
    assert await kv.get_bytes("k") == text.encode("utf-8")


async def test_unicode_key(kv: AsyncClient) -> None:
    await kv.set("clé:☃", "v")
    assert await kv.get("clé:☃") == "v"
    assert await kv.keys() == ["clé:☃"]


async def test_bytes_round_trip_through_get_bytes(kv: AsyncClient) -> None:
    raw = bytes(range(256))
    await kv.set("k", raw)
    value = await kv.get_bytes("k")
    assert value == raw
    assert isinstance(value, bytes)


async def test_utf8_bytes_are_readable_as_text(kv: AsyncClient) -> None:
    await kv.set("k", "é€".encode())
    assert await kv.get("k") == "é€"


async def test_get_on_non_utf8_bytes_raises_value_decode_error(kv: AsyncClient) -> None:
    await kv.set("k", b"\xff\xfe\x00abc")
    with pytest.raises(aiokv.ValueDecodeError) as excinfo:
        await kv.get("k")
    assert isinstance(excinfo.value, ValueError)
    assert excinfo.value.key == "k"
    # The value is still there and readable as bytes.
    assert await kv.get_bytes("k") == b"\xff\xfe\x00abc"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (42, "42"),
        (0, "0"),
        (-7, "-7"),
        (2**70, "1180591620717411303424"),
        (1.5, "1.5"),
        (-2.25, "-2.25"),
    ],
)
async def test_numbers_are_stored_as_decimal_text(
    kv: AsyncClient, value: int | float, text: str
) -> None:
    await kv.set("k", value)
    assert await kv.get("k") == text
    assert await kv.get_bytes("k") == text.encode()


@pytest.mark.parametrize("value", [None, {"a": 1}, ["a"], ("a",), {"a"}, object()])
async def test_unsupported_value_raises_type_error_naming_set_json(
    kv: AsyncClient, value: object
) -> None:
    with pytest.raises(TypeError, match="set_json"):
        await kv.set("k", value)  # type: ignore[arg-type]
    assert await kv.exists("k") == 0


async def test_bool_value_is_refused(kv: AsyncClient) -> None:
    # bool is an int subclass, but True would silently become "True" or "1": refused.
    with pytest.raises(TypeError, match="set_json"):
        await kv.set("k", True)
    assert await kv.exists("k") == 0


async def test_unsupported_value_does_not_overwrite(kv: AsyncClient) -> None:
    await kv.set("k", "old")
    with pytest.raises(TypeError, match="set_json"):
        await kv.set("k", {"a": 1})  # type: ignore[arg-type]
    assert await kv.get("k") == "old"


# --- NX / XX ---------------------------------------------------------------------------------


async def test_set_nx_writes_only_when_missing(kv: AsyncClient) -> None:
    assert await kv.set("k", "first", nx=True) is True
    assert await kv.get("k") == "first"
    assert await kv.set("k", "second", nx=True) is False
    assert await kv.get("k") == "first"


async def test_set_xx_writes_only_when_present(kv: AsyncClient) -> None:
    assert await kv.set("k", "v", xx=True) is False
    assert await kv.exists("k") == 0
    await kv.set("k", "first")
    assert await kv.set("k", "second", xx=True) is True
    assert await kv.get("k") == "second"


async def test_set_nx_and_xx_together_is_invalid(kv: AsyncClient) -> None:
    # The server answers "ERR syntax error" to SET k v NX XX.
    with pytest.raises(aiokv.InvalidArgumentError):
        await kv.set("k", "v", nx=True, xx=True)
    assert await kv.exists("k") == 0


async def test_set_nx_on_key_of_another_type_is_refused_not_wrongtype(kv: AsyncClient) -> None:
    await kv.hset("k", "f", "v")
    assert await kv.set("k", "s", nx=True) is False
    assert await kv.hgetall("k") == {"f": "v"}


async def test_set_xx_overwrites_key_of_another_type(kv: AsyncClient) -> None:
    await kv.rpush("k", "a")
    assert await kv.set("k", "s", xx=True) is True
    assert await kv.get("k") == "s"


async def test_set_nx_with_ttl_sets_expiry(kv: AsyncClient) -> None:
    assert await kv.set("k", "v", 100, nx=True) is True
    assert await kv.ttl("k") == 100


async def test_refused_set_nx_keeps_existing_ttl(kv: AsyncClient) -> None:
    await kv.set("k", "v", ttl=100)
    assert await kv.set("k", "w", ttl=5, nx=True) is False
    assert await kv.ttl("k") == 100
    assert await kv.get("k") == "v"


async def test_set_xx_without_ttl_drops_ttl(kv: AsyncClient) -> None:
    await kv.set("k", "v", ttl=100)
    assert await kv.set("k", "w", xx=True) is True
    assert await kv.ttl("k") == -1


# --- SET with a ttl, SETEX ---------------------------------------------------------------------


@pytest.mark.parametrize("ttl", [0, -1, -0.5])
async def test_set_with_non_positive_ttl_is_invalid_and_sets_nothing(
    kv: AsyncClient, ttl: float
) -> None:
    with pytest.raises(aiokv.InvalidArgumentError):
        await kv.set("k", "v", ttl=ttl)
    assert await kv.exists("k") == 0


async def test_set_with_invalid_ttl_keeps_old_value(kv: AsyncClient) -> None:
    await kv.set("k", "old")
    with pytest.raises(aiokv.InvalidArgumentError):
        await kv.set("k", "new", ttl=0)
    assert await kv.get("k") == "old"
    assert await kv.ttl("k") == -1


async def test_set_with_ttl_none_has_no_expiry(kv: AsyncClient) -> None:
    await kv.set("k", "v", ttl=None)
    assert await kv.ttl("k") == -1


async def test_setex_sets_value_and_ttl(kv: AsyncClient) -> None:
    assert await kv.setex("k", "v", 100) is None  # type: ignore[func-returns-value]
    assert await kv.get("k") == "v"
    assert await kv.ttl("k") == 100


async def test_setex_replaces_a_key_of_another_type(kv: AsyncClient) -> None:
    await kv.hset("k", "f", "v")
    await kv.setex("k", 5, 100)
    assert await kv.get("k") == "5"
    assert await kv.ttl("k") == 100


@pytest.mark.parametrize("ttl", [0, -1, -0.001, 0.0])
async def test_setex_non_positive_ttl_raises_and_sets_nothing(kv: AsyncClient, ttl: float) -> None:
    with pytest.raises(aiokv.InvalidArgumentError) as excinfo:
        await kv.setex("k", "v", ttl)
    assert isinstance(excinfo.value, ValueError)
    assert await kv.exists("k") == 0


async def test_setex_invalid_ttl_leaves_existing_value_untouched(kv: AsyncClient) -> None:
    await kv.set("k", "old", ttl=100)
    with pytest.raises(aiokv.InvalidArgumentError):
        await kv.setex("k", "new", 0)
    assert await kv.get("k") == "old"
    assert await kv.ttl("k") == 100


async def test_get_on_non_string_types_is_wrongtype(kv: AsyncClient) -> None:
    await kv.hset("h", "f", "v")
    await kv.rpush("l", "a")
    await kv.sadd("s", "m")
    for key in ("h", "l", "s"):
        with pytest.raises(aiokv.WrongTypeError) as excinfo:
            await kv.get(key)
        assert isinstance(excinfo.value, TypeError)
        with pytest.raises(aiokv.WrongTypeError):
            await kv.get_bytes(key)


@pytest.mark.parametrize("kind", ["hash", "list", "set"])
async def test_plain_set_overwrites_any_type(kv: AsyncClient, kind: str) -> None:
    if kind == "hash":
        await kv.hset("k", mapping={"a": "1", "b": "2"})
    elif kind == "list":
        await kv.rpush("k", "a", "b")
    else:
        await kv.sadd("k", "a", "b")
    assert await kv.set("k", "plain") is True
    assert await kv.get("k") == "plain"
    # It really is a string now: container commands see the wrong type.
    with pytest.raises(aiokv.WrongTypeError):
        await kv.hgetall("k")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.llen("k")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.scard("k")


async def test_surrogate_escaped_text_is_stored_as_its_bytes(kv: AsyncClient) -> None:
    # Text read back from a container carries non-UTF-8 bytes as surrogate escapes; written
    # again as a value it must mean those bytes, on both drivers.
    await kv.set("e", "\udcc3\udca9")
    assert await kv.get("e") == "é"
    await kv.set("b", "\udcff")
    with pytest.raises(aiokv.ValueDecodeError):
        await kv.get("b")
    assert await kv.get_bytes("b") == b"\xff"
