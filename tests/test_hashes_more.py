"""Hashes: hmget, hincrby, hincrbyfloat (long double text), hlen, hexists, hsetnx, hkeys, hvals,
hstrlen and hscan_iter, on both drivers; expected values are what redis-server 7.0 answers."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from servers import RedisServer

import aiokv
from aiokv import AsyncClient

INT64_MAX = 2**63 - 1


async def test_hmget_returns_values_in_order_with_none_for_misses(kv: AsyncClient) -> None:
    await kv.hset("h", mapping={"a": "1", "b": "2"})
    assert await kv.hmget("h", "b", "nope", "a", "b") == ["2", None, "1", "2"]
    assert await kv.hmget("missing", "a", "b") == [None, None]
    assert await kv.hmget("h", 1, b"a") == [None, "1"]  # type: ignore[arg-type]


async def test_hmget_needs_a_field(kv: AsyncClient) -> None:
    with pytest.raises(aiokv.InvalidArgumentError):
        kv.hmget("h")


async def test_hincrby_counts_from_zero_and_keeps_text(kv: AsyncClient) -> None:
    assert await kv.hincrby("h", "n", 5) == 5
    assert await kv.hincrby("h", "n", -7) == -2
    assert await kv.hget("h", "n") == "-2"
    await kv.hset("h", "m", 10)
    assert await kv.hincrby("h", "m", 0) == 10


@pytest.mark.parametrize("stored", ["x", " 1", "01", "1.5", "", "-0", "99999999999999999999"])
async def test_hincrby_on_a_non_integer_value(kv: AsyncClient, stored: str) -> None:
    await kv.hset("h", "f", stored)
    with pytest.raises(aiokv.NotAnIntegerError, match="ERR hash value is not an integer"):
        await kv.hincrby("h", "f", 1)
    assert await kv.hget("h", "f") == stored


async def test_hincrby_overflow_leaves_the_value(kv: AsyncClient) -> None:
    assert await kv.hincrby("h", "f", INT64_MAX - 1) == INT64_MAX - 1
    assert await kv.hincrby("h", "f", 1) == INT64_MAX
    with pytest.raises(aiokv.IntegerOverflowError):
        await kv.hincrby("h", "f", 1)
    with pytest.raises(aiokv.IntegerOverflowError):
        await kv.hincrby("h", "f", INT64_MAX)
    assert await kv.hget("h", "f") == str(INT64_MAX)


@pytest.mark.parametrize("amount", [1.5, "1", True, 2**63])
async def test_hincrby_amount_must_be_a_64_bit_int(kv: AsyncClient, amount: object) -> None:
    with pytest.raises(aiokv.NotAnIntegerError):
        kv.hincrby("h", "f", amount)  # type: ignore[arg-type]


async def test_hincrby_and_hincrbyfloat_keep_the_ttl(kv: AsyncClient) -> None:
    await kv.hset("h", "n", 1)
    await kv.expire("h", 100)
    await kv.hincrby("h", "n", 1)
    await kv.hincrbyfloat("h", "n", 0.5)
    assert 99 <= await kv.ttl("h") <= 100
    assert await kv.hget("h", "n") == "2.5"


# (stored text or None, amount, text the server stores): long double sums, 17 decimals at most.
FLOAT_CASES = [
    (None, 10.5, "10.5"),
    ("0.1", 0.2, "0.3"),  # 0.30000000000000004 in doubles
    ("1000000000000000000", 0.5, "1000000000000000000.5"),
    (None, 1e-05, "0.00001"),
    (None, 1e17, "100000000000000000"),
    (None, 1e-18, "0"),
    (None, -1e-18, "0"),
    ("2.5", -5, "-2.5"),
    ("-0.0", -0.0, "0"),
    (None, 3.814697265625e-06, "0.00000381469726562"),  # 2**-18: a tie, rounded to even
    (None, 1.1444091796875e-05, "0.00001144409179688"),  # 3 * 2**-18: a tie, rounded up
    (None, 2**70, "1180591620717411303424"),
    ("7", 3, "10"),
    ("0x1p3", 0.5, "8.5"),
    ("0X1A", 1, "27"),
    ("0x.8p1", 1, "2"),
    ("1.", 1, "2"),
    (".5", 1, "1.5"),
    ("+1.5E2", 1, "151"),
    ("0e-99999", 1, "1"),
    ("1e-4950", 0, "0"),  # subnormal in 80 bits: still a number
    ("0x1p-16445", 0, "0"),  # the smallest 80-bit subnormal
    (
        "1.7976931348623157e308",
        1.7976931348623157e308,
        "35953862697246313999184209354820886809677289388865835697062884153035325704624879270940"
        "37372167741711288575868388510413786174167269022721107157945560529552341469979553725767"
        "89671236326588091188869859074894581254961338834769297758245552436667197907705664206565"
        "009503223382416235440319971852753604933726679072768",
    ),
]


@pytest.mark.parametrize(("stored", "amount", "text"), FLOAT_CASES)
async def test_hincrbyfloat_stores_the_servers_text(
    kv: AsyncClient, stored: str | None, amount: float, text: str
) -> None:
    if stored is not None:
        await kv.hset("h", "f", stored)
    assert await kv.hincrbyfloat("h", "f", amount) == float(text)
    assert await kv.hget("h", "f") == text


@pytest.mark.parametrize(
    "stored",
    ["abc", " 1", "1.5 ", "1e", "nan", "1e-5000", "1e99999", "0x1p-16446", "é", "1" * 5120, ""],
)
async def test_hincrbyfloat_on_a_non_float_value(kv: AsyncClient, stored: str) -> None:
    await kv.hset("h", "f", stored)
    with pytest.raises(aiokv.CommandError, match="ERR hash value is not a float"):
        await kv.hincrbyfloat("h", "f", 1)
    assert await kv.hget("h", "f") == stored


@pytest.mark.parametrize("stored", ["inf", "-INF", "Infinity"])
async def test_hincrbyfloat_to_infinity_is_refused(kv: AsyncClient, stored: str) -> None:
    await kv.hset("h", "f", stored)
    with pytest.raises(aiokv.CommandError, match="ERR increment would produce NaN or Infinity"):
        await kv.hincrbyfloat("h", "f", 1)
    assert await kv.hget("h", "f") == stored


async def test_hincrbyfloat_overflowing_80_bits_is_refused(kv: AsyncClient) -> None:
    await kv.hset("h", "f", "1e4932")
    await kv.hincrbyfloat("h", "f", 0)  # 1e4932 is a long double
    with pytest.raises(aiokv.CommandError, match="would produce NaN or Infinity"):
        await kv.hincrbyfloat("h", "f", 10**4932)


@pytest.mark.parametrize(
    ("amount", "error"),
    [
        (float("nan"), aiokv.InvalidArgumentError),
        (float("inf"), aiokv.InvalidArgumentError),
        (float("-inf"), aiokv.InvalidArgumentError),
        (2**16384, aiokv.InvalidArgumentError),
        ("1", aiokv.ArgumentTypeError),
        (True, aiokv.ArgumentTypeError),
    ],
    ids=["nan", "inf", "-inf", "2**16384", "str", "bool"],
)
async def test_hincrbyfloat_bad_amounts_raise_at_call_time(
    kv: AsyncClient, amount: object, error: type[Exception]
) -> None:
    with pytest.raises(error):
        kv.hincrbyfloat("h", "f", amount)  # type: ignore[arg-type]


async def test_hincr_on_wrong_type(kv: AsyncClient) -> None:
    await kv.set("s", "1")
    for call in (
        kv.hincrby("s", "f", 1),
        kv.hincrbyfloat("s", "f", 1),
        kv.hmget("s", "f"),
        kv.hlen("s"),
        kv.hexists("s", "f"),
        kv.hsetnx("s", "f", "v"),
        kv.hkeys("s"),
        kv.hvals("s"),
        kv.hstrlen("s", "f"),
    ):
        with pytest.raises(aiokv.WrongTypeError):
            await call
    assert await kv.get("s") == "1"


async def test_hlen_hexists_hkeys_hvals(kv: AsyncClient) -> None:
    assert await kv.hlen("h") == 0
    assert await kv.hexists("h", "a") is False
    assert await kv.hkeys("h") == []
    assert await kv.hvals("h") == []
    await kv.hset("h", mapping={"a": "1", "b": "2", "c": "3"})
    assert await kv.hlen("h") == 3
    assert await kv.hexists("h", "a") is True
    assert await kv.hexists("h", "z") is False
    keys, values = await kv.hkeys("h"), await kv.hvals("h")
    assert sorted(keys) == ["a", "b", "c"]
    assert dict(zip(keys, values, strict=True)) == {"a": "1", "b": "2", "c": "3"}


async def test_hsetnx_sets_only_a_new_field(kv: AsyncClient) -> None:
    assert await kv.hsetnx("h", "f", "1") is True
    assert await kv.hsetnx("h", "f", "2") is False
    assert await kv.hsetnx("h", "g", 3) is True
    assert await kv.hgetall("h") == {"f": "1", "g": "3"}


async def test_hstrlen_counts_bytes(kv: AsyncClient) -> None:
    await kv.hset("h", mapping={"a": "abc", "u": "é☃", "e": "", "raw": b"\xff\xfe"})
    assert await kv.hstrlen("h", "a") == 3
    assert await kv.hstrlen("h", "u") == 5
    assert await kv.hstrlen("h", "e") == 0
    assert await kv.hstrlen("h", "raw") == 2
    assert await kv.hstrlen("h", "nope") == 0
    assert await kv.hstrlen("missing", "a") == 0


async def test_hscan_iter_yields_every_pair(kv: AsyncClient) -> None:
    fields = {f"f{i}": str(i) for i in range(300)}
    await kv.hset("h", mapping=fields)
    for count in (1, 7, 1000):
        pairs = [pair async for pair in kv.hscan_iter("h", count=count)]
        assert dict(pairs) == fields
        assert len(pairs) >= len(fields)


async def test_hscan_iter_small_hash_and_match(kv: AsyncClient) -> None:
    await kv.hset("h", mapping={"apple": "1", "avocado": "2", "banana": "3"})
    assert sorted([p async for p in kv.hscan_iter("h", "a*")]) == [("apple", "1"), ("avocado", "2")]
    assert [p async for p in kv.hscan_iter("h", "z*")] == []
    assert [p async for p in kv.hscan_iter("missing")] == []


async def test_hscan_iter_survives_changes_during_the_scan(kv: AsyncClient) -> None:
    kept = {f"keep{i}": "v" for i in range(200)}
    await kv.hset("h", mapping={**kept, **{f"drop{i}": "v" for i in range(200)}})
    seen: dict[str, str] = {}
    step = 0
    async for field, value in kv.hscan_iter("h", count=10):
        seen[field] = value
        step += 1
        await kv.hdel("h", f"drop{step}")
        await kv.hset("h", f"new{step}", "v")
    assert kept.items() <= seen.items()  # every field present throughout, at least once


async def test_hscan_iter_with_a_key_prefix(make_client: Callable[..., AsyncClient]) -> None:
    async with make_client(key_prefix="app:") as kv:
        await kv.flushdb()
        await kv.hset("h", mapping={"a": "1", "b": "2"})
        assert sorted([p async for p in kv.hscan_iter("h")]) == [("a", "1"), ("b", "2")]


async def test_hscan_iter_errors(kv: AsyncClient) -> None:
    with pytest.raises(aiokv.InvalidArgumentError):
        [p async for p in kv.hscan_iter("h", count=0)]
    await kv.set("s", "v")
    with pytest.raises(aiokv.WrongTypeError):
        [p async for p in kv.hscan_iter("s")]


async def test_expired_hash_is_a_miss(kv: AsyncClient) -> None:
    await kv.hset("h", "f", "1")
    await kv.expire("h", 0)
    assert await kv.hmget("h", "f") == [None]
    assert await kv.hlen("h") == 0
    assert await kv.hincrby("h", "f", 1) == 1
    assert await kv.ttl("h") == -1


async def test_hash_commands_in_a_pipeline(kv: AsyncClient) -> None:
    await kv.set("s", "x")
    p = kv.pipeline()
    p.hset("h", mapping={"a": "1", "b": "x"})
    p.hmget("h", "a", "z")
    p.hincrby("h", "a", 2)
    p.hincrbyfloat("h", "a", 0.25)
    p.hlen("h")
    p.hexists("h", "b")
    p.hsetnx("h", "b", "y")
    p.hsetnx("h", "c", "é")
    p.hkeys("h")
    p.hvals("h")
    p.hstrlen("h", "c")
    p.hincrby("h", "b", 1)
    p.hincrby("s", "f", 1)
    replies = await p.execute(raise_on_error=False)
    assert replies[:11] == [
        2,
        ["1", None],
        3,
        3.25,
        2,
        True,
        False,
        True,
        ["a", "b", "c"],
        ["3.25", "x", "é"],
        2,
    ]
    assert isinstance(replies[11], aiokv.NotAnIntegerError)
    assert isinstance(replies[12], aiokv.WrongTypeError)


async def test_hash_commands_in_a_transaction(kv: AsyncClient) -> None:
    async with kv.pipeline(transaction=True) as p:
        p.hincrbyfloat("h", "f", 0.1)
        p.hincrbyfloat("h", "f", 0.2)
        p.hget("h", "f")
    assert p.replies == [0.1, 0.3, "0.3"]


def _random_float_text(rng: random.Random) -> str:
    kind = rng.randrange(6)
    if kind == 0:
        return repr(rng.uniform(-1e6, 1e6))
    if kind == 1:
        return f"{rng.randint(-(10**25), 10**25)}.{rng.randint(0, 10 ** rng.randint(0, 30))}"
    if kind == 2:
        return f"{rng.randint(1, 99)}e{rng.randint(-4960, 4940)}"
    if kind == 3:
        return repr(rng.random() * 10 ** rng.randint(-320, 308))
    if kind == 4:
        return f"0x{rng.getrandbits(70):x}p{rng.randint(-16500, 16400)}"
    return str(rng.randint(-(2**70), 2**70))


async def test_hincrbyfloat_memory_matches_the_server_on_random_texts(
    redis_server: RedisServer,
) -> None:
    """Long double emulation: random stored texts and increments, memory against the server."""
    rng = random.Random(9)
    cases = [
        (_random_float_text(rng), rng.choice([rng.uniform(-1e6, 1e6), rng.random() * 1e-9]))
        for _ in range(300)
    ]
    answers = []
    configs: list[dict[str, Any]] = [
        {"driver": "memory"},
        {"driver": "redis", "url": redis_server.url},
    ]
    for settings in configs:
        async with AsyncClient(**settings) as kv:
            await kv.flushdb()
            seen: list[object] = []
            for stored, amount in cases:
                await kv.hset("h", "f", stored)
                try:
                    seen.append(await kv.hincrbyfloat("h", "f", amount))
                except aiokv.CommandError as exc:
                    seen.append(str(exc))
                seen.append(await kv.hget("h", "f"))
            answers.append(seen)
    assert answers[0] == answers[1]
    assert any(isinstance(answer, str) and "not a float" in answer for answer in answers[1])
