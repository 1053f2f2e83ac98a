"""aiohttp integration: one client per application, opened at startup and closed at cleanup.

Install with ``pip install "aiokv[aiohttp]"``::

    from aiohttp import web
    from aiokv.aiohttp import KV_KEY, setup

    async def view(request: web.Request) -> web.Response:
        views = await request.app[KV_KEY].incr(f"views:{request.match_info['post_id']}")
        return web.json_response({"views": views})

    app = web.Application()
    app.router.add_post("/posts/{post_id}/views", view)
    setup(app)
    web.run_app(app)

Handlers of a sub-application read ``request.config_dict[KV_KEY]``, which looks through the
parent applications too.

At each startup :func:`setup` logs one line (logger ``aiokv``, level INFO) naming the driver and
the server, password masked. The memory driver's store lives in the process: each worker process
(gunicorn, several ``web.run_app`` processes) has its own, so use the redis driver to share data.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Final

try:
    from aiohttp import web
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without aiohttp
    if exc.name != "aiohttp":
        raise
    raise ImportError(
        'aiokv.aiohttp needs aiohttp, which is not installed: pip install "aiokv[aiohttp]"',
        name=exc.name,
    ) from exc

from ._client import AsyncClient
from ._codec import TTL
from ._settings import KVSettings
from .patterns.ratelimit import MultiRateLimiter, RateLimiter
from .web.cache import HTTPCache, etag_for, etag_matches, request_directives
from .web.ratelimit import OnError, decide

__all__ = [
    "KV_KEY",
    "cache_response",
    "client_ip",
    "get_kv",
    "ratelimit_middleware",
    "setup",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_logger = logging.getLogger("aiokv")

KV_KEY: Final = web.AppKey("aiokv", AsyncClient)
"""The application key of the client: ``request.app[KV_KEY]`` is an :class:`AsyncClient`."""


def setup(
    app: web.Application,
    client: AsyncClient | None = None,
    *,
    settings: KVSettings | None = None,
    close: bool = True,
) -> None:
    """Serve a client from ``app[KV_KEY]`` while the application runs.

    Registers a cleanup context: the client is opened at startup, before the ``on_startup``
    handlers run (so they can use it), and closed at cleanup, before the ``on_cleanup`` handlers
    run. Code that needs the client at cleanup belongs in a cleanup context appended after this
    call: contexts are left in reverse order.

    Args:
        app: The application, before it starts.
        client: The client to serve. By default a new one is built at each startup from
            ``settings``.
        settings: Settings for the client built at startup (default: environment and ``.env``).
        close: Close the client at cleanup (the default). Pass False for a ``client`` that the
            caller closes.

    Raises:
        TypeError: if both ``client`` and ``settings`` are given.
    """
    if client is not None and settings is not None:
        raise TypeError("setup() takes a client or settings, not both")

    async def kv_context(app: web.Application) -> AsyncIterator[None]:
        if client is not None and client.closed:
            raise RuntimeError(
                "the AsyncClient given to aiokv.aiohttp.setup() is closed (a previous cleanup "
                "closes it): pass close=False to keep it open across restarts"
            )
        kv = client if client is not None else AsyncClient(settings)
        try:
            await kv.__aenter__()
            _logger.info("aiokv: this aiohttp app uses %s", kv.settings.store_description)
            app[KV_KEY] = kv
            yield
        finally:
            if close or client is None:
                await kv.aclose()

    app.cleanup_ctx.append(kv_context)


def get_kv(request: web.Request) -> AsyncClient:
    """Return the client that :func:`setup` serves, from this application or a parent.

    Raises:
        RuntimeError: if :func:`setup` was not called on the application, or it has not started.
    """
    try:
        return request.config_dict[KV_KEY]
    except KeyError:
        raise RuntimeError(
            "no aiokv client on this application: call aiokv.aiohttp.setup(app) before it starts"
        ) from None


def client_ip(request: web.Request) -> str | None:
    """The key of a request by its client's address (``request.remote``)."""
    return request.remote


def ratelimit_middleware(
    limiter: RateLimiter | MultiRateLimiter,
    *,
    key: Callable[[web.Request], str | Awaitable[str | None] | None] = client_ip,
    cost: int = 1,
    on_error: OnError = "allow",
) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """A middleware applying ``limiter`` to every request: ``web.Application(middlewares=[...])``.

    Allowed responses carry ``RateLimit-Limit``, ``RateLimit-Remaining`` and
    ``RateLimit-Reset``; denied requests get 429 with those and ``Retry-After``. Arguments and
    the failure policy are those of :class:`aiokv.fastapi.RateLimit`: ``key`` returns None to
    let a request through unlimited; ``on_error="allow"`` (fail open) or ``"deny"`` (503) when
    the store cannot answer or a hit's reply was lost (it is never re-sent).

    Raises:
        ValueError: for an unknown ``on_error``.
    """
    if on_error not in ("allow", "deny"):
        raise ValueError(f"on_error must be 'allow' or 'deny', not {on_error!r}")

    @web.middleware
    async def ratelimit(request: web.Request, handler: Handler) -> web.StreamResponse:
        name = key(request)
        if inspect.isawaitable(name):
            name = await name
        if name is None:
            return await handler(request)
        decision = await decide(limiter, name, cost, on_error)
        if decision.status == 429:
            raise web.HTTPTooManyRequests(headers=decision.headers, text="rate limit exceeded")
        if decision.status == 503:
            raise web.HTTPServiceUnavailable(
                headers=decision.headers, text="rate limit store unavailable"
            )
        response = await handler(request)
        if not response.prepared:
            response.headers.update(decision.headers)
        return response

    return ratelimit


