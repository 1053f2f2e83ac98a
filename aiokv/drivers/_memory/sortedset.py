"""The memory driver's sorted set: scores by member, plus the entries in (score, member) order.

The order is a list of sorted chunks of at most ``2 * _LOAD`` entries, the largest entry of each
chunk beside it (``_maxes``), and a Fenwick tree over the chunk lengths for positions. Finding an
entry is a bisection of the maxima and then of one chunk; an insert or delete moves at most
``2 * _LOAD`` pointers inside one chunk (a C ``memmove``) and updates O(log chunks) tree
counters; a rank is a tree prefix sum, and the entry at a rank a tree descent. So ``zadd`` and
``zrank`` are O(log n) with the constant of C bisection. A skip list has the same bounds, but in
pure Python each of its ~20 levels is an interpreted step with an allocation per node.

Entries are ``(score, key)`` tuples. The key orders as the member's bytes do under ``memcmp`` (a
server breaks score ties that way): it is the member itself when it is ASCII (no copy), and
otherwise the member's UTF-8 bytes spelled as Latin-1 text, one character per byte.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterator
from operator import itemgetter

__all__ = ["MAX_COMPACT_ENTRIES", "MAX_COMPACT_MEMBER", "SortedSet", "member_of", "sort_key"]

Entry = tuple[float, str]

_LOAD = 512
# A server keeps small sorted sets in a compact encoding (a listpack) that writes a score of
# -0.0 as 0; these are its default limits (zset-max-listpack-entries / -value).
MAX_COMPACT_ENTRIES = 128
MAX_COMPACT_MEMBER = 64

_score = itemgetter(0)
_name = itemgetter(1)


def sort_key(member: str) -> str:
    """The key of a member (canonical text): text whose order is its UTF-8 bytes' order."""
    if member.isascii():
        return member
    return member.encode("utf-8", "surrogateescape").decode("latin-1")


def member_of(key: str) -> str:
    """The member a key stands for (the inverse of :func:`sort_key`)."""
    if key.isascii():
        return key
    return key.encode("latin-1").decode("utf-8", "surrogateescape")


