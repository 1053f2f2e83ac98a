"""Cache-aside (``get_or_set``) and invalidation by pattern (``delete_matching``).

The facade methods ``AsyncClient.get_or_set`` and ``AsyncClient.delete_matching`` call these;
``@cached`` (in :mod:`aiokv.patterns.cached`) is ``get_or_set`` keyed by a function's arguments.

A call reads the key. A fresh value is a hit. A value past its fresh TTL but within
``stale_ttl`` is returned at once while one task of this client recomputes it (stale while
revalidate; see :mod:`aiokv.patterns.cache_entry` for how one key holds both times). Otherwise
the call is a miss: concurrent misses in this client share one computation (single-flight), and
with ``lock=True`` one process of all computes while the others wait for its value (see
:mod:`aiokv.patterns.cache_lock`). With ``stale_if_error``, a failing factory or server makes
the call return the last value it saw, logged at WARNING on the ``aiokv`` logger.
"""

from __future__ import annotations

import functools
import inspect
import logging
import typing
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

from pydantic import TypeAdapter
from pydantic_core import PydanticSerializationError

from .._codec import positive_ttl_ms
from .._exceptions import (
    ArgumentTypeError,
    CrossSlotError,
    KVConnectionError,
    KVError,
    KVTimeoutError,
    OutcomeUnknownError,
)
from ..commands import DEFAULT
from .cache_entry import Entry, decode, now_ms, wrap
from .cache_lock import locked_fill
from .json import ANY, MISS, adapter_for, dump
from .singleflight import SingleFlight
from .tags import store_tagged

if TYPE_CHECKING:
    from .._client import AsyncClient
    from .._codec import TTL
    from ..commands import _Default
    from ..observability import CacheCounters

__all__ = [
    "CacheOptions",
    "declared_return_type",
    "delete_matching",
    "get_or_set",
    "read_cached",
]

log = logging.getLogger("aiokv")


async def read_cached(kv: AsyncClient, key: str, adapter: TypeAdapter[Any]) -> Any:
    """The value at ``key`` validated by ``adapter``, or MISS (stale values included).

    A value that no longer validates (the model changed in a deploy, say) counts as a miss, so the
    caller recomputes and overwrites it instead of failing until the entry expires.
    """
    entry = decode(await kv.get_bytes(key), adapter)
    return MISS if entry is None else entry.value


@dataclass(frozen=True)
class CacheOptions:
    """What one ``get_or_set`` call asked for, in milliseconds (see ``AsyncClient.get_or_set``)."""

    ttl_ms: int | None = None
    stale_ms: int = 0
    error_ms: int = 0
    lock: bool = False
    lock_ms: int = 10_000
    refresh: bool = False
    condition: Callable[[Any], bool] | None = None
    tags: tuple[str, ...] = ()

    @classmethod
    def build(
        cls,
        kv: AsyncClient,
        ttl: TTL | _Default | None,
        *,
        lock: bool = False,
        lock_timeout: TTL = 10,
        stale_ttl: TTL | None = None,
        stale_if_error: TTL | None = None,
        refresh: bool = False,
        condition: Callable[[Any], bool] | None = None,
        tags: Iterable[str] = (),
    ) -> CacheOptions:
        """Check and convert the arguments.

        Raises:
            InvalidArgumentError: for a TTL, ``lock_timeout`` or stale window <= 0.
            ArgumentTypeError: for a tag that is not a str (or ``tags`` given as one str).
        """
        if ttl is DEFAULT:
            ttl_ms = kv._default_px  # the client's default_ttl, as set() uses it
        else:
            ttl_ms = None if ttl is None else positive_ttl_ms(ttl, "get_or_set")
        if isinstance(tags, str) or not all(isinstance(tag, str) for tag in tags):
            raise ArgumentTypeError(f"tags is a list of str, not {tags!r}")
        return cls(
            ttl_ms,
            0 if stale_ttl is None else positive_ttl_ms(stale_ttl, "stale_ttl"),
            0 if stale_if_error is None else positive_ttl_ms(stale_if_error, "stale_if_error"),
            lock,
            positive_ttl_ms(lock_timeout, "lock_timeout"),
            refresh,
            condition,
            tuple(dict.fromkeys(tags)),
        )


