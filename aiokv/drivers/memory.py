"""The in-process driver: a dict-backed command engine with Redis 7 semantics.

Concurrency: every command body runs to completion without awaiting, so on one event loop each
command is atomic (1,000 concurrent ``incr`` give 1,000) and no lock is taken per call.

Expiry: deadlines live beside the data (``_expires``, monotonic seconds). Every lookup drops an
expired key first (lazy expiry), and a reaper task reclaims keys nobody touches again (active
expiry). Instead of Redis's random sampling, which needs O(1) random access a dict does not give,
keys with a TTL are filed in one-second buckets; the reaper empties the buckets whose second has
passed, a few thousand keys at a time, yielding to the event loop between slices. Bucket upkeep is
O(1) per TTL change, so nothing goes stale and no per-key timer exists.
"""

from __future__ import annotations

import builtins
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup

from .._codec import INT64_MAX, INT64_MIN, add_checked, parse_int
from .._exceptions import (
    DriverUnavailableError,
    InvalidArgumentError,
    NotAnIntegerError,
    ValueDecodeError,
    WrongTypeError,
)
from .._glob import compile_glob
from .._script import Script, ScriptArg
from .._settings import KVSettings
from ._eviction import Evictor

__all__ = ["MemoryDriver"]

# A slice of reaper work stops after this long, then yields to the event loop.
_REAP_BUDGET = 0.002
_CHECK_CLOCK_EVERY = 64
# Expire times (ms) beyond this get Redis's range checks; below it they cannot fail them.
_HUGE_MS = INT64_MAX // 2

_TYPE_NAMES: dict[type, str] = {
    str: "string",
    bytes: "string",
    dict: "hash",
    deque: "list",
    set: "set",
}


def _check_expire_ms(ms: int, command: str) -> None:
    """Redis's checks on an expire time in ms: a 64-bit long that must not overflow when the
    server adds the Unix time in ms to it."""
    if not INT64_MIN <= ms <= INT64_MAX:
        raise NotAnIntegerError()
    if ms > INT64_MAX - int(time.time() * 1000):
        raise InvalidArgumentError(f"ERR invalid expire time in '{command}' command")


def _text(item: str | bytes) -> str:
    # Container members are canonical text; undecodable bytes survive as surrogate escapes.
    if type(item) is str:
        if item.isascii():
            return item
        # Surrogate escapes stand for the bytes a server would store: "\udcc3\udca9" is the
        # UTF-8 of "é", so both are one member. (Other lone surrogates raise, as on a server.)
        return item.encode("utf-8", "surrogateescape").decode("utf-8", "surrogateescape")
    return item.decode("utf-8", "surrogateescape")  # type: ignore[union-attr]


def _string_value(text: str) -> str | bytes:
    r"""Store non-ASCII text as a server would hold it: surrogate escapes become their bytes.

    "\udcc3\udca9" is the UTF-8 of "é", so it is stored as "é"; escapes of bytes that are not
    UTF-8 are stored as those bytes, so get() raises ValueDecodeError as it does on a server.
    Other lone surrogates raise UnicodeEncodeError, as the redis driver does.
    """
    raw = text.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