class SortedSet:
    """A sorted set, members held as keys (see :func:`sort_key`).

    Attributes:
        scores: Key -> score.
        compact: True while a server would hold this set as a listpack: -0.0 is stored as 0.
    """

    __slots__ = ("_chunks", "_maxes", "_tree", "compact", "scores")

    def __init__(self) -> None:
        self.scores: dict[str, float] = {}
        self.compact = True
        self._chunks: list[list[Entry]] = []
        self._maxes: list[Entry] = []
        self._tree: list[int] | None = None

    def __len__(self) -> int:
        return len(self.scores)

    # -- members -----------------------------------------------------------------------------

    def set(self, key: str, score: float) -> None:
        """Give ``key`` the ``score`` (adding it if new), as a server stores it."""
        scores = self.scores
        old = scores.get(key)
        if old is None:
            if self.compact and (
                len(scores) >= MAX_COMPACT_ENTRIES or len(key) > MAX_COMPACT_MEMBER
            ):
                self.compact = False
        else:
            self._delete((old, key))
        if score == 0.0 and self.compact:
            score = 0.0  # -0.0 becomes 0, as in a listpack
        scores[key] = score
        self._insert((score, key))

    def discard(self, key: str) -> bool:
        score = self.scores.pop(key, None)
        if score is None:
            return False
        self._delete((score, key))
        return True

    def rank(self, key: str) -> int | None:
        """The 0-based position of ``key`` in ascending order, or None if it is absent."""
        score = self.scores.get(key)
        if score is None:
            return None
        entry = (score, key)
        i = bisect_left(self._maxes, entry)
        return self._before(i) + bisect_left(self._chunks[i], entry)

    @classmethod
    def build(cls, scores: dict[str, float]) -> SortedSet:
        """A set holding ``scores`` (taken over), as a server stores a command's result: in
        the compact encoding if it is small enough."""
        zset = cls()
        zset.compact = len(scores) <= MAX_COMPACT_ENTRIES and all(
            len(key) <= MAX_COMPACT_MEMBER for key in scores
        )
        if zset.compact:
            for key, score in scores.items():
                if score == 0.0:
                    scores[key] = 0.0
        entries = sorted([(score, key) for key, score in scores.items()])
        zset.scores = scores
        zset._chunks = [entries[i : i + _LOAD] for i in range(0, len(entries), _LOAD)]
        zset._maxes = [chunk[-1] for chunk in zset._chunks]
        return zset

    # -- positions ---------------------------------------------------------------------------

    def score_index(self, score: float, after: bool) -> int:
        """The position of the first entry whose score is >= ``score`` (> if ``after``)."""
        search = bisect_right if after else bisect_left
        i = search(self._maxes, score, key=_score)
        if i == len(self._maxes):
            return len(self.scores)
        return self._before(i) + search(self._chunks[i], score, key=_score)

    def key_index(self, key: str, after: bool) -> int:
        """The position of the first entry whose key is >= ``key`` (> if ``after``), entries
        taken to share one score (as lexicographic ranges do)."""
        search = bisect_right if after else bisect_left
        i = search(self._maxes, key, key=_name)
        if i == len(self._maxes):
            return len(self.scores)
        return self._before(i) + search(self._chunks[i], key, key=_name)

    def entries(self, start: int, stop: int) -> list[Entry]:
        """The entries at positions ``start`` to ``stop`` (exclusive), in ascending order."""
        if start >= stop:
            return []
        i, j = self._locate(start)
        chunks = self._chunks
        wanted = stop - start
        out = chunks[i][j : j + wanted]
        while len(out) < wanted:
            i += 1
            out += chunks[i][: wanted - len(out)]
        return out

    def __iter__(self) -> Iterator[Entry]:
        for chunk in self._chunks:
            yield from chunk

    def remove_range(self, start: int, stop: int) -> list[Entry]:
        """Remove and return the entries at positions ``start`` to ``stop`` (exclusive)."""
        removed = self.entries(start, stop)
        if not removed:
            return removed
        scores = self.scores
        for _, key in removed:
            del scores[key]
        i, j = self._locate(start)
        chunks, maxes = self._chunks, self._maxes
        remaining = len(removed)
        reshaped = False
        while remaining:
            chunk = chunks[i]
            take = min(len(chunk) - j, remaining)
            del chunk[j : j + take]
            remaining -= take
            if chunk:
                maxes[i] = chunk[-1]
                if not reshaped:
                    self._grow(i, -take)
                i += 1
            else:
                del chunks[i], maxes[i]
                reshaped = True
            j = 0
        if reshaped:
            self._tree = None
        return removed

    # -- the chunks --------------------------------------------------------------------------

    def _insert(self, entry: Entry) -> None:
        chunks, maxes = self._chunks, self._maxes
        if not chunks:
            chunks.append([entry])
            maxes.append(entry)
            self._tree = None
            return
        i = bisect_left(maxes, entry)
        if i == len(maxes):
            i -= 1
            chunk = chunks[i]
            chunk.append(entry)
            maxes[i] = entry
        else:
            chunk = chunks[i]
            insort(chunk, entry)
        if len(chunk) > 2 * _LOAD:
            chunks.insert(i + 1, chunk[_LOAD:])
            del chunk[_LOAD:]
            maxes.insert(i, chunk[-1])
            self._tree = None
        else:
            self._grow(i, 1)

    def _delete(self, entry: Entry) -> None:
        chunks, maxes = self._chunks, self._maxes
        i = bisect_left(maxes, entry)
        chunk = chunks[i]
        j = bisect_left(chunk, entry)
        del chunk[j]
        if not chunk:
            del chunks[i], maxes[i]
            self._tree = None
            return
        if j == len(chunk):
            maxes[i] = chunk[-1]
        if len(chunk) < _LOAD // 2 and len(chunks) > 1:
            if i == len(chunks) - 1:
                i -= 1
            chunks[i] += chunks.pop(i + 1)
            del maxes[i]
            merged = chunks[i]
            if len(merged) > 2 * _LOAD:
                chunks.insert(i + 1, merged[_LOAD:])
                del merged[_LOAD:]
                maxes.insert(i, merged[-1])
            self._tree = None
        else:
            self._grow(i, -1)

    # -- the Fenwick tree over chunk lengths (built lazily after a split or merge) -----------

    def _built(self) -> list[int]:
        tree = self._tree
        if tree is None:
            totals = [0]
            for chunk in self._chunks:
                totals.append(totals[-1] + len(chunk))
            tree = self._tree = [0] + [
                totals[i] - totals[i & (i - 1)] for i in range(1, len(totals))
            ]
        return tree

    def _grow(self, i: int, delta: int) -> None:
        tree = self._tree
        if tree is None:
            return
        size = len(tree)
        i += 1
        while i < size:
            tree[i] += delta
            i += i & -i

    def _before(self, i: int) -> int:
        """The number of entries in the chunks before chunk ``i``."""
        if not i:
            return 0
        tree = self._built()
        total = 0
        while i:
            total += tree[i]
            i &= i - 1
        return total

    def _locate(self, index: int) -> tuple[int, int]:
        """The chunk holding position ``index`` (< len) and the offset within it."""
        if len(self._chunks) == 1:
            return 0, index
        tree = self._built()
        size = len(tree) - 1
        pos = 0
        step = 1 << (size.bit_length() - 1)
        while step:
            nxt = pos + step
            if nxt <= size and tree[nxt] <= index:
                pos = nxt
                index -= tree[nxt]
            step >>= 1
        return pos, index