PLAIN: Final = CacheOptions()


async def get_or_set(
    kv: AsyncClient,
    flights: SingleFlight,
    counters: CacheCounters,
    key: str,
    factory: Callable[[], Any],
    tp: Any,
    options: CacheOptions,
) -> Any:
    """Implement ``AsyncClient.get_or_set``; ``tp`` None means the factory's return annotation.

    ``counters`` counts this call as a hit, a stale hit or a miss, and the factory's call (if
    this caller makes it) as a computation.
    """
    if tp is None:
        tp = declared_return_type(factory)
    call = _Call(kv, flights, counters, key, factory, adapter_for(tp), tp is ANY, options)
    return await call.get()


class _Call:
    """One ``get_or_set`` call: the reads, the computation and the fallbacks."""

    def __init__(
        self,
        kv: AsyncClient,
        flights: SingleFlight,
        counters: CacheCounters,
        key: str,
        factory: Callable[[], Any],
        adapter: TypeAdapter[Any],
        untyped: bool,
        options: CacheOptions,
    ) -> None:
        self.kv = kv
        self.flights = flights
        self.counters = counters
        self.key = key
        self.factory = factory
        self.adapter = adapter
        self.untyped = untyped
        self.options = options

    async def get(self) -> Any:
        options = self.options
        if options.refresh:
            self.counters.misses += 1
            return await self.flights.run("\0refresh\0" + self.key, self.fill)
        try:
            entry = await self.read()
        except KVError as exc:
            return self.stale_or_raise(exc, "the server")
        if entry is not None:
            now = now_ms()
            if entry.fresh(now):
                self.counters.hits += 1
                return entry.value
            assert entry.fresh_until is not None
            if now < entry.fresh_until + options.stale_ms:
                self.counters.stale += 1
                self.flights.start("\0stale\0" + self.key, self.refresh_in_background)
                return entry.value
        self.counters.misses += 1
        return await self.flights.run(self.key, self.fill)

    async def read(self) -> Entry | None:
        entry = decode(await self.kv.get_bytes(self.key), self.adapter)
        if entry is not None and self.options.error_ms:
            self.remember(entry.data, entry.fresh_until)
        return entry

    def remember(self, data: bytes, fresh_until: int | None) -> None:
        since = now_ms() if fresh_until is None else fresh_until
        self.kv._last_values.remember(self.key, data, since + self.options.error_ms)

    async def fill(self) -> Any:
        try:
            if not self.options.refresh:
                # Read again first: a computation for this key may have finished (and stored
                # its value) between this caller's miss and the start of this one.
                entry = await self.read()
                if entry is not None and entry.fresh(now_ms()):
                    return entry.value
            if self.options.lock:
                return await locked_fill(self)
            value, data = await self.compute()
            await self.store(value, data)
            return value
        except Exception as exc:
            return self.stale_or_raise(exc, "computing it")

    async def compute(self) -> tuple[Any, bytes]:
        """Call the factory; return its value and the value's JSON."""
        self.counters.computations += 1
        value = self.factory()
        if inspect.isawaitable(value):
            value = await value
        data = dump(value)
        if self.untyped and self.adapter.validate_json(data) != value:
            # Without a type a hit can only return plain JSON data, and that would not be what
            # the factory returns (nor what a type checker expects): say so now, not on the next
            # call.
            raise TypeError(
                f"a {type(value).__name__} does not come back from JSON as it went in: pass "
                "type= to get_or_set (or annotate the factory's return type)"
            )
        return value, data

    async def store(self, value: Any, data: bytes) -> bool:
        """Store a computed value unless ``condition`` refuses it; True if stored.

        A write whose reply was lost (OutcomeUnknownError) may or may not have happened; both
        leave the cache valid (this value, or none), so the value is returned all the same.
        With ``stale_if_error``, a server out of reach does not fail the call either.
        """
        options = self.options
        if options.condition is not None and not options.condition(value):
            return False
        px = options.ttl_ms
        raw = data
        if px is not None and (options.stale_ms or options.error_ms):
            fresh_until = now_ms() + px
            raw = wrap(data, fresh_until)
            px += max(options.stale_ms, options.error_ms)
        else:
            fresh_until = None
        if options.error_ms:
            self.remember(data, fresh_until)
        try:
            if options.tags:
                await store_tagged(self.kv, self.key, raw, px, options.tags, "")
            else:
                await self.kv.set(self.key, raw, None if px is None else timedelta(milliseconds=px))
        except OutcomeUnknownError:
            log.info("get_or_set(%r): the cache write may not have happened", self.key)
        except (KVConnectionError, KVTimeoutError) as exc:
            if not options.error_ms:
                raise
            log.warning("get_or_set(%r): could not store the new value: %r", self.key, exc)
        return True

    def stale_or_raise(self, exc: Exception, failed: str) -> Any:
        """With ``stale_if_error``, the last value of the key if recent enough; else raise."""
        if not self.options.error_ms or isinstance(exc, _NOT_SERVED_STALE):
            raise exc
        data = self.kv._last_values.recall(self.key, now_ms())
        if data is None:
            raise exc
        log.warning(
            "get_or_set(%r): serving the last value, since %s failed: %r", self.key, failed, exc
        )
        self.counters.stale_on_error += 1
        return self.adapter.validate_json(data)

    async def refresh_in_background(self) -> None:
        """Recompute a stale value while callers are served the old one; errors are logged."""
        try:
            entry = await self.read()
            if entry is not None and entry.fresh(now_ms()):
                return  # another process refreshed it
            if self.options.lock:
                await locked_fill(self, wait=False)
            else:
                value, data = await self.compute()
                await self.store(value, data)
        except Exception as exc:
            log.warning("get_or_set(%r): refreshing the stale value failed: %r", self.key, exc)


