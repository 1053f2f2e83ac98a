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

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
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
from ._settings import KVSettings
from .patterns.ratelimit import MultiRateLimiter, RateLimiter
from .web.ratelimit import OnError, decide

__all__ = ["KV_KEY", "client_ip", "get_kv", "ratelimit_middleware", "setup"]

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
