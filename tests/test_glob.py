"""Tests for :mod:`aiokv._glob`, the Redis ``KEYS`` / ``SCAN MATCH`` glob dialect.

The table below pins every rule down; the tests marked as needing a server replay the table
and hundreds of random patterns against a real ``redis-server`` and require identical answers.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from aiokv import AsyncClient
from aiokv._glob import _bytes_matcher, _parse, compile_glob

E_ACUTE = "\u00e9"  # two UTF-8 bytes: c3 a9

# (pattern, key, expected): what redis-server 7.0.15 (x86-64) answers.
CASES: list[tuple[str, str, bool]] = [
    # "*" and the empty key
    ("*", "", True),  # KEYS * lists every key without running the matcher
    ("*", "anything", True),
    ("**", "", False),  # ...but the matcher itself never accepts the empty key
    ("**", "a", True),
    ("", "", True),
    ("", "a", False),
    ("a*", "", False),
    ("?", "", False),
    # literals and prefixes
    ("user:1", "user:1", True),
    ("user:1", "user:10", False),
    ("user:*", "user:", True),
    ("user:*", "user:42", True),
    ("user:*", "users:42", False),
    ("user:**", "user:", True),
    ("*:session", "user:1:session", True),
    ("*:session", "user:1:session2", False),
    ("a*b", "ab", True),
    ("a*b", "axxb", True),
    ("a*b", "axxba", False),
    ("a*a", "a", False),  # prefix and suffix may not overlap
    ("*x*", "abxcd", True),
    ("*x*", "abcd", False),
    ("a*b*c", "abbbc", True),
    ("a*b*c", "acb", False),
    ("*a*b*", "xbxa", False),
    # "?" is one byte, not one character
    ("?", "a", True),
    ("?", E_ACUTE, False),
    ("??", E_ACUTE, True),
    ("?", "ab", False),
    ("a?c", "abc", True),
    ("a?c", "ac", False),
    (f"{E_ACUTE}*", f"{E_ACUTE}t{E_ACUTE}", True),
    (f"*{E_ACUTE}", f"caf{E_ACUTE}", True),
    ("caf?", f"caf{E_ACUTE}", False),
    ("caf??", f"caf{E_ACUTE}", True),
    (f"caf[{E_ACUTE}]", f"caf{E_ACUTE}", False),  # the class holds two bytes, matches one
    (f"caf[{E_ACUTE}][{E_ACUTE}]", f"caf{E_ACUTE}", True),
    ("*", "\n", True),
    ("?", "\n", True),
    ("a*b", "a\n\nb", True),
    # classes
    ("[abc]", "b", True),
    ("[abc]", "d", False),
    ("[abc]", "ab", False),
    ("[^abc]", "d", True),
    ("[^abc]", "a", False),
    ("[!a]", "!", True),  # "!" does not negate
    ("[!a]", "a", True),
    ("[!a]", "b", False),
    ("[a^]", "^", True),
    ("[a-c]", "b", True),
    ("[a-c]", "d", False),
    ("[c-a]", "b", True),  # a reversed range is the same range
    ("[c-a]", "a", True),
    ("[c-a]", "d", False),
    ("[a-a]", "a", True),
    ("[0-9a-f]", "e", True),
    ("[0-9a-f]", "g", False),
    ("[-a]", "-", True),  # "-" first is literal
    ("[-a]", "a", True),
    ("[-a]", "b", False),
    ("[a-]", "]", True),  # "-" before "]": the "]" is the range end, the class stays open
    ("[a-]", "_", True),
    ("[a-]", "a", True),
    ("[a-]", "-", False),
    ("[a-]", "b", False),
    ("[a-]b", "b", True),  # ...so "b" is another member, not a literal after the class
    ("[a-]b", "ab", False),
    ("[a-]]", "]", True),
    ("[a-]]", "]]", False),
    ("[--a]", ".", True),  # range "-" .. "a"
    ("[a-c-e]", "-", True),  # after a range, "-" is a literal member
    ("[a-c-e]", "d", False),
    # "]" and "^" edge cases
    ("[]", "]", False),  # empty class: never matches
    ("[]", "", False),
    ("[]a]", "a]", False),
    ("[]a]", "]", False),
    ("[^]", "x", True),  # negated empty class: any single byte
    ("[^]", "]", True),
    ("[^]", "xy", False),
    ("[^]a]", "xa]", True),
    ("[^^]", "^", False),
    ("[^^]", "a", True),
    # escapes outside classes
    ("\\*", "*", True),
    ("\\*", "a", False),
    ("\\?", "?", True),
    ("\\?", "a", False),
    ("\\[a]", "[a]", True),
    ("\\a", "a", True),
    ("a\\", "a\\", True),  # a trailing lone backslash is literal
    ("a\\", "a", False),
    ("\\", "\\", True),
    ("\\\\", "\\", True),
    ("\\\\", "\\\\", False),
    ("a\\*b*", "a*bc", True),
    ("a\\*b*", "axbc", False),
    # escapes inside classes
    ("[\\]]", "]", True),
    ("[\\]]", "]]", False),
    ("[\\]", "]", True),  # "\]" is a member and the class runs to the end
    ("[\\^a]", "^", True),  # escaped "^" does not negate
    ("[\\-a]", "-", True),  # an escaped byte cannot start a range...
    ("[\\-a]", "a", True),
    ("[\\-a]", "b", False),
    ("[\\a-z]", "-", True),  # ...and the "-" after it is literal
    ("[\\a-z]", "z", True),
    ("[\\a-z]", "m", False),
    ("[a\\-z]", "-", True),
    ("[a\\-z]", "m", False),
    ("[a-\\]", "\\", True),  # range "\" .. "a"
    ("[a-\\]", "_", True),
    ("[a-\\]", "b", False),
    ("[a-\\]]", "a]", True),
    ("[\\\\]", "\\", True),
    ("[\\", "\\", True),  # a lone backslash at the very end is a literal member
    ("[a\\", "\\", True),
    ("[a\\", "a", True),
    # unclosed classes run to the end of the pattern
    ("a[bc", "ab", True),
    ("a[bc", "ac", True),
    ("a[bc", "a[bc", False),
    ("[", "[", False),
    ("[", "", False),
    ("[^", "x", True),
    ("[^a", "a", False),
    ("[^a", "b", True),
    ("[*", "*", True),  # "*" inside a class is a member
    ("[*", "ab", False),
    ("[?]", "?", True),
    ("[?]", "a", False),
    ("x*[", "xy", False),
    # byte ranges compare as signed C chars: 0x80-0xff sort below 0x00
    ("[\x01-\u00c3]", "\x01", True),  # U+00C3 is c3 83, so the range is 0x01 .. 0xc3
    ("[\x01-\u00c3]", "a", False),  # ...which, signed, is 0xc3..0xff plus 0x00..0x01
    ("[\x01-\u00c3]?", "\u00c3", True),
    ("[\x01-\u00c3]", "\u00ff", False),  # c3 bf: two bytes
    ("[\x00-\x7f]", "\x7f", True),
    (f"[a-{E_ACUTE}]?", E_ACUTE, True),  # range "a" .. 0xc3 = 0xc3..0xff and 0x00..0x61
    (f"[a-{E_ACUTE}]", "b", False),
    (f"[a-{E_ACUTE}]", "!", True),
    (f"[b-{E_ACUTE}]", "\u00a9", False),  # U+00A9 is c2 a9: c2 is outside the range
    (f"[b-{E_ACUTE}]", "a", True),
    # stars collapse
    ("a***b", "ab", True),
    ("***", "x", True),
    ("*?", "x", True),
    ("*?", "", False),
    ("?*?", "x", False),
    ("*[ab]*[ab]*", "xaxbx", True),
    ("*[ab]*[ab]*", "xaxx", False),
]


@pytest.mark.parametrize(("pattern", "key", "expected"), CASES)
def test_table(pattern: str, key: str, expected: bool) -> None:
    assert compile_glob(pattern)(key) is expected


def test_compiled_patterns_are_cached() -> None:
    assert compile_glob("user:[0-9]*") is compile_glob("user:[0-9]*")


# (pattern, key, expected) with surrogate escapes, which stand for the byte they escape: the
# key "\udcfe\udccd" is the server key b"\xfe\xcd", the pattern "\udcc3?" is b"\xc3?".
ESCAPED_CASES: list[tuple[str, str, bool]] = [
    ("?", "\udcff", True),
    ("??", "\udcff", False),
    ("???", "\udcff", False),
    ("?*", "\udcff", True),
    ("??", "\udcfe\udccd", True),
    ("\udcfe?", "\udcfe\udccd", True),
    ("?\udccd", "\udcfe\udccd", True),
    ("\udcfe*", "\udcfe\udccd", True),
    ("*\udccd", "\udcfe\udccd", True),
    ("\udcfe", "\udcfe\udccd", False),
    ("[\udcfe]?", "\udcfe\udccd", True),
    ("\udcc3?", E_ACUTE, True),
    ("\udcc3*", E_ACUTE, True),
    ("*\udca9", E_ACUTE, True),
    ("\udcc3\udca9", E_ACUTE, True),  # the escapes of the two bytes of "é" are "é"
    ("\udcc3\udca9*", f"{E_ACUTE}t", True),
    (E_ACUTE, "\udcc3\udca9", True),  # a key spelled with escapes holds the same bytes
    (f"{E_ACUTE}*", "\udcc3\udca9t", True),
    (f"*{E_ACUTE}", "caf\udcc3\udca9", True),
    (f"*{E_ACUTE}*", "\udcc3\udca9", True),
    (f"{E_ACUTE}*", "\udcc3", False),
    ("a\udcff*", "a\udcffb", True),
    ("a\udcff*", "a\udcfeb", False),
]


@pytest.mark.parametrize(("pattern", "key", "expected"), ESCAPED_CASES)
def test_surrogate_escapes_match_as_their_byte(pattern: str, key: str, expected: bool) -> None:
    assert compile_glob(pattern)(key) is expected


def test_lone_surrogate_in_a_key_does_not_raise() -> None:
    # No server key can hold "\ud800" (the redis driver cannot send it); the memory driver,
    # which does not check keys, must still walk past it.
    assert compile_glob("*?")("\ud800")
    assert not compile_glob("a*")("\ud800")


def test_lone_surrogate_in_a_pattern_raises_as_on_the_redis_driver() -> None:
    with pytest.raises(UnicodeEncodeError):
        compile_glob("\ud800*")


def test_star_nesting_limit() -> None:
    """More than 1000 ``*`` groups followed by something: Redis gives up, nothing matches."""
    key = "a" * 1001
    assert compile_glob("*a" * 1000)(key)
    assert compile_glob("*a" * 1000 + "*")(key)
    assert compile_glob("a*" * 1001)(key)  # the trailing "*" does not recurse
    assert not compile_glob("*a" * 1001)(key)
    assert not compile_glob("**a" * 1001)(key)


def test_no_catastrophic_backtracking() -> None:
    pattern = "*a" * 40 + "b"
    predicate = compile_glob(pattern)
    started = time.perf_counter()
    assert not predicate("a" * 20_000)
    assert not compile_glob("*?" * 40 + "[b]")("a" * 20_000)
    assert time.perf_counter() - started < 2.0


# --- fast paths must agree with the general bytes matcher ------------------------------------

PATTERN_ALPHABET = "ab[]^!-\\*?c" + E_ACUTE
KEY_ALPHABET = "ab]^!-\\*?c[" + E_ACUTE
# Multi-character pieces that make the interesting constructs (classes, ranges over high bytes,
# escapes next to "]" or "-", star runs) far likelier than uniformly random characters would.
PATTERN_CHUNKS = [
    *PATTERN_ALPHABET,
    "[^",
    "[]",
    "[^]",
    "**",
    "\\]",
    "\\-",
    "\\\\",
    "a-",
    "-c",
    "c-a",
    f"a-{E_ACUTE}",
    f"{E_ACUTE}-a",
    f"-{E_ACUTE}",
    f"\\{E_ACUTE}",
]
PATTERNS = st.lists(st.sampled_from(PATTERN_CHUNKS), max_size=6).map("".join)


@settings(max_examples=300, deadline=None)
@given(
    pattern=st.one_of(PATTERNS, st.text(alphabet=PATTERN_ALPHABET, max_size=8)),
    key=st.text(alphabet=KEY_ALPHABET, max_size=6),
)
def test_fast_paths_agree_with_bytes_matcher(pattern: str, key: str) -> None:
    general = _bytes_matcher(_parse(pattern.encode()))
    expected = general(key) if pattern != "*" else True
    assert compile_glob(pattern)(key) is expected


@settings(max_examples=300, deadline=None)
@given(
    pattern=st.text(alphabet="ab*:" + E_ACUTE, max_size=8),
    key=st.text(alphabet="ab:" + E_ACUTE, max_size=6),
)
def test_literal_star_patterns_agree_with_bytes_matcher(pattern: str, key: str) -> None:
    general = _bytes_matcher(_parse(pattern.encode()))
    expected = general(key) if pattern != "*" else True
    assert compile_glob(pattern)(key) is expected


# --- differential tests against a real redis-server ------------------------------------------


def _redis_server_binary() -> str | None:
    if os.access("/usr/bin/redis-server", os.X_OK):
        return "/usr/bin/redis-server"
    return shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A private redis-server on a free loopback port, stopped when the module is done."""
    binary = _redis_server_binary()
    if binary is None:
        pytest.skip("redis-server not found (/usr/bin/redis-server or PATH): no differential test")
    workdir: Path = tmp_path_factory.mktemp("redis")
    port = _free_port()
    proc = subprocess.Popen(
        [
            binary,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--dir", str(workdir),
            "--logfile", str(workdir / "redis.log"),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        with redis.Redis(host="127.0.0.1", port=port, socket_timeout=10) as probe:
            deadline = time.monotonic() + 10
            while True:
                try:
                    probe.ping()
                    break
                except redis.ConnectionError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        log = (workdir / "redis.log").read_text(errors="replace")
                        pytest.fail(f"redis-server did not start on port {port}:\n{log}")
                    time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def scratch(server_port: int) -> Iterator[redis.Redis]:
    """A client on database 1 of the private server, for one-key-at-a-time checks."""
    with redis.Redis(host="127.0.0.1", port=server_port, db=1, socket_timeout=10) as client:
        yield client


def _server_matches(client: redis.Redis, pattern: str, key: str) -> bool:
    """Ask the server whether ``pattern`` matches ``key``, with ``key`` alone in the database."""
    client.flushdb()
    client.set(key.encode(), b"1")
    found: list[bytes] = client.keys(pattern.encode())
    return key.encode() in found


@pytest.mark.parametrize(("pattern", "key", "expected"), CASES)
def test_table_against_server(scratch: redis.Redis, pattern: str, key: str, expected: bool) -> None:
    assert _server_matches(scratch, pattern, key) is expected


def _server_matches_bytes(client: redis.Redis, pattern: str, key: str) -> bool:
    """As :func:`_server_matches`, with surrogate escapes sent as the byte they stand for."""
    raw = key.encode("utf-8", "surrogateescape")
    client.flushdb()
    client.set(raw, b"1")
    return raw in client.keys(pattern.encode("utf-8", "surrogateescape"))


@pytest.mark.parametrize(("pattern", "key", "expected"), ESCAPED_CASES)
def test_escaped_cases_against_server(
    scratch: redis.Redis, pattern: str, key: str, expected: bool
) -> None:
    assert _server_matches_bytes(scratch, pattern, key) is expected


@pytest.mark.parametrize(
    "pattern", ["*a" * 1000, "*a" * 1000 + "*", "a*" * 1001, "*a" * 1001, "**a" * 1001]
)
def test_star_nesting_limit_against_server(scratch: redis.Redis, pattern: str) -> None:
    key = "a" * 1001
    assert compile_glob(pattern)(key) is _server_matches(scratch, pattern, key)


def _fixed_keys() -> list[str]:
    short = [
        "".join(chars) for n in range(3) for chars in itertools.product(KEY_ALPHABET, repeat=n)
    ]
    longer = ["".join(chars) for chars in itertools.product("ab\\]" + E_ACUTE, repeat=3)]
    extra = ["user:1", "user:1:session", "\x00", "\x7f", "\u00c3", "\u00ff", "\u20ac", "a\nb"]
    return sorted(set(short + longer + extra))


FIXED_KEYS = _fixed_keys()


@pytest.fixture(scope="module")
def loaded_server(server_port: int) -> Iterator[redis.Redis]:
    """A client on database 0 of the private server, which holds exactly :data:`FIXED_KEYS`."""
    with redis.Redis(host="127.0.0.1", port=server_port, db=0, socket_timeout=10) as client:
        client.flushdb()
        with client.pipeline(transaction=False) as pipe:
            for key in FIXED_KEYS:
                pipe.set(key.encode(), b"1")
            pipe.execute()
        assert client.dbsize() == len(FIXED_KEYS)
        yield client


@settings(max_examples=300, deadline=None)
@given(pattern=PATTERNS)
def test_keys_agrees_with_server(loaded_server: redis.Redis, pattern: str) -> None:
    predicate = compile_glob(pattern)
    expected = {key.encode() for key in FIXED_KEYS if predicate(key)}
    actual = set(loaded_server.keys(pattern.encode()))
    assert actual == expected, pattern


@settings(max_examples=300, deadline=None)
@given(
    pattern=st.one_of(
        PATTERNS, st.text(alphabet=PATTERN_ALPHABET + "\u00c3\u20ac\x7f", max_size=8)
    ),
    key=st.text(alphabet=KEY_ALPHABET + "\u00c3\u20ac\x7f", max_size=8),
)
def test_random_key_agrees_with_server(scratch: redis.Redis, pattern: str, key: str) -> None:
    assert compile_glob(pattern)(key) is _server_matches(scratch, pattern, key), (pattern, key)


SHORT_PATTERNS = [
    "".join(chars) for n in range(4) for chars in itertools.product(PATTERN_ALPHABET, repeat=n)
]


def test_every_short_pattern_agrees_with_server(loaded_server: redis.Redis) -> None:
    """Every pattern of up to three characters from the alphabet, against every fixed key."""
    with loaded_server.pipeline(transaction=False) as pipe:
        for pattern in SHORT_PATTERNS:
            pipe.keys(pattern.encode())
        answers: list[list[bytes]] = pipe.execute()
    encoded = [(key, key.encode()) for key in FIXED_KEYS]
    mismatches = []
    for pattern, answer in zip(SHORT_PATTERNS, answers, strict=True):
        predicate = compile_glob(pattern)
        if set(answer) != {raw for key, raw in encoded if predicate(key)}:
            mismatches.append(pattern)
    assert not mismatches


# --- both drivers: keys() and scan_iter() select by bytes -------------------------------------


async def test_keys_match_the_bytes_of_a_key_that_is_not_utf8(kv: AsyncClient) -> None:
    odd = "\udcfe\udccd"  # the server key b"\xfe\xcd"
    await kv.set(odd, "")
    await kv.set("ab", "")
    assert sorted(await kv.keys("??")) == ["ab", odd]
    assert await kv.keys("\udcfe?") == [odd]
    assert await kv.keys("[\udcfe]*") == [odd]
    assert sorted([key async for key in kv.scan_iter("??")]) == ["ab", odd]
    assert [key async for key in kv.scan_iter("?\udccd")] == [odd]
    assert await kv.keys("?") == []
    assert await kv.keys("???") == []


async def test_question_mark_is_one_byte_of_a_utf8_key(kv: AsyncClient) -> None:
    await kv.set(E_ACUTE, "")
    await kv.set(f"caf{E_ACUTE}", "")
    assert await kv.keys("??") == [E_ACUTE]
    assert await kv.keys("?") == []
    assert await kv.keys("\udcc3?") == [E_ACUTE]
    assert await kv.keys("\udcc3\udca9") == [E_ACUTE]
    assert await kv.keys("caf??") == [f"caf{E_ACUTE}"]
    assert await kv.keys("caf?") == []
    assert sorted([key async for key in kv.scan_iter("*\udca9")]) == [f"caf{E_ACUTE}", E_ACUTE]