# Programming errors: serving an old value would hide them (CrossSlotError: an entry and its
# tags in several hash slots of a cluster, refused before anything was written).
_NOT_SERVED_STALE = (TypeError, PydanticSerializationError, CrossSlotError)


def declared_return_type(func: Callable[..., Any]) -> Any:
    """The return annotation of ``func`` (the awaited type for ``async def``), or ``ANY``.

    Functions without annotations (lambdas), ``functools.partial`` objects over them and other
    callables give ``ANY``.

    Raises:
        TypeError: if the annotation names something that cannot be resolved (a class defined
            later or inside a function): pass ``type=`` instead.
    """
    while isinstance(func, functools.partial):
        func = func.func
    func = getattr(func, "__func__", func)  # a bound method
    if not inspect.isfunction(func) or "return" not in func.__annotations__:
        return ANY
    # Cached per function object (not per code object: equal code can carry other annotations,
    # and resolve against other globals); get_type_hints() takes microseconds.
    tp = _RETURN_TYPES.get(func, MISS)
    if tp is MISS:
        try:
            tp = typing.get_type_hints(func)["return"]
        except NameError as exc:
            raise TypeError(
                f"cannot resolve the return annotation of {func.__qualname__} ({exc}); "
                "pass type= explicitly"
            ) from exc
        if typing.get_origin(tp) in (Awaitable, Coroutine):  # def f() -> Awaitable[T]
            tp = typing.get_args(tp)[-1]
        _RETURN_TYPES[func] = tp
    return tp


_RETURN_TYPES: weakref.WeakKeyDictionary[Callable[..., Any], Any] = weakref.WeakKeyDictionary()


async def delete_matching(kv: AsyncClient, pattern: str, batch: int) -> int:
    """Implement ``AsyncClient.delete_matching``: SCAN, then DEL ``batch`` keys at a time."""
    deleted = 0
    keys: list[str] = []
    async for key in kv.scan_iter(pattern, count=batch):
        keys.append(key)
        if len(keys) >= batch:
            deleted += await kv.delete(*keys)
            keys = []
    if keys:
        deleted += await kv.delete(*keys)
    return deleted
