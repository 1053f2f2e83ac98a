"""String commands beyond SET/GET: MGET/MSET/MSETNX, GETDEL, GETEX, SET's KEEPTTL/GET/PXAT,
INCRBYFLOAT, APPEND, STRLEN, GETRANGE, SETRANGE.

Every test runs on both drivers; the expected values are what redis-server 7.0 answers (the
redis run of each test is the check). No test depends on timing: TTLs are long and compared
with a tolerance, and absolute times are far in the past or the future.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

import aiokv
from aiokv import AsyncClient

FAR_FUTURE = datetime(2999, 1, 1, tzinfo=timezone.utc)
FAR_FUTURE_MS = 32472144000000  # FAR_FUTURE in Unix ms
PAST = datetime(2001, 9, 9, tzinfo=timezone.utc)
# Seconds whose milliseconds fit 64 bits but overflow once the server adds the clock.
OVERFLOWING_TTL = (2**63 - 1) // 1000


async def _hash(kv: AsyncClient, key: str) -> None:
    await kv.hset(key, "f", "v")


# --- MGET ------------------------------------------------------------------------------------


async def test_mget_returns_values_in_order_with_none_for_misses(kv: AsyncClient) -> None:
    await kv.set("a", "1")
    await kv.set("b", "two")
    assert await kv.mget("b", "missing", "a", "b") == ["two", None, "1", "two"]


async def test_mget_answers_none_for_a_key_of_another_type(kv: AsyncClient) -> None:
    await _hash(kv, "h")
    await kv.lpush("l", "x")
    await kv.set("s", "v")
    assert await kv.mget("h", "l", "s") == [None, None, "v"]


async def test_mget_of_no_keys_is_empty(kv: AsyncClient) -> None:
    assert await kv.mget() == []


async def test_mget_keeps_undecodable_bytes_as_surrogate_escapes(kv: AsyncClient) -> None:
    await kv.set("bin", b"\xffa")
    await kv.set("text", "é")
    found = await kv.mget("bin", "text")
    assert found == ["\udcffa", "é"]
    # Written back, the escapes store the original bytes.
    await kv.set("copy", found[0])  # type: ignore[arg-type]
    assert await kv.get_bytes("copy") == b"\xffa"


async def test_mget_does_not_see_expired_keys(kv: AsyncClient) -> None:
    await kv.set("gone", "v", ttl=10)
    await kv.pexpire("gone", -1)
    assert await kv.mget("gone") == [None]


async def test_mget_under_a_key_prefix(
    kv: AsyncClient, make_client: Callable[..., AsyncClient]
) -> None:
    async with make_client(key_prefix="app:") as app:
        await app.flushdb()
        await app.set("a", "inside")
        assert await app.mget("a", "b") == ["inside", None]
        if kv.settings.driver == "redis":  # two memory clients never share a store
            await kv.set("a", "outside")
            assert await kv.mget("app:a", "a") == ["inside", "outside"]
            assert await app.mget("a") == ["inside"]


# --- MSET / MSETNX ---------------------------------------------------------------------------


async def test_mset_writes_every_pair_and_returns_true(kv: AsyncClient) -> None:
    assert await kv.mset({"a": "1", "b": 2, "c": 1.5, "d": b"\x00\xff"}) is True
    assert await kv.mget("a", "b", "c") == ["1", "2", "1.5"]
    assert await kv.get_bytes("d") == b"\x00\xff"


async def test_mset_replaces_any_type_and_clears_ttls(kv: AsyncClient) -> None:
    await _hash(kv, "h")
    await kv.set("t", "old", ttl=100)
    assert await kv.mset({"h": "now a string", "t": "new"}) is True
    assert await kv.type("h") == "string"
    assert await kv.get("t") == "new"
    assert await kv.ttl("t") == -1


async def test_mset_of_nothing_is_refused(kv: AsyncClient) -> None:
    with pytest.raises(aiokv.InvalidArgumentError):
        kv.mset({})
    with pytest.raises(aiokv.InvalidArgumentError):
        kv.msetnx({})


async def test_mset_refuses_other_value_types_at_call_time(kv: AsyncClient) -> None:
    with pytest.raises(TypeError):
        kv.mset({"a": [1, 2]})  # type: ignore[dict-item]
    assert await kv.exists("a") == 0


@pytest.mark.one_slot
async def test_msetnx_writes_all_when_no_key_exists(kv: AsyncClient) -> None:
    assert await kv.msetnx({"a": "1", "b": "2"}) is True
    assert await kv.mget("a", "b") == ["1", "2"]


@pytest.mark.one_slot
async def test_msetnx_writes_nothing_when_one_key_exists(kv: AsyncClient) -> None:
    await _hash(kv, "b")
    assert await kv.msetnx({"a": "1", "b": "2", "c": "3"}) is False
    assert await kv.exists("a", "c") == 0
    assert await kv.type("b") == "hash"


async def test_msetnx_counts_an_expired_key_as_missing(kv: AsyncClient) -> None:
    await kv.set("a", "old", ttl=10)
    await kv.pexpire("a", 0)
    assert await kv.msetnx({"a": "new"}) is True
    assert await kv.get("a") == "new"
    assert await kv.ttl("a") == -1


# --- GETDEL ----------------------------------------------------------------------------------


async def test_getdel_returns_the_value_and_deletes_the_key(kv: AsyncClient) -> None:
    await kv.set("k", "v", ttl=100)
    assert await kv.getdel("k") == "v"
    assert await kv.exists("k") == 0
    assert await kv.getdel("k") is None


async def test_getdel_of_another_type_raises_and_keeps_the_key(kv: AsyncClient) -> None:
    await _hash(kv, "h")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.getdel("h")
    assert await kv.type("h") == "hash"


async def test_getdel_of_undecodable_bytes_keeps_them_as_escapes(kv: AsyncClient) -> None:
    await kv.set("k", b"\xfe\xff")
    assert await kv.getdel("k") == "\udcfe\udcff"
    assert await kv.exists("k") == 0


# --- GETEX -----------------------------------------------------------------------------------


async def test_getex_without_options_reads_and_keeps_the_ttl(kv: AsyncClient) -> None:
    await kv.set("k", "v", ttl=100)
    assert await kv.getex("k") == "v"
    assert 99 <= await kv.ttl("k") <= 100
    assert await kv.getex("missing") is None


async def test_getex_sets_a_relative_ttl(kv: AsyncClient) -> None:
    await kv.set("k", "v")
    assert await kv.getex("k", 50) == "v"
    assert 49 <= await kv.ttl("k") <= 50
    assert await kv.getex("k", timedelta(milliseconds=200_500)) == "v"
    assert 200_000 <= await kv.pttl("k") <= 200_500


async def test_getex_sets_an_absolute_expiry(kv: AsyncClient) -> None:
    await kv.set("k", "v")
    assert await kv.getex("k", FAR_FUTURE) == "v"
    assert await kv.pexpiretime("k") == FAR_FUTURE_MS


async def test_getex_with_a_past_time_reads_then_deletes(kv: AsyncClient) -> None:
    await kv.set("k", "v")
    assert await kv.getex("k", PAST) == "v"
    assert await kv.exists("k") == 0


async def test_getex_persist_removes_the_ttl(kv: AsyncClient) -> None:
    await kv.set("k", "v", ttl=100)
    assert await kv.getex("k", persist=True) == "v"
    assert await kv.ttl("k") == -1
    assert await kv.getex("missing", persist=True) is None


async def test_getex_of_another_type_raises(kv: AsyncClient) -> None:
    await _hash(kv, "h")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.getex("h")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.getex("h", 10)


@pytest.mark.parametrize("ttl", [0, -1, 0.0001, timedelta(0)])
async def test_getex_refuses_a_ttl_that_is_not_positive(kv: AsyncClient, ttl: float) -> None:
    await kv.set("k", "v")
    with pytest.raises(aiokv.InvalidArgumentError):
        kv.getex("k", ttl)
    assert await kv.ttl("k") == -1


async def test_getex_refuses_ttl_with_persist_and_times_before_the_epoch(kv: AsyncClient) -> None:
    with pytest.raises(aiokv.InvalidArgumentError):
        kv.getex("k", 10, persist=True)
    with pytest.raises(aiokv.InvalidArgumentError):
        kv.getex("k", datetime(1969, 1, 1, tzinfo=timezone.utc))


async def test_getex_with_a_ttl_overflowing_the_clock(kv: AsyncClient) -> None:
    # A server checks the expire time only once it found the key.
    assert await kv.getex("missing", OVERFLOWING_TTL) is None
    await kv.set("k", "v")
    with pytest.raises(aiokv.InvalidArgumentError, match="invalid expire time in 'getex'"):
        await kv.getex("k", OVERFLOWING_TTL)
    assert await kv.ttl("k") == -1


# --- SET: KEEPTTL, GET, absolute expiry ------------------------------------------------------


async def test_set_keepttl_keeps_the_current_ttl(kv: AsyncClient) -> None:
    await kv.set("k", "old", ttl=100)
    assert await kv.set("k", "new", keepttl=True) is True
    assert await kv.get("k") == "new"
    assert 99 <= await kv.ttl("k") <= 100
    assert await kv.set("fresh", "v", keepttl=True) is True
    assert await kv.ttl("fresh") == -1


async def test_set_keepttl_ignores_the_default_ttl(make_client: Callable[..., AsyncClient]) -> None:
    async with make_client(default_ttl=50) as kv:
        await kv.flushdb()
        await kv.set("k", "v", ttl=None)
        await kv.set("k", "w", keepttl=True)
        assert await kv.ttl("k") == -1


async def test_set_keepttl_with_a_ttl_is_refused(kv: AsyncClient) -> None:
    with pytest.raises(aiokv.InvalidArgumentError):
        kv.set("k", "v", 10, keepttl=True)
    with pytest.raises(aiokv.InvalidArgumentError):
        kv.set("k", "v", None, keepttl=True)


async def test_set_get_returns_the_previous_value(kv: AsyncClient) -> None:
    assert await kv.set("k", "one", get=True) is None
    assert await kv.set("k", "two", get=True) == "one"
    assert await kv.get("k") == "two"


async def test_set_get_with_nx_and_xx(kv: AsyncClient) -> None:
    await kv.set("k", "v")
    # Not written, but the previous value is still the reply.
    assert await kv.set("k", "w", nx=True, get=True) == "v"
    assert await kv.get("k") == "v"
    assert await kv.set("new", "w", nx=True, get=True) is None
    assert await kv.get("new") == "w"
    assert await kv.set("absent", "w", xx=True, get=True) is None
    assert await kv.exists("absent") == 0


async def test_set_get_on_another_type_raises_and_writes_nothing(kv: AsyncClient) -> None:
    await _hash(kv, "h")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.set("h", "v", get=True)
    assert await kv.type("h") == "hash"


async def test_set_get_with_keepttl_and_a_ttl(kv: AsyncClient) -> None:
    await kv.set("k", "a", ttl=100)
    assert await kv.set("k", "b", keepttl=True, get=True) == "a"
    assert 99 <= await kv.ttl("k") <= 100
    assert await kv.set("k", "c", 20, get=True) == "b"
    assert 19 <= await kv.ttl("k") <= 20
    assert await kv.set("k", "d", None, get=True) == "c"
    assert await kv.ttl("k") == -1


async def test_set_at_an_absolute_time(kv: AsyncClient) -> None:
    assert await kv.set("k", "v", FAR_FUTURE) is True
    assert await kv.pexpiretime("k") == FAR_FUTURE_MS
    assert await kv.expiretime("k") == FAR_FUTURE_MS // 1000


async def test_set_at_a_naive_datetime_is_local_time(kv: AsyncClient) -> None:
    naive = datetime(2999, 1, 1, 12, 0, 0)
    await kv.set("k", "v", naive)
    assert await kv.expiretime("k") == int(naive.timestamp())


async def test_set_at_a_past_time_leaves_no_key(kv: AsyncClient) -> None:
    await kv.set("k", "old")
    assert await kv.set("k", "v", PAST) is True
    assert await kv.exists("k") == 0
    assert await kv.set("k", "v", PAST) is True
    assert await kv.exists("k") == 0
    await kv.set("k", "old")
    assert await kv.set("k", "v", PAST, get=True) == "old"
    assert await kv.exists("k") == 0


async def test_set_at_or_before_the_epoch_is_refused(kv: AsyncClient) -> None:
    with pytest.raises(aiokv.InvalidArgumentError):
        kv.set("k", "v", datetime(1970, 1, 1, tzinfo=timezone.utc))


# --- INCRBYFLOAT -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "amounts", "stored"),
    [
        ("10.5", [0.1], "10.6"),
        (None, [0.1, 0.2], "0.3"),  # long double: not 0.30000000000000004
        ("10.50", [0.1], "10.6"),
        (None, [1e20, 5000], "100000000000000005000"),
        ("3", [1e-17], "3.00000000000000001"),
        (None, [1e-18], "0"),
        (None, [-1e-20], "0"),
        (None, [0.000003814697265625], "0.00000381469726562"),  # an exact tie, to even
        ("5", [-5], "0"),
        ("5", [-7.25], "-2.25"),
        ("12345", [1], "12346"),
        ("0x10", [1], "17"),
        ("+1.5", [1], "2.5"),
        ("1e3", [0.5], "1000.5"),
        (".5", [1], "1.5"),
        ("1.1", [2.2], "3.3"),
        (None, [12345678901234567890], "12345678901234567890"),
    ],
)
async def test_incrbyfloat_stores_the_servers_text(
    kv: AsyncClient, start: str | None, amounts: list[float], stored: str
) -> None:
    if start is not None:
        await kv.set("f", start)
    for amount in amounts:
        result = await kv.incrbyfloat("f", amount)
        assert isinstance(result, float)
    assert await kv.get("f") == stored
    assert result == float(stored)


async def test_incrbyfloat_near_the_long_double_limit(kv: AsyncClient) -> None:
    await kv.set("f", "1.1e4932")
    assert await kv.incrbyfloat("f", 0) == float("inf")  # the text is beyond a double
    text = await kv.get("f")
    assert text is not None
    assert len(text) == 4933
    assert text.startswith("1099999999999999999974373107528241817659030869279043407734988")
    assert text.endswith("136704")


async def test_incrbyfloat_keeps_the_ttl(kv: AsyncClient) -> None:
    await kv.set("f", "1", ttl=100)
    assert await kv.incrbyfloat("f", 0.5) == 1.5
    assert 99 <= await kv.ttl("f") <= 100


@pytest.mark.parametrize("value", ["abc", "1 ", " 1", "", "nan", "1e-5000", "1e5000", "1.5\x00"])
async def test_incrbyfloat_of_a_value_that_is_not_a_float(kv: AsyncClient, value: str) -> None:
    await kv.set("f", value)
    with pytest.raises(aiokv.CommandError, match="ERR value is not a valid float") as caught:
        await kv.incrbyfloat("f", 1)
    assert type(caught.value) is aiokv.InvalidArgumentError
    assert await kv.get("f") == value


@pytest.mark.parametrize("value", ["inf", "-Infinity"])
async def test_incrbyfloat_refuses_an_infinite_result(kv: AsyncClient, value: str) -> None:
    await kv.set("f", value)
    with pytest.raises(aiokv.CommandError, match="increment would produce NaN or Infinity"):
        await kv.incrbyfloat("f", 1.5)
    assert await kv.get("f") == value


async def test_incrbyfloat_of_another_type_raises(kv: AsyncClient) -> None:
    await _hash(kv, "h")
    with pytest.raises(aiokv.WrongTypeError):
        await kv.incrbyfloat("h", 1.0)


@pytest.mark.parametrize("amount", [float("nan"), float("inf"), float("-inf")])
async def test_incrbyfloat_refuses_a_non_finite_amount(kv: AsyncClient, amount: float) -> None:
    with pytest.raises(aiokv.InvalidArgumentError):
        kv.incrbyfloat("f", amount)


@pytest.mark.parametrize("amount", [True, "1.5", None])
async def test_incrbyfloat_refuses_an_amount_that_is_not_a_number(
    kv: AsyncClient, amount: object
) -> None:
    with pytest.raises(aiokv.ArgumentTypeError):
        kv.incrbyfloat("f", amount)  # type: ignore[arg-type]


# --- APPEND, STRLEN --------------------------------------------------------------------------


async def test_append_creates_then_extends_and_counts_bytes(kv: AsyncClient) -> None:
    assert await kv.append("k", "ab") == 2
    assert await kv.append("k", "é") == 4
    assert await kv.append("k", 12) == 6
    assert await kv.get("k") == "abé12"
    assert await kv.strlen("k") == 6


async def test_append_bytes_and_text(kv: AsyncClient) -> None:
    await kv.set("k", b"\xff")
    assert await kv.append("k", "a") == 2
    assert await kv.get_bytes("k") == b"\xffa"
    await kv.set("u", "\u00e9")
    assert await kv.append("u", b"\xa9") == 3
    assert await kv.get_bytes("u") == b"\xc3\xa9\xa9"


async def test_append_keeps_the_ttl(kv: AsyncClient) -> None:
    await kv.set("k", "a", ttl=100)
    await kv.append("k", "b")
    assert 99 <= await kv.ttl("k") <= 100


async def test_strlen(kv: AsyncClient) -> None:
    assert await kv.strlen("missing") == 0
    await kv.set("k", "héllo ☃")
    assert await kv.strlen("k") == len("héllo ☃".encode())
    await kv.set("n", 12345)
    assert await kv.strlen("n") == 5
    await kv.set("e", "")
    assert await kv.strlen("e") == 0


@pytest.mark.parametrize("name", ["append", "strlen", "getrange", "setrange"])
async def test_byte_commands_on_another_type_raise(kv: AsyncClient, name: str) -> None:
    await _hash(kv, "h")
    calls = {
        "append": lambda: kv.append("h", "x"),
        "strlen": lambda: kv.strlen("h"),
        "getrange": lambda: kv.getrange("h", 0, 1),
        "setrange": lambda: kv.setrange("h", 0, "x"),
    }
    with pytest.raises(aiokv.WrongTypeError):
        await calls[name]()
    assert await kv.hgetall("h") == {"f": "v"}


# --- GETRANGE --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (0, -1, "Hello"),
        (-1, -5, ""),
        (0, -100, "H"),
        (-100, -100, "H"),
        (3, 1, ""),
        (1, 100, "ello"),
        (-3, -1, "llo"),
        (10, 20, ""),
        (-1, -1, "o"),
        (5, 5, ""),
        (4, 4, "o"),
        (0, 0, "H"),
        (-(2**63), 2**63 - 1, "Hello"),
    ],
)
async def test_getrange(kv: AsyncClient, start: int, end: int, expected: str) -> None:
    await kv.set("s", "Hello")
    assert await kv.getrange("s", start, end) == expected


async def test_getrange_of_a_miss_an_empty_string_and_a_number(kv: AsyncClient) -> None:
    assert await kv.getrange("missing", 0, -1) == ""
    await kv.set("e", "")
    assert await kv.getrange("e", 0, -1) == ""
    await kv.set("n", 12345)
    assert await kv.getrange("n", 1, 2) == "23"


async def test_getrange_counts_bytes_and_keeps_cut_characters_as_escapes(kv: AsyncClient) -> None:
    await kv.set("s", "aéb")  # a, c3 a9, b
    assert await kv.getrange("s", 1, 2) == "é"
    assert await kv.getrange("s", 0, 1) == "a\udcc3"
    assert await kv.getrange("s", 2, -1) == "\udca9b"


async def test_getrange_refuses_offsets_that_are_not_64_bit_ints(kv: AsyncClient) -> None:
    for start, end in [(1.0, 2), (0, 2**63), (True, 1)]:
        with pytest.raises(aiokv.NotAnIntegerError):
            kv.getrange("s", start, end)  # type: ignore[arg-type]


# --- SETRANGE --------------------------------------------------------------------------------


async def test_setrange_overwrites_and_pads_with_zero_bytes(kv: AsyncClient) -> None:
    await kv.set("k", "Hello World")
    assert await kv.setrange("k", 6, "Redis") == 11
    assert await kv.get("k") == "Hello Redis"
    assert await kv.setrange("k", 13, "!") == 14
    assert await kv.get_bytes("k") == b"Hello Redis\x00\x00!"
    assert await kv.setrange("new", 3, b"\xffab") == 6
    assert await kv.get_bytes("new") == b"\x00\x00\x00\xffab"


async def test_setrange_with_an_empty_value(kv: AsyncClient) -> None:
    assert await kv.setrange("missing", 3, "") == 0
    assert await kv.exists("missing") == 0
    await kv.set("k", "abc")
    assert await kv.setrange("k", 10, "") == 3
    assert await kv.get("k") == "abc"


async def test_setrange_keeps_the_ttl_and_counts_bytes(kv: AsyncClient) -> None:
    await kv.set("k", "ab", ttl=100)
    assert await kv.setrange("k", 1, "é") == 3
    assert await kv.get("k") == "aé"
    assert 99 <= await kv.ttl("k") <= 100


async def test_setrange_refuses_a_negative_offset(kv: AsyncClient) -> None:
    with pytest.raises(aiokv.InvalidArgumentError, match="offset is out of range"):
        kv.setrange("k", -1, "x")
    with pytest.raises(aiokv.NotAnIntegerError):
        kv.setrange("k", 2**63, "x")


async def test_setrange_beyond_512_mb(kv: AsyncClient) -> None:
    limit = 512 * 1024 * 1024
    with pytest.raises(aiokv.CommandError, match="string exceeds maximum allowed size"):
        await kv.setrange("k", limit, "x")
    assert await kv.exists("k") == 0
    await kv.set("s", "abc")
    with pytest.raises(aiokv.CommandError, match="string exceeds maximum allowed size"):
        await kv.setrange("s", 2**63 - 1, "x")
    assert await kv.get("s") == "abc"


# --- pipelines and transactions --------------------------------------------------------------


@pytest.mark.one_slot
@pytest.mark.parametrize("transaction", [False, True])
async def test_string_commands_in_a_pipeline(kv: AsyncClient, transaction: bool) -> None:
    await kv.set("old", "o", ttl=100)
    p = kv.pipeline(transaction=transaction)
    p.mset({"a": "1", "b": "Hello"}).msetnx({"a": "x", "c": "3"}).mget("a", "b", "c")
    p.set("old", "n", keepttl=True, get=True).getdel("a").getex("b", FAR_FUTURE)
    p.getex("b", persist=True).getex("b").incrbyfloat("f", 0.1).incrbyfloat("f", 0.2)
    p.append("b", "!").strlen("b").getrange("b", 0, 3).setrange("b", 7, "x")
    p.set("p", "v", PAST).exists("p")
    assert await p.execute() == [
        True,
        False,
        ["1", "Hello", None],
        "o",
        "1",
        "Hello",
        "Hello",
        "Hello",
        0.1,
        0.3,
        6,
        6,
        "Hell",
        8,
        True,
        0,
    ]
    assert await kv.get_bytes("b") == b"Hello!\x00x"
    assert 99 <= await kv.ttl("old") <= 100


async def test_errors_in_a_pipeline_take_their_commands_place(kv: AsyncClient) -> None:
    await _hash(kv, "h")
    await kv.set("nf", "abc")
    p = kv.pipeline()
    p.getdel("h").incrbyfloat("nf", 1)
    with pytest.raises(aiokv.InvalidArgumentError):  # argument errors: raised by the call
        p.setrange("k", -1, "x")
    with pytest.raises(aiokv.InvalidArgumentError):
        p.mset({})
    p.set("k", "v")
    replies = await p.execute(raise_on_error=False)
    assert isinstance(replies[0], aiokv.WrongTypeError)
    assert type(replies[1]) is aiokv.InvalidArgumentError
    assert replies[2] is True


# --- a key prefix ----------------------------------------------------------------------------


async def test_string_commands_under_a_key_prefix(
    kv: AsyncClient, make_client: Callable[..., AsyncClient]
) -> None:
    async with make_client(key_prefix="app:") as app:
        await app.flushdb()
        await app.mset({"a": "1", "b": "2"})
        assert await app.msetnx({"c": "3"}) is True
        assert sorted(await app.keys()) == ["a", "b", "c"]
        assert await app.getdel("a") == "1"
        assert await app.append("b", "x") == 2
        if kv.settings.driver == "redis":  # two memory clients never share a store
            assert sorted(await kv.keys()) == ["app:b", "app:c"]
            assert await kv.get("app:b") == "2x"


# --- the memory driver's absolute times follow the wall clock at the command -----------------


async def test_absolute_expiry_is_relative_to_the_wall_clock_now(kv: AsyncClient) -> None:
    soon = datetime.now(timezone.utc) + timedelta(seconds=1000)
    await kv.set("k", "v", soon)
    assert 990 <= await kv.ttl("k") <= 1000
    assert abs(await kv.expiretime("k") - (time.time() + 1000)) <= 10


# --- the memory driver's key bound -----------------------------------------------------------


async def test_memory_mset_at_a_full_noeviction_bound_writes_nothing() -> None:
    async with AsyncClient(
        driver="memory", memory_max_keys=3, memory_eviction_policy="noeviction"
    ) as kv:
        await kv.mset({"a": "1", "b": "2"})
        with pytest.raises(aiokv.OutOfMemoryError):
            await kv.mset({"a": "x", "c": "3", "d": "4"})
        # "c" fitted, "d" did not: the keys created are removed again and "a" is untouched.
        assert sorted(await kv.keys()) == ["a", "b"]
        assert await kv.get("a") == "1"
        assert await kv.mset({"a": "x", "c": "3"}) is True
        assert await kv.dbsize() == 3


async def test_memory_mset_under_an_eviction_policy_stays_within_the_bound() -> None:
    async with AsyncClient(
        driver="memory", memory_max_keys=5, memory_eviction_policy="allkeys-lru"
    ) as kv:
        await kv.mset({f"old{i}": "v" for i in range(5)})
        await kv.mset({f"new{i}": "v" for i in range(3)})
        assert await kv.dbsize() == 5
        assert await kv.get("new2") == "v"  # evictions happen before a key is created
