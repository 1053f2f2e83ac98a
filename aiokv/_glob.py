"""Redis's glob dialect (``KEYS`` / ``SCAN ... MATCH``) for the in-memory driver.

The in-memory driver must select exactly the keys a Redis 7 server would, so this module
reproduces the server's matcher byte for byte instead of borrowing :mod:`fnmatch` (whose
dialect differs: ``[!a]`` negates there, ``\\`` is literal there, unclosed ``[`` is literal
there, and so on).

Matching works on the bytes a server holds for the pattern and the key: their UTF-8 encoding,
with surrogate escapes (``"\\udcfe"``, as aiokv spells a byte that is not UTF-8) standing for
their byte. So ``?`` consumes exactly one *byte* (``é`` is two bytes and needs ``??``, and the
key ``"\\udcfe\\udccd"``, the server key ``b"\\xfe\\xcd"``, is matched by ``??``). The rules,
all checked against a real ``redis-server`` 7.0.15 by ``tests/test_glob.py``:

* ``*`` matches any run of bytes, including an empty one; ``?`` matches exactly one byte.
* ``\\x`` matches the byte ``x`` literally; a lone ``\\`` at the very end of the pattern is a
  literal backslash.
* ``[...]`` matches one byte from a set. A ``^`` right after ``[`` negates the set; ``!`` is an
  ordinary member. Inside the set ``\\x`` is the literal byte ``x`` (so ``[\\]]`` is ``{"]"}``),
  ``a-z`` is an inclusive range and ``z-a`` is the same range. A ``-`` that starts the set or
  that cannot begin a range is a literal member.
* The first unescaped ``]`` closes the set, so ``[]`` matches nothing and ``[^]`` matches any
  byte. A range takes whatever byte follows the ``-``, even ``]`` or ``\\``: ``[a-]`` is the
  range ``]``..``a`` (``] ^ _ ` a``) and leaves the set unclosed.
* An unclosed ``[`` runs to the end of the pattern: ``a[bc`` matches ``ab`` and ``ac``, and a
  lone trailing ``[`` matches nothing.
* Range bounds compare as C ``char`` values, which are *signed* on x86-64 builds: bytes
  ``0x80``-``0xff`` sort below ``0x00``. ``[\\x01-\\xc3]`` therefore means bytes
  ``0xc3``-``0xff`` plus ``0x00``-``0x01``, not ``0x01``-``0xc3``. This module copies the x86-64
  behaviour (servers built where ``char`` is unsigned, e.g. ARM, would differ).
* The empty key is matched only by the empty pattern and by ``*`` (``KEYS *`` and ``SCAN``
  without ``MATCH`` list every key without running the matcher; the matcher itself, e.g. for
  ``**``, rejects the empty key).
* Since Redis 7.0.9 / 6.2.11 (CVE-2022-36021) the matcher gives up after 1000 nested ``*``
  expansions. In practice a pattern with more than 1000 ``*`` groups that are followed by
  something else matches nothing at all; this module reproduces that too.

``nocase`` matching (used by other Redis commands, never by ``KEYS``/``SCAN``) is not provided.

Implementation: the pattern is parsed once into "segments" of one-byte tokens separated by
``*`` groups. Every token consumes exactly one byte, so the classic greedy algorithm is exact
and runs without exponential backtracking: the first segment must match at the start, the last
at the end, and each middle segment is found at its leftmost position after the previous one.
Patterns made only of literal bytes and ``*`` (``user:*``, ``*:session``, ``a*b``) are matched
directly on the ``str`` key, without encoding it. For ASCII literals this is exact for every key
(an ASCII byte stands only for itself); for other literals it is exact for keys that are plain
UTF-8 text (UTF-8 is self-synchronising), so non-ASCII keys, which may carry surrogate escapes,
take the bytes path. The rest use one compiled :mod:`re` pattern over bytes per segment.
Compiled predicates are cached.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence

__all__ = ["compile_glob"]

_STAR = ord("*")
_QUESTION = ord("?")
_OPEN = ord("[")
_CLOSE = ord("]")
_CARET = ord("^")
_DASH = ord("-")
_BACKSLASH = ord("\\")

#: Deepest ``*`` recursion a Redis 7 server allows before it reports "no match".
_REDIS_MAX_STAR_NESTING = 1000

#: How many compiled patterns :func:`compile_glob` keeps.
_CACHE_SIZE = 1024

_ALL_BYTES: frozenset[int] = frozenset(range(256))

# One pattern position: an ``int`` is a literal byte, a ``frozenset`` a set of accepted bytes.
_Token = int | frozenset[int]
_Segment = list[_Token]

KeyPredicate = Callable[[str], bool]


def _key_bytes(key: str) -> bytes:
    """Return the bytes a server holds for ``key``.

    Args:
        key: A key; surrogate escapes (``"\\udcfe"``) stand for the byte they escape.

    Returns:
        The key's UTF-8 encoding. A lone surrogate that is no escape (``"\\ud800"``, which no
        server key can hold) is encoded as its three bytes instead of raising.
    """
    try:
        return key.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return key.encode("utf-8", "surrogatepass")


def _signed_char(byte: int) -> int:
    """Return the value a byte has as a signed C ``char`` (x86-64 Redis builds).

    Args:
        byte: A byte value, 0 to 255.

    Returns:
        ``byte`` for 0-127, ``byte - 256`` for 128-255.
    """
    return byte - 256 if byte >= 0x80 else byte


def _parse_class(pattern: bytes, pos: int) -> tuple[frozenset[int], int]:
    """Parse a ``[...]`` set whose opening bracket is just before ``pos``.

    Args:
        pattern: The whole pattern, as bytes.
        pos: Index of the first byte after ``[``.

    Returns:
        The set of bytes the class accepts (negation applied) and the index of the first byte
        after the class. An unclosed class extends to the end of the pattern.
    """
    end = len(pattern)
    negate = pos < end and pattern[pos] == _CARET
    if negate:
        pos += 1
    members: set[int] = set()
    while pos < end:
        byte = pattern[pos]
        if byte == _BACKSLASH and pos + 1 < end:
            members.add(pattern[pos + 1])
            pos += 2
        elif byte == _CLOSE:
            pos += 1
            break
        elif pos + 2 < end and pattern[pos + 1] == _DASH:
            low, high = sorted((_signed_char(byte), _signed_char(pattern[pos + 2])))
            members.update(b for b in range(256) if low <= _signed_char(b) <= high)
            pos += 3
        else:
            members.add(byte)
            pos += 1
    accepted = _ALL_BYTES.difference(members) if negate else frozenset(members)
    return accepted, pos


def _parse(pattern: bytes) -> list[_Segment]:
    """Split a pattern into segments of one-byte tokens separated by ``*`` groups.

    Args:
        pattern: The pattern, as bytes.

    Returns:
        ``n + 1`` segments for a pattern with ``n`` groups of consecutive stars. The first and
        last segments may be empty (pattern starts or ends with ``*``); the others never are.
    """
    segments: list[_Segment] = [[]]
    pos, end = 0, len(pattern)
    while pos < end:
        byte = pattern[pos]
        if byte == _STAR:
            while pos < end and pattern[pos] == _STAR:
                pos += 1
            segments.append([])
            continue
        token: _Token
        if byte == _QUESTION:
            token = _ALL_BYTES
            pos += 1
        elif byte == _OPEN:
            token, pos = _parse_class(pattern, pos + 1)
        elif byte == _BACKSLASH and pos + 1 < end:
            token = pattern[pos + 1]
            pos += 2
        else:
            token = byte
            pos += 1
        segments[-1].append(token)
    return segments


def _literal_text(segment: _Segment) -> str | None:
    """Return a segment as text if it holds only literal bytes that are valid UTF-8.

    Args:
        segment: A parsed segment.

    Returns:
        The decoded text, or ``None`` if the segment has a ``?`` or a class, or if its bytes
        are not valid UTF-8 (such as a byte given as a surrogate escape).
    """
    raw = bytearray()
    for token in segment:
        if not isinstance(token, int):
            return None
        raw.append(token)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _byte_class_regex(accepted: frozenset[int]) -> bytes:
    """Return a bytes regex fragment that matches exactly one byte from ``accepted``.

    Args:
        accepted: The bytes to accept.

    Returns:
        The fragment; ``(?!)`` (never matches) for an empty set, ``.`` for all bytes (the
        caller compiles with :data:`re.DOTALL`).
    """
    if not accepted:
        return b"(?!)"
    if len(accepted) == 256:
        return b"."
    runs: list[bytes] = []
    ordered = sorted(accepted)
    start = prev = ordered[0]
    for byte in [*ordered[1:], -1]:
        if byte == prev + 1:
            prev = byte
            continue
        if start == prev:
            runs.append(b"\\x%02x" % start)
        else:
            runs.append(b"\\x%02x-\\x%02x" % (start, prev))
        start = prev = byte
    return b"[" + b"".join(runs) + b"]"


def _segment_regex(segment: _Segment) -> re.Pattern[bytes]:
    """Compile a segment into a fixed-width regex over bytes.

    Args:
        segment: A parsed segment.

    Returns:
        A pattern matching exactly ``len(segment)`` bytes.
    """
    parts = [
        b"\\x%02x" % token if isinstance(token, int) else _byte_class_regex(token)
        for token in segment
    ]
    return re.compile(b"".join(parts), re.DOTALL)


def _always(key: str) -> bool:
    """Accept every key (the pattern ``*``).

    Args:
        key: Ignored.

    Returns:
        Always ``True``.
    """
    return True


def _never(key: str) -> bool:
    """Reject every key (patterns Redis gives up on).

    Args:
        key: Ignored.

    Returns:
        Always ``False``.
    """
    return False


def _text_matcher(texts: Sequence[str]) -> KeyPredicate:
    """Build a predicate for a pattern made of literal segments and ``*`` groups only.

    Args:
        texts: The decoded segments; at least two (i.e. the pattern has a ``*``).

    Returns:
        The predicate, working directly on the ``str`` key.
    """
    head, *middle, tail = texts
    if not middle:
        if not tail:
            if not head:  # "**" etc.: Redis's matcher rejects only the empty key
                return lambda key: key != ""
            return lambda key: key.startswith(head)
        if not head:
            return lambda key: key.endswith(tail)
        fixed = len(head) + len(tail)
        return lambda key: len(key) >= fixed and key.startswith(head) and key.endswith(tail)
    if not head and not tail and len(middle) == 1:
        needle = middle[0]
        return lambda key: needle in key

    fixed = len(head) + sum(map(len, middle)) + len(tail)

    def match(key: str) -> bool:
        if not key or len(key) < fixed or not key.startswith(head) or not key.endswith(tail):
            return False
        pos, stop = len(head), len(key) - len(tail)
        for needle in middle:
            found = key.find(needle, pos, stop)
            if found < 0:
                return False
            pos = found + len(needle)
        return True

    return match


def _bytes_matcher(segments: Sequence[_Segment]) -> KeyPredicate:
    """Build a predicate for any parsed pattern, matching on the key's UTF-8 bytes.

    Args:
        segments: The parsed pattern (see :func:`_parse`).

    Returns:
        The predicate.
    """
    if len(segments) == 1:
        width = len(segments[0])
        whole = _segment_regex(segments[0])

        def match_exact(key: str) -> bool:
            raw = _key_bytes(key)
            return len(raw) == width and whole.match(raw) is not None

        return match_exact

    head_width, tail_width = len(segments[0]), len(segments[-1])
    head = _segment_regex(segments[0])
    tail = _segment_regex(segments[-1])
    middle = [_segment_regex(segment) for segment in segments[1:-1]]
    fixed = sum(map(len, segments))

    def match(key: str) -> bool:
        raw = _key_bytes(key)
        size = len(raw)
        if not size or size < fixed:
            return False
        stop = size - tail_width
        if head.match(raw) is None or tail.match(raw, stop) is None:
            return False
        pos = head_width
        for regex in middle:
            found = regex.search(raw, pos, stop)
            if found is None:
                return False
            pos = found.end()
        return True

    return match


@functools.lru_cache(maxsize=_CACHE_SIZE)
def compile_glob(pattern: str) -> KeyPredicate:
    """Compile a Redis ``KEYS`` / ``SCAN MATCH`` glob into a key predicate.

    The predicate answers exactly what a Redis 7 server (x86-64 build) answers for the same
    pattern and key, comparing UTF-8 bytes; see the module docstring for the rules. Results are
    cached, so compiling the same pattern again is cheap.

    Args:
        pattern: The glob, as given to ``KEYS`` or ``SCAN ... MATCH``.

    Returns:
        A function that takes a key and returns whether the pattern matches it.

    Examples:
        >>> compile_glob("user:*")("user:42")
        True
        >>> compile_glob("h[^e]llo")("hello")
        False
        >>> compile_glob("?")("é")  # one byte, but "é" is two
        False
    """
    if pattern == "*":
        return _always
    # A lone surrogate that is no escape raises UnicodeEncodeError, as the redis driver does.
    segments = _parse(pattern.encode("utf-8", "surrogateescape"))
    # Redis recurses once per "*" group that has something after it, and answers "no match"
    # once that recursion is deeper than 1000, whatever the key.
    nested = len(segments) - 1 - (not segments[-1])
    if nested > _REDIS_MAX_STAR_NESTING:
        return _never
    texts = [_literal_text(segment) for segment in segments]
    if not all(text is not None for text in texts):
        return _bytes_matcher(segments)
    literals = [text for text in texts if text is not None]
    if len(literals) == 1:
        only = literals[0]
        text_match: KeyPredicate = lambda key: key == only  # noqa: E731
    else:
        text_match = _text_matcher(literals)
    if all(text.isascii() for text in literals):
        return text_match
    # Non-ASCII literals compare as text only with keys that are plain UTF-8 text; a key with
    # surrogate escapes ("\\udcc3\\udca9" is the server key "é") is matched on its bytes.
    bytes_match = _bytes_matcher(segments)
    return lambda key: text_match(key) if key.isascii() else bytes_match(key)
