"""``@cached``: cache-aside for an async function, keyed by its arguments."""

from __future__ import annotations

import functools
import inspect
import re
import string
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

from typing_extensions import ParamSpec

from .._client import AsyncClient
from .._codec import TTL
from ..commands import DEFAULT, _Default
from .cache import declared_return_type

__all__ = ["cached"]

P = ParamSpec("P")
R = TypeVar("R")

_ROOT_NAME = re.compile(r"[^.\[]*")


def cached(
    kv: AsyncClient | Callable[[], AsyncClient],
    *,
    key: str,
    ttl: TTL | _Default | None = DEFAULT,
    type: Any = None,
    lock: bool = False,
    lock_timeout: TTL = 10,
    stale_ttl: TTL | None = None,
    stale_if_error: TTL | None = None,
    condition: Callable[[Any], bool] | None = None,
    tags: Sequence[str] = (),
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Coroutine[Any, Any, R]]]:
    """Cache an async function's results in ``kv``, one entry per key built from its arguments.

    A call first reads the key; on a miss it runs the function and stores the result as JSON,
    ``None`` included. Concurrent misses on one key in one process run the function once and all
    get its result (see :class:`~aiokv.patterns.singleflight.SingleFlight`); exceptions are not
    cached. A hit is validated into the function's return annotation, so ``-> Product`` gives a
    ``Product`` back; a stored value that no longer fits it counts as a miss.

    Example::

        @cached(kv, ttl=300, key="product:{product_id}")
        async def get_product(product_id: int) -> Product: ...

    Args:
        kv: The client, or a function without arguments returning it (called on every call),
            for applications that create their client at startup.
        key: A :meth:`str.format` template over the parameter names, such as
            ``"user:{user.id}:orders:{page}"``; defaults of omitted arguments are filled in.
        ttl: Seconds or a timedelta; ``None`` for no expiry; omitted: the client's
            ``default_ttl``.
        type: The type to validate hits into, instead of the return annotation.
        lock: One computation per key across processes (see ``AsyncClient.get_or_set``).
        lock_timeout: How long other processes wait for it before computing anyway.
        stale_ttl: Serve a value this long past ``ttl`` while it is refreshed in the background.
        stale_if_error: Serve the last value when the function or the server fails, if it went
            stale less than this long ago (logged at WARNING).
        condition: Store a result only if ``condition(result)`` is true.
        tags: Templates like ``key`` (``"product:{product_id}"``): the entry's tags, dropped
            with ``kv.invalidate_tags``.

    Raises:
        TypeError: at decoration, if the function is not ``async def`` or a template names
            something that is not a parameter; at a call, if the return annotation cannot be
            resolved, or if there is none and the result is not plain JSON data (pass ``type=``).
    """

    def decorate(func: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        if not inspect.iscoroutinefunction(func):
            raise TypeError(f"@cached decorates async functions; {func!r} is not one")
        signature = inspect.signature(func)
        for template in (key, *tags):
            _check_template(template, signature, func)
        resolved: list[Any] = [] if type is None else [type]

        @functools.wraps(func)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if not resolved:
                resolved.append(declared_return_type(func))
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            client = kv if isinstance(kv, AsyncClient) else kv()
            compute = functools.partial(func, *args, **kwargs)
            arguments = bound.arguments
            value: R = await client.get_or_set(
                key.format_map(arguments),
                compute,
                ttl,
                type=resolved[0],
                lock=lock,
                lock_timeout=lock_timeout,
                stale_ttl=stale_ttl,
                stale_if_error=stale_if_error,
                condition=condition,
                tags=[tag.format_map(arguments) for tag in tags],
            )
            return value

        return wrapper

    return decorate


def _check_template(template: str, signature: inspect.Signature, func: object) -> None:
    for _, field, _, _ in string.Formatter().parse(template):
        if field is None:
            continue
        match = _ROOT_NAME.match(field)
        name = match.group() if match else ""
        if name not in signature.parameters:
            raise TypeError(
                f"@cached template {template!r} names {{{field}}}, but {func!r} has no parameter "
                f"{name!r}: fields must be parameter names, as in 'product:{{product_id}}'"
            )