class MemoryDriver:
    """Redis semantics in a dict. See :class:`aiokv._protocol.Driver` for each command."""

    def __init__(self, settings: KVSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self._data: dict[str, Any] = {}
        self._expires: dict[str, float] = {}
        # Buckets are dicts used as ordered sets: a dict of str keys and None values is not
        # tracked by the garbage collector, while a set always is, and a collection pass over
        # a million young bucket members stalled the event loop for ~60 ms in the reaper bench.
        self._buckets: dict[int, dict[str, None]] = {}
        self._reaped_until = int(clock())
        self._clock = clock
        self._interval = settings.memory_reaper_interval
        self._cancel: Callable[[], object] | None = None
        self._evictor = (
            Evictor(self, settings.memory_max_keys, settings.memory_eviction_policy)
            if settings.memory_max_keys is not None
            else None
        )

    # -- lifetime ----------------------------------------------------------------------------

    def open(self, task_group: TaskGroup | None) -> None:
        if task_group is not None:
            scope = anyio.CancelScope()
            task_group.start_soon(self._run_reaper, scope)
            self._cancel = scope.cancel
            return
        try:
            import asyncio

            task = asyncio.get_running_loop().create_task(self._run_reaper(None))
        except RuntimeError:
            raise DriverUnavailableError(
                "outside asyncio the memory driver's expiry reaper needs a task group: "
                "open the client with `async with AsyncClient() as kv:`"
            ) from None
        self._cancel = task.cancel

    async def aclose(self) -> None:
        if self._cancel is not None:
            self._cancel()
            self._cancel = None

    async def _run_reaper(self, scope: anyio.CancelScope | None) -> None:
        if scope is None:
            await self._reap_forever()
            return
        with scope:
            await self._reap_forever()

    async def _reap_forever(self) -> None:
        while True:
            more = self.reap(_REAP_BUDGET)
            await anyio.sleep(0 if more else self._interval)

    # -- expiry internals --------------------------------------------------------------------

    def reap(self, budget: float) -> bool:
        """Delete keys whose one-second bucket has passed, for up to ``budget`` seconds.

        Returns True when due work remains (the caller yields, then calls again).
        """
        buckets = self._buckets
        if not buckets:
            self._reaped_until = int(self._clock())
            return False
        data, expires, clock, evictor = self._data, self._expires, self._clock, self._evictor
        start = clock()
        due_before = int(start)
        done = 0
        second = self._reaped_until
        while second < due_before:
            bucket = buckets.get(second)
            if bucket:
                while bucket:
                    key = bucket.popitem()[0]
                    del expires[key]
                    del data[key]
                    if evictor is not None:
                        evictor.forget(key)
                    done += 1
                    if done % _CHECK_CLOCK_EVERY == 0 and clock() - start > budget:
                        self._reaped_until = second
                        return True
            buckets.pop(second, None)
            second += 1
            if not buckets:
                second = due_before
        self._reaped_until = second
        return False

    def _set_deadline(self, key: str, ms: int) -> None:
        expires = self._expires
        deadline = self._clock() + ms / 1000
        old = expires.get(key)
        expires[key] = deadline
        second = int(deadline)
        if old is None or int(old) != second:
            self._refile(key, second, old)

    def _refile(self, key: str, second: int, old: float | None) -> None:
        """Move ``key`` from the bucket of its ``old`` deadline (if any) to ``second``'s."""
        buckets = self._buckets
        if old is not None:
            previous = buckets[int(old)]
            previous.pop(key, None)
            if not previous:
                del buckets[int(old)]
        bucket = buckets.get(second)
        if bucket is None:
            buckets[second] = {key: None}
        else:
            bucket[key] = None

    def _clear_deadline(self, key: str) -> bool:
        old = self._expires.pop(key, None)
        if old is None:
            return False
        second = int(old)
        bucket = self._buckets[second]
        bucket.pop(key, None)
        if not bucket:
            del self._buckets[second]
        return True

    def _remove(self, key: str) -> None:
        del self._data[key]
        if self._expires:
            self._clear_deadline(key)
        if self._evictor is not None:
            self._evictor.forget(key)

    def _lookup(self, key: str) -> Any:
        """The live value at ``key`` or None; an expired key is dropped first."""
        value = self._data.get(key)
        if value is not None and self._expires:
            deadline = self._expires.get(key)
            if deadline is not None and self._clock() > deadline:
                self._remove(key)
                return None
        return value

    def _typed(self, key: str, kind: type) -> Any:
        value = self._lookup(key)
        if value is not None and type(value) is not kind:
            raise WrongTypeError()
        return value

    def _create(self, key: str, value: Any) -> None:
        if self._evictor is not None:
            self._evictor.make_room(key)
        self._data[key] = value

    def _touch(self, key: str) -> None:
        if self._evictor is not None:
            self._evictor.touch(key)

    # -- strings -----------------------------------------------------------------------------

    async def set(self, key: str, value: str | bytes, px: int | None, nx: bool, xx: bool) -> bool:
        if px is not None and px > _HUGE_MS:
            _check_expire_ms(px, "set")
        data = self._data
        if nx or xx:
            exists = self._lookup(key) is not None
            if (nx and exists) or (xx and not exists):
                return False
        if self._evictor is not None and key not in data:
            self._evictor.make_room(key)
        if type(value) is str and not value.isascii():  # isascii() is O(1): a flag on the str
            value = _string_value(value)
        data[key] = value
        if px is not None:
            # _set_deadline inlined: SET with a TTL is the cache's hot path.
            expires = self._expires
            deadline = self._clock() + px / 1000
            old = expires.get(key)
            expires[key] = deadline
            second = int(deadline)
            if old is None or int(old) != second:
                self._refile(key, second, old)
        elif self._expires:
            self._clear_deadline(key)
        return True

    async def get(self, key: str) -> str | None:
        # The hot path: inlined lookup, no helper calls on a hit without TTL.
        value = self._data.get(key)
        if value is None:
            return None
        if self._expires:
            deadline = self._expires.get(key)
            if deadline is not None and self._clock() > deadline:
                self._remove(key)
                return None
        if self._evictor is not None:
            self._evictor.touch(key)
        if type(value) is str:
            return value
        if type(value) is bytes:
            try:
                return value.decode()
            except UnicodeDecodeError:
                raise ValueDecodeError(key) from None
        raise WrongTypeError()

    async def get_bytes(self, key: str) -> bytes | None:
        value = self._lookup(key)
        if value is None:
            return None
        self._touch(key)
        if type(value) is bytes:
            return value
        if type(value) is str:
            return value.encode("utf-8", "surrogateescape")
        raise WrongTypeError()

    async def incrby(self, key: str, amount: int) -> int:
        value = self._lookup(key)
        if value is None:
            result = add_checked(0, amount)
            self._create(key, str(result))
            return result
        if type(value) is not str and type(value) is not bytes:
            raise WrongTypeError()
        result = add_checked(parse_int(value), amount)
        self._data[key] = str(result)
        self._touch(key)
        return result

    # -- keyspace ----------------------------------------------------------------------------

    async def delete(self, keys: Sequence[str]) -> int:
        removed = 0
        for key in set(keys):
            if self._lookup(key) is not None:
                self._remove(key)
                removed += 1
        return removed

    async def exists(self, keys: Sequence[str]) -> int:
        return sum(1 for key in keys if self._lookup(key) is not None)

    async def pexpire(self, key: str, ms: int) -> bool:
        if not -_HUGE_MS <= ms <= _HUGE_MS:
            _check_expire_ms(ms, "pexpire")
        if self._lookup(key) is None:
            return False
        if ms <= 0:
            self._remove(key)
        else:
            self._set_deadline(key, ms)
        return True

    async def persist(self, key: str) -> bool:
        if self._lookup(key) is None:
            return False
        return self._clear_deadline(key)

    async def pttl(self, key: str) -> int:
        if self._lookup(key) is None:
            return -2
        deadline = self._expires.get(key)
        if deadline is None:
            return -1
        # Deadlines are floats; the epsilon keeps 1.5 s from reading as 1501 ms.
        return max(0, math.ceil((deadline - self._clock()) * 1000 - 1e-6))

    async def ttl(self, key: str) -> int:
        ms = await self.pttl(key)
        return ms if ms < 0 else (ms + 500) // 1000

    async def type(self, key: str) -> str:
        value = self._lookup(key)
        return "none" if value is None else _TYPE_NAMES[type(value)]

    def _live_matching(self, keys: Iterable[str], pattern: str) -> list[str]:
        match = compile_glob(pattern)
        found = []
        for key in keys:
            if match(key) and self._lookup(key) is not None:
                found.append(key)
        return found

    async def keys(self, pattern: str) -> list[str]:
        return self._live_matching(list(self._data), pattern)

    async def scan_iter(self, pattern: str, count: int) -> AsyncIterator[str]:
        snapshot = list(self._data)
        for start in range(0, len(snapshot), count):
            for key in self._live_matching(snapshot[start : start + count], pattern):
                yield key
            await anyio.lowlevel.checkpoint()

    async def dbsize(self) -> int:
        return len(self._data)

    async def flushdb(self) -> None:
        self._data.clear()
        self._expires.clear()
        self._buckets.clear()
        if self._evictor is not None:
            self._evictor.clear()

    async def ping(self) -> bool:
        return True

    # -- hashes ------------------------------------------------------------------------------

    # Arguments are converted to text before the store is touched: a member that cannot be
    # encoded fails the whole command with nothing changed, as on a server (where the client
    # fails to encode the command before sending it).

    async def hset(self, key: str, mapping: Mapping[str | bytes, str | bytes]) -> int:
        pairs = [(_text(field), _text(value)) for field, value in mapping.items()]
        fields: dict[str, str] | None = self._typed(key, dict)
        if fields is None:
            fields = {}
            self._create(key, fields)
        else:
            self._touch(key)
        before = len(fields)
        fields.update(pairs)
        return len(fields) - before

    async def hget(self, key: str, field: str | bytes) -> str | None:
        name = _text(field)
        fields: dict[str, str] | None = self._typed(key, dict)
        if fields is None:
            return None
        self._touch(key)
        return fields.get(name)

    async def hgetall(self, key: str) -> dict[str, str]:
        fields: dict[str, str] | None = self._typed(key, dict)
        if fields is None:
            return {}
        self._touch(key)
        return dict(fields)

    async def hdel(self, key: str, fields: Sequence[str | bytes]) -> int:
        names = [_text(field) for field in fields]
        stored: dict[str, str] | None = self._typed(key, dict)
        if stored is None:
            return 0
        before = len(stored)
        for name in names:
            stored.pop(name, None)
        if not stored:
            self._remove(key)
        return before - len(stored)

    # -- lists -------------------------------------------------------------------------------

    def _list_for_push(self, key: str) -> deque[str]:
        items: deque[str] | None = self._typed(key, deque)
        if items is None:
            items = deque()
            self._create(key, items)
        else:
            self._touch(key)
        return items

    async def lpush(self, key: str, values: Sequence[str | bytes]) -> int:
        texts = [_text(v) for v in values]
        items = self._list_for_push(key)
        items.extendleft(texts)
        return len(items)

    async def rpush(self, key: str, values: Sequence[str | bytes]) -> int:
        texts = [_text(v) for v in values]
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

    async def lpop(self, key: str, count: int | None) -> str | list[str] | None:
        return self._pop(key, count, left=True)

    async def rpop(self, key: str, count: int | None) -> str | list[str] | None:
        return self._pop(key, count, left=False)

    async def llen(self, key: str) -> int:
        items: deque[str] | None = self._typed(key, deque)
        return 0 if items is None else len(items)

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

    # -- sets --------------------------------------------------------------------------------

    async def sadd(self, key: str, members: Sequence[str | bytes]) -> int:
        texts = [_text(m) for m in members]
        stored: builtins.set[str] | None = self._typed(key, set)
        if stored is None:
            stored = set()
            self._create(key, stored)
        else:
            self._touch(key)
        before = len(stored)
        stored.update(texts)
        return len(stored) - before

    async def srem(self, key: str, members: Sequence[str | bytes]) -> int:
        texts = [_text(m) for m in members]
        stored: builtins.set[str] | None = self._typed(key, set)
        if stored is None:
            return 0
        before = len(stored)
        stored.difference_update(texts)
        if not stored:
            self._remove(key)
        return before - len(stored)

    async def smembers(self, key: str) -> builtins.set[str]:
        stored: builtins.set[str] | None = self._typed(key, set)
        if stored is None:
            return set()
        self._touch(key)
        return set(stored)

    async def sismember(self, key: str, member: str | bytes) -> bool:
        text = _text(member)
        stored: builtins.set[str] | None = self._typed(key, set)
        if stored is None:
            return False
        self._touch(key)
        return text in stored

    async def scard(self, key: str) -> int:
        stored: builtins.set[str] | None = self._typed(key, set)
        return 0 if stored is None else len(stored)

    # -- scripts -----------------------------------------------------------------------------

    async def run_script(
        self, script: Script, keys: Sequence[str], args: Sequence[ScriptArg]
    ) -> Any:
        # Atomic without a lock: ``local`` awaits only this driver's commands, none of which
        # suspends, so no other task (and no cancellation) runs until the step has finished.
        return await script.local(self, keys, args)
