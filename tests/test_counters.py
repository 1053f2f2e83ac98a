"""Counters: incr/decr/incrby/decrby, strict 64-bit integer parsing and overflow."""

from __future__ import annotations

import pytest

import aiokv
from aiokv import AsyncClient

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


async def test_incr_missing_key_counts_from_zero(kv: AsyncClient) -> None:
    result = await kv.incr("n")
    assert result == 1
    assert type(result) is int
    assert await kv.get("n") == "1"


async def test_decr_missing_key_counts_from_zero(kv: AsyncClient) -> None:
    assert await kv.decr("n") == -1
    assert await kv.get("n") == "-1"


async def test_incrby_and_decrby_missing_key(kv: AsyncClient) -> None:
    assert await kv.incrby("a", 10) == 10
    assert await kv.decrby("b", 10) == -10


async def test_counter_sequence(kv: AsyncClient) -> None:
    assert await kv.incr("n") == 1
    assert await kv.incr("n") == 2
    assert await kv.incrby("n", 40) == 42
    assert await kv.decr("n") == 41
    assert await kv.decrby("n", 50) == -9
    assert await kv.incrby("n", -1) == -10
    assert await kv.decrby("n", -20) == 10
    assert await kv.incrby("n", 0) == 10
    assert await kv.get("n") == "10"


async def test_incr_on_value_set_as_int(kv: AsyncClient) -> None:
    await kv.set("n", 99)
    assert await kv.incr("n") == 100


@pytest.mark.parametrize(
    ("stored", "after_incr"),
    [
        ("0", 1),
        ("-1", 0),
        ("-5", -4),
        ("123", 124),
        (str(INT64_MAX - 1), INT64_MAX),
        (str(INT64_MIN), INT64_MIN + 1),
    ],
)
async def test_valid_integer_texts(kv: AsyncClient, stored: str, after_incr: int) -> None:
    await kv.set("n", stored)
    assert await kv.incr("n") == after_incr
    assert await kv.get("n") == str(after_incr)


async def test_value_stored_as_bytes_digits_is_an_integer(kv: AsyncClient) -> None:
    await kv.set("n", b"17")
    assert await kv.incr("n") == 18


@pytest.mark.parametrize(
    "stored",
    [
        " 1",
        "1 ",
        "+1",
        "01",
        "00",
        "-0",
        "",
        "1.5",
        "1.0",
        "1e3",
        "0x1",
        "abc",
        "-",
        "\uff11",  # FULLWIDTH DIGIT ONE: int() accepts it, Redis does not
        "1_000",
        str(INT64_MAX + 1),
        str(INT64_MIN - 1),
    ],
)
async def test_strict_integer_parsing_rejects(kv: AsyncClient, stored: str) -> None:
    await kv.set("n", stored)
    with pytest.raises(aiokv.NotAnIntegerError) as excinfo:
        await kv.incr("n")
    assert isinstance(excinfo.value, ValueError)
    assert not isinstance(excinfo.value, aiokv.IntegerOverflowError)
    assert "not an integer" in str(excinfo.value)
    # A failed increment leaves the value unchanged.
    assert await kv.get("n") == stored


@pytest.mark.parametrize("stored", ["1.5", " 1", "-0", "9223372036854775808"])
async def test_every_counter_command_parses_strictly(kv: AsyncClient, stored: str) -> None:
    await kv.set("n", stored)
    with pytest.raises(aiokv.NotAnIntegerError):
        await kv.decr("n")
    with pytest.raises(aiokv.NotAnIntegerError):
        await kv.incrby("n", 5)
    with pytest.raises(aiokv.NotAnIntegerError):
        await kv.decrby("n", 5)
    assert await kv.get("n") == stored


async def test_float_value_is_not_an_integer(kv: AsyncClient) -> None:
    await kv.set("n", 2.0)
    with pytest.raises(aiokv.NotAnIntegerError):
        await kv.incr("n")
    assert await kv.get("n") == "2.0"


async def test_non_utf8_value_is_not_an_integer(kv: AsyncClient) -> None:
    await kv.set("n", b"\xff")
    with pytest.raises(aiokv.NotAnIntegerError):
        await kv.incr("n")
    assert await kv.get_bytes("n") == b"\xff"


@pytest.mark.parametrize("amount", [2**63, -(2**63) - 1, 2**64])
async def test_incrby_amount_outside_int64_is_not_an_integer(kv: AsyncClient, amount: int) -> None:
    await kv.set("n", 1)
    with pytest.raises(aiokv.NotAnIntegerError) as excinfo:
        await kv.incrby("n", amount)
    assert not isinstance(excinfo.value, aiokv.IntegerOverflowError)
    assert await kv.get("n") == "1"


