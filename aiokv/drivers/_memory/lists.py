"""Memory handlers for the list commands (:mod:`aiokv.commands.lists`)."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from ..._codec import INT64_MAX, INT64_MIN
from ..._exceptions import InvalidArgumentError, NotAnIntegerError
from ...commands import lists as spec
from .store import Store, handles, text


class ListHandlers(Store):
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
        return len(items)

    @handles(spec.RPUSH)
    async def rpush(self, key: str, values: Sequence[str | bytes]) -> int:
        texts = [text(v) for v in values]
        items = self._list_for_push(key)
        items.extend(texts)
        return len(items)

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
