"""Cache-aside (``get_or_set``) and invalidation by pattern (``delete_matching``).

The facade methods ``AsyncClient.get_or_set`` and ``AsyncClient.delete_matching`` call these;
``@cached`` (in :mod:`aiokv.patterns.cached`) is ``get_or_set`` keyed by a function's arguments.
"""

from __future__ import annotations

import functools
import inspect
import typing
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError

from .json import ANY, MISS, adapter_for, dump
from .singleflight import SingleFlight

if TYPE_CHECKING:
    from .._client import AsyncClient
    from .._codec import TTL
    from ..commands import _Default
    from ..observability import CacheCounters

__all__ = ["declared_return_type", "delete_matching", "get_or_set", "read_cached"]


async def read_cached(kv: AsyncClient, key: str, adapter: TypeAdapter[Any]) -> Any:
    """The value at ``key`` validated by ``adapter``, or MISS.

    A value that no longer validates (the model changed in a deploy, say) counts as a miss, so the
    caller recomputes and overwrites it instead of failing until the entry expires.
    """
    raw = await kv.get_bytes(key)
    if raw is None:
        return MISS
    try:
        return adapter.validate_json(raw)
    except ValidationError:
        return MISS


async def get_or_set(
    kv: AsyncClient,
    flights: SingleFlight,
    counters: CacheCounters,
    key: str,
    factory: Callable[[], Any],
    ttl: TTL | _Default | None,
    tp: Any,
) -> Any:
    """Implement ``AsyncClient.get_or_set``; ``tp`` None means the factory's return annotation.

    ``counters`` counts this call as a hit or a miss, and the factory's call (if this caller
    makes it) as a computation.
    """
    if tp is None:
        tp = declared_return_type(factory)
    adapter = adapter_for(tp)
    found = await read_cached(kv, key, adapter)
    if found is not MISS:
        counters.hits += 1
        return found
    counters.misses += 1
    fill = functools.partial(_fill, kv, counters, key, factory, ttl, adapter, tp is ANY)
    return await flights.run(key, fill)


async def _fill(
    kv: AsyncClient,
    counters: CacheCounters,
    key: str,
    factory: Callable[[], Any],
    ttl: TTL | _Default | None,
    adapter: TypeAdapter[Any],
    untyped: bool,
) -> Any:
    # Read again first: a computation for this key may have finished (and stored its value)
    # between this caller's miss and the start of this one.
    found = await read_cached(kv, key, adapter)
    if found is not MISS:
        return found
    counters.computations += 1
    value = factory()
    if inspect.isawaitable(value):
        value = await value
    data = dump(value)
    if untyped and adapter.validate_json(data) != value:
        # Without a type a hit can only return plain JSON data, and that would not be what the
        # factory returns (nor what a type checker expects): say so now, not on the next call.
        raise TypeError(
            f"a {type(value).__name__} does not come back from JSON as it went in: pass "
            "type= to get_or_set (or annotate the factory's return type)"
        )
    await kv.set(key, data, ttl)
    return value


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