async def test_decrby_amount_above_int64_is_not_an_integer(kv: AsyncClient) -> None:
    # 2**63 is not a 64-bit integer, so the server refuses it before any arithmetic
    # (computing 0 - 2**63 would otherwise "fit" as INT64_MIN).
    with pytest.raises(aiokv.NotAnIntegerError) as excinfo:
        await kv.decrby("n", 2**63)
    assert not isinstance(excinfo.value, aiokv.IntegerOverflowError)
    assert await kv.exists("n") == 0


# --- overflow --------------------------------------------------------------------------------


async def test_incr_overflow(kv: AsyncClient) -> None:
    await kv.set("n", INT64_MAX)
    with pytest.raises(aiokv.IntegerOverflowError) as excinfo:
        await kv.incr("n")
    assert isinstance(excinfo.value, aiokv.NotAnIntegerError)
    assert isinstance(excinfo.value, ValueError)
    assert "increment or decrement would overflow" in str(excinfo.value)
    assert await kv.get("n") == str(INT64_MAX)


async def test_decr_overflow(kv: AsyncClient) -> None:
    await kv.set("n", INT64_MIN)
    with pytest.raises(aiokv.IntegerOverflowError, match="overflow"):
        await kv.decr("n")
    assert await kv.get("n") == str(INT64_MIN)


async def test_incrby_overflow_leaves_value_unchanged(kv: AsyncClient) -> None:
    await kv.set("n", 1)
    with pytest.raises(aiokv.IntegerOverflowError, match="overflow"):
        await kv.incrby("n", INT64_MAX)
    assert await kv.get("n") == "1"


async def test_incrby_negative_overflow(kv: AsyncClient) -> None:
    await kv.set("n", -2)
    with pytest.raises(aiokv.IntegerOverflowError):
        await kv.incrby("n", INT64_MIN)
    assert await kv.get("n") == "-2"


async def test_decrby_overflow(kv: AsyncClient) -> None:
    await kv.set("n", -2)
    with pytest.raises(aiokv.IntegerOverflowError):
        await kv.decrby("n", INT64_MAX)
    assert await kv.get("n") == "-2"


async def test_counters_reach_the_int64_limits_exactly(kv: AsyncClient) -> None:
    await kv.set("n", INT64_MAX - 10)
    assert await kv.incrby("n", 10) == INT64_MAX
    await kv.set("m", 0)
    assert await kv.incrby("m", INT64_MIN) == INT64_MIN
    assert await kv.get("m") == str(INT64_MIN)
    await kv.set("p", -1)
    assert await kv.decrby("p", INT64_MAX) == INT64_MIN


async def test_decrby_int64_min_overflows_even_from_zero(kv: AsyncClient) -> None:
    # Negating -2**63 does not fit in 64 bits, so Redis refuses before looking at the value.
    await kv.set("n", 0)
    with pytest.raises(aiokv.IntegerOverflowError) as excinfo:
        await kv.decrby("n", INT64_MIN)
    assert "decrement would overflow" in str(excinfo.value)
    assert await kv.get("n") == "0"


async def test_decrby_int64_min_on_missing_key_creates_nothing(kv: AsyncClient) -> None:
    with pytest.raises(aiokv.IntegerOverflowError):
        await kv.decrby("n", INT64_MIN)
    assert await kv.exists("n") == 0


async def test_decrby_int64_min_overflows_from_negative_value(kv: AsyncClient) -> None:
    # -1 - (-2**63) == INT64_MAX would fit, but the argument cannot be negated: still an error.
    await kv.set("n", -1)
    with pytest.raises(aiokv.IntegerOverflowError):
        await kv.decrby("n", INT64_MIN)
    assert await kv.get("n") == "-1"


# --- types -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["hash", "list", "set"])
async def test_counters_on_containers_are_wrongtype(kv: AsyncClient, kind: str) -> None:
    if kind == "hash":
        await kv.hset("k", "f", "1")
    elif kind == "list":
        await kv.rpush("k", "1")
    else:
        await kv.sadd("k", "1")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.incr("k")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.decr("k")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.incrby("k", 2)
    with pytest.raises(aiokv.WrongTypeError):
        await kv.decrby("k", 2)
    assert await kv.exists("k") == 1
