"""Memory handlers for the list commands (:mod:`aiokv.commands.lists`)."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from ..._codec import INT64_MAX, INT64_MIN
from ..._exceptions import CommandError, InvalidArgumentError, NoSuchKeyError, NotAnIntegerError
from ...commands import lists as spec
from .store import handles, text
from .waiting import WaitingRoom


class ListHandlers(WaitingRoom):
    def _list_for_push(self, key: str) -> deque[str]:
        items: deque[str] | None = self._typed(key, deque)
        if items is None:
            items = deque()
            self._create(key, items)
        else:
            self._touch(key)
        return items

    @handles(spec.LPUSH)
    async def lpush(self, key: str, values: Sequence[str | bytes]) -> int:
        texts = [text(v) for v in values]
        items = self._list_for_push(key)
        items.extendleft(texts)
        return self._pushed(key, len(items))

    @handles(spec.RPUSH)
    async def rpush(self, key: str, values: Sequence[str | bytes]) -> int:
        texts = [text(v) for v in values]
        items = self._list_for_push(key)
        items.extend(texts)
        return self._pushed(key, len(items))

    def _pop(self, key: str, count: int | None, left: bool) -> str | list[str] | None:
        if count is not None and count > INT64_MAX:
            # Redis parses the count (a 64-bit long) before it looks at the key.
            raise InvalidArgumentError("ERR value is out of range, must be positive")
        items: deque[str] | None = self._typed(key, deque)
        if items is None:
            return None
        pop = items.popleft if left else items.pop
        if count is None:
            result: str | list[str] = pop()
        else:
            result = [pop() for _ in range(min(count, len(items)))]
        if not items:
            self._remove(key)
        else:
            self._touch(key)
        return result

    @handles(spec.LPOP)
    async def lpop(self, key: str, count: int | None) -> str | list[str] | None:
        return self._pop(key, count, left=True)

    @handles(spec.RPOP)
    async def rpop(self, key: str, count: int | None) -> str | list[str] | None:
        return self._pop(key, count, left=False)

    @handles(spec.LLEN)
    async def llen(self, key: str) -> int:
        items: deque[str] | None = self._typed(key, deque)
        return 0 if items is None else len(items)

    @handles(spec.LRANGE)
    async def lrange(self, key: str, start: int, stop: int) -> list[str]:
        if not (INT64_MIN <= start <= INT64_MAX and INT64_MIN <= stop <= INT64_MAX):
            # Redis parses both indexes as 64-bit longs before it looks at the key.
            raise NotAnIntegerError()
        items: deque[str] | None = self._typed(key, deque)
        if items is None:
            return []
        self._touch(key)
        size = len(items)
        if start < 0:
            start = max(start + size, 0)
        if stop < 0:
            stop += size
        stop = min(stop, size - 1)
        if start > stop:
            return []
        if start == 0 and stop == size - 1:
            return list(items)
        return [items[i] for i in range(start, stop + 1)]

    @handles(spec.LINDEX)
    async def lindex(self, key: str, index: int) -> str | None:
        items: deque[str] | None = self._typed(key, deque)
        if items is None:
            return None
        self._touch(key)
        if index < 0:
            index += len(items)
        return items[index] if 0 <= index < len(items) else None

    @handles(spec.LSET)
    async def lset(self, key: str, index: int, value: str | bytes) -> None:
        item = text(value)
        items: deque[str] | None = self._typed(key, deque)
        if items is None:
            raise NoSuchKeyError()
        if index < 0:
            index += len(items)
        if not 0 <= index < len(items):
            raise CommandError("ERR index out of range")
        items[index] = item
        self._touch(key)

    def _replace(self, key: str, items: deque[str], kept: list[str]) -> None:
        """Make ``kept`` the list's contents; an empty list vanishes."""
        if kept:
            items.clear()
            items.extend(kept)
            self._touch(key)
        else:
            self._remove(key)

    @handles(spec.LREM)
    async def lrem(self, key: str, count: int, value: str | bytes) -> int:
        item = text(value)
        items: deque[str] | None = self._typed(key, deque)
        if items is None:
            return 0
        limit = abs(count) or len(items)
        order = list(items) if count >= 0 else list(reversed(items))
        kept: list[str] = []
        removed = 0
        for element in order:
            if removed < limit and element == item:
                removed += 1
            else:
                kept.append(element)
        if removed:
            self._replace(key, items, kept if count >= 0 else kept[::-1])
        return removed

    @handles(spec.LTRIM)
    async def ltrim(self, key: str, start: int, stop: int) -> None:
        items: deque[str] | None = self._typed(key, deque)
        if items is None:
            return
        size = len(items)
        if start < 0:
            start = max(start + size, 0)
        if stop < 0:
            stop += size
        stop = min(stop, size - 1)
        if start > stop:
            self._remove(key)
        elif start > 0 or stop < size - 1:
            self._replace(key, items, [items[i] for i in range(start, stop + 1)])

    @handles(spec.LINSERT)
    async def linsert(self, key: str, where: str, pivot: str | bytes, value: str | bytes) -> int:
        anchor, item = text(pivot), text(value)
        items: deque[str] | None = self._typed(key, deque)
        if items is None:
            return 0
        try:
            position = items.index(anchor)
        except ValueError:
            return -1
        items.insert(position if where == "BEFORE" else position + 1, item)
        self._touch(key)
        return len(items)

    @handles(spec.LPOS)
    async def lpos(
        self,
        key: str,
        value: str | bytes,
        rank: int | None,
        count: int | None,
        maxlen: int | None,
    ) -> int | list[int] | None:
        item = text(value)
        items: deque[str] | None = self._typed(key, deque)
        if items is None:
            return None if count is None else []
        self._touch(key)
        size = len(items)
        skip = abs(rank or 1) - 1  # matches to pass over before the first one returned
        want = 1 if count is None else count or size
        scanned = size if not maxlen else min(maxlen, size)
        backwards = rank is not None and rank < 0
        found: list[int] = []
        for step in range(scanned):
            index = size - 1 - step if backwards else step
            if items[index] == item:
                if skip:
                    skip -= 1
                    continue
                found.append(index)
                if len(found) >= want:
                    break
        if count is None:
            return found[0] if found else None
        return found

    @handles(spec.LMOVE)
    async def lmove(self, source: str, destination: str, start: str, end: str) -> str | None:
        items: deque[str] | None = self._typed(source, deque)
        if items is None:
            return None
        target: deque[str] | None = self._typed(destination, deque)
        item = items.popleft() if start == "LEFT" else items.pop()
        if target is items:
            pass  # a rotation: the list is never empty in between
        elif not items:
            self._remove(source)  # before creating the destination, which may evict keys
        else:
            self._touch(source)
        if target is None:
            target = deque()
            self._create(destination, target)
        else:
            self._touch(destination)
        if end == "LEFT":
            target.appendleft(item)
        else:
            target.append(item)
        return self._pushed(destination, item)

    def _push_existing(self, key: str, values: Sequence[str | bytes], left: bool) -> int:
        texts = [text(v) for v in values]
        items: deque[str] | None = self._typed(key, deque)
        if items is None:
            return 0
        if left:
            items.extendleft(texts)
        else:
            items.extend(texts)
        self._touch(key)
        return len(items)

    @handles(spec.LPUSHX)
    async def lpushx(self, key: str, values: Sequence[str | bytes]) -> int:
        return self._push_existing(key, values, left=True)

    @handles(spec.RPUSHX)
    async def rpushx(self, key: str, values: Sequence[str | bytes]) -> int:
        return self._push_existing(key, values, left=False)