# -- HTTP response caching ---------------------------------------------------------------------


def cache_response(
    cache: HTTPCache,
    *,
    ttl: TTL | None = None,
    vary: Iterable[str] = (),
    body: bool = False,
    tags: Iterable[str] = (),
) -> Callable[[Handler], Handler]:
    """Cache a handler's 200 responses in ``cache``; decorate the handler::

        @cache_response(http_cache, ttl=300, tags=["product:{product_id}"])
        async def product(request: web.Request) -> web.Response: ...

    The key is the request's method, path, query, the ``vary`` headers' values and (with
    ``body=True``) its body, as :meth:`HTTPCache.key_for` builds it. What is kept is the
    response's body and ``Content-Type``; a hit is a new ``web.Response`` with them. Each answer
    carries a weak ``ETag`` and ``X-Cache: hit`` or ``miss``; a GET or HEAD whose
    ``If-None-Match`` names the ETag gets 304 with no body. A request's ``Cache-Control:
    no-store`` bypasses the cache; ``no-cache`` (or ``max-age=0``) recomputes and stores.

    Only a plain ``web.Response`` with status 200 is stored, and not one that sets a cookie or
    says ``Cache-Control: no-store`` or ``private``; exceptions (``web.HTTPException``
    included), streamed and file responses pass through. If the store cannot be reached, the
    handler's answer is served uncached (and a warning logged).

    Args:
        cache: The :class:`~aiokv.web.HTTPCache` to store in.
        ttl: Seconds or a timedelta; by default the cache's.
        vary: Request header names whose values tell entries apart (``"accept-language"``).
        body: Make the request body part of the key (for POST search endpoints, say).
        tags: Tags for :meth:`HTTPCache.invalidate_tags`, as format strings filled from the
            route's match info (``"product:{product_id}"``).

    Returns:
        The decorator.

    Raises:
        InvalidArgumentError: for a TTL under 1 ms.
        TypeError: (at decoration) if the handler is not ``async``.
    """
    ttl_s = None if ttl is None else cache.check_ttl(ttl) / 1000
    vary = tuple(vary)
    tags = tuple(tags)

    def decorate(handler: Handler) -> Handler:
        if not inspect.iscoroutinefunction(handler):
            raise TypeError(f"cache_response() needs an async handler, not {handler!r}")

        @functools.wraps(handler)
        async def cached(request: web.Request) -> web.StreamResponse:
            no_store, no_cache = request_directives(request.headers.get("Cache-Control"))
            if no_store:
                return await handler(request)
            key = cache.key_for(
                request.method,
                request.path,
                request.query.items(),
                request.headers,
                vary,
                await request.read() if body else None,
            )
            validate = request.method in ("GET", "HEAD")
            if not no_cache:
                kept = await cache.lookup(key)
                hit = None if kept is None else _unpack(kept)
                if kept is not None and hit is not None:  # else a miss: not bytes of ours
                    content_type, payload = hit
                    again = web.Response(body=payload, headers={"Content-Type": content_type})
                    return _answer(again, kept, request, "hit", validate)
            response = await handler(request)
            stored = _pack(response)
            if stored is None:
                return response
            entry_tags = [tag.format(**request.match_info) for tag in tags]
            await cache.keep(key, stored, entry_tags, ttl_s)
            assert isinstance(response, web.Response)  # _pack stores nothing else
            return _answer(response, stored, request, "miss", validate)

        return cached

    return decorate


def _pack(response: web.StreamResponse) -> bytes | None:
    """The bytes kept for a response: its Content-Type, a newline, its body; None if it must
    not be stored."""
    if type(response) is not web.Response or response.status != 200 or response.prepared:
        return None
    payload = response.body
    if not isinstance(payload, bytes):  # a streamed payload (a file, an async iterator)
        return None
    control = response.headers.get("Cache-Control", "").lower()
    if response.cookies or "Set-Cookie" in response.headers:  # one visitor's, never shared
        return None
    if "no-store" in control or "private" in control:
        return None
    content_type = response.headers.get("Content-Type", "application/octet-stream")
    return content_type.encode("latin-1") + b"\n" + payload


def _unpack(stored: bytes) -> tuple[str, bytes] | None:
    """The Content-Type and body kept by :func:`_pack`; None for bytes it did not write."""
    content_type, newline, payload = stored.partition(b"\n")
    if not newline or not content_type:
        return None
    return content_type.decode("latin-1"), payload


def _answer(
    response: web.Response, stored: bytes, request: web.Request, state: str, validate: bool
) -> web.Response:
    etag = etag_for(stored)
    if validate and etag_matches(request.headers.get("If-None-Match"), etag):
        return web.Response(status=304, headers={"ETag": etag, "X-Cache": state})
    response.headers["ETag"] = etag
    response.headers["X-Cache"] = state
    return response
