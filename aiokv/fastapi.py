"""FastAPI integration: one client per app, opened at startup and closed at shutdown.

Install with ``pip install "aiokv[fastapi]"``. The client is built from :class:`KVSettings`
(the environment and ``.env``), unless one is handed in::

    from fastapi import FastAPI
    from aiokv.fastapi import KV, lifespan

    app = FastAPI(lifespan=lifespan)

    @app.post("/posts/{post_id}/views")
    async def view(post_id: int, kv: KV) -> dict[str, int]:
        return {"views": await kv.incr(f"views:{post_id}")}

To keep an app's own lifespan, or to hand it a client (for example one that ``@cached``
decorators already use at import time), build the lifespan with :func:`create_lifespan`.

While the app runs, the client is also at ``app.state.kv`` and ``request.state.kv``.

The web edge: :func:`cache_response` caches a handler's return value (ETag, 304, the request's
``Cache-Control``, tags); :class:`RateLimit` is a dependency that applies a rate limiter per
client and answers 429 with ``Retry-After`` and ``RateLimit-*`` headers (see :mod:`aiokv.web`).

At each startup the lifespan logs one line (logger ``aiokv``, level INFO) naming the driver and
the server, password masked. The memory driver's store lives in the process: under
``uvicorn --workers 4`` each worker has its own, so use the redis driver to share data.
"""

from __future__ import annotations

import functools
import inspect
import logging
import typing
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Any, ParamSpec, TypeAlias, TypeVar

try:
    from fastapi import Depends, FastAPI, HTTPException, Request, Response
    from fastapi.requests import HTTPConnection
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without FastAPI
    if exc.name not in {"fastapi", "starlette"}:
        raise
    raise ImportError(
        'aiokv.fastapi needs FastAPI, which is not installed: pip install "aiokv[fastapi]"',
        name=exc.name,
    ) from exc

from ._client import AsyncClient
from ._codec import TTL
from ._settings import KVSettings
from .patterns.json import ANY, adapter_for, dump
from .patterns.ratelimit import MultiRateLimiter, RateLimiter, RateLimitResult
from .web.cache import HTTPCache, etag_for, etag_matches, request_directives
from .web.ratelimit import OnError, decide

__all__ = [
    "KV",
    "AppLifespan",
    "RateLimit",
    "cache_response",
    "client_ip",
    "create_lifespan",
    "get_kv",
    "header_key",
    "lifespan",
]

P = ParamSpec("P")
R = TypeVar("R")

_logger = logging.getLogger("aiokv")

STATE_KEY = "kv"
"""Name of the client in ``app.state`` and in the lifespan state (``request.state``)."""

AppLifespan: TypeAlias = Callable[[FastAPI], AbstractAsyncContextManager[Mapping[str, Any] | None]]
"""What ``FastAPI(lifespan=...)`` accepts: a callable taking the app, giving a context manager."""

_NOT_INSTALLED = (
    "no aiokv client on this app: aiokv.fastapi.lifespan is not installed or has not run. "
    "Use FastAPI(lifespan=aiokv.fastapi.lifespan), or "
    "FastAPI(lifespan=aiokv.fastapi.create_lifespan(...)) to keep your own lifespan; "
    "in tests, run the lifespan (`with TestClient(app):`) or override the get_kv dependency"
)


def create_lifespan(
    client: AsyncClient | None = None,
    *,
    settings: KVSettings | None = None,
    app_lifespan: AppLifespan | None = None,
    close: bool = True,
) -> Callable[[FastAPI], AbstractAsyncContextManager[dict[str, Any]]]:
    """Build a lifespan that opens a client at startup and closes it at shutdown.

    The app's own lifespan, if given, runs inside: its startup already sees ``app.state.kv``,
    its shutdown runs before the client closes, and the state it yields is merged into
    ``request.state``.

    Args:
        client: The client to serve. By default a new one is built at each startup.
        settings: Settings for the client built at startup (default: environment and ``.env``).
        app_lifespan: The app's own lifespan, as it would be passed to ``FastAPI(lifespan=...)``.
        close: Close the client at shutdown (the default). Pass False for a ``client`` that the
            caller closes, for example one shared by several apps.

    Returns:
        A lifespan for ``FastAPI(lifespan=...)``.

    Raises:
        TypeError: if both ``client`` and ``settings`` are given.
    """
    if client is not None and settings is not None:
        raise TypeError("create_lifespan() takes a client or settings, not both")

    @asynccontextmanager
    async def kv_lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        if client is not None and client.closed:
            raise RuntimeError(
                "the AsyncClient given to aiokv.fastapi.create_lifespan() is closed (a previous "
                "shutdown closes it): pass close=False to keep it open across restarts, or let "
                "the lifespan build a client per startup"
            )
        kv = client if client is not None else AsyncClient(settings)
        try:
            await kv.__aenter__()
            _logger.info("aiokv: this FastAPI app uses %s", kv.settings.store_description)
            setattr(app.state, STATE_KEY, kv)
            if app_lifespan is None:
                yield {STATE_KEY: kv}
            else:
                async with app_lifespan(app) as app_state:
                    yield {**(app_state or {}), STATE_KEY: kv}
        finally:
            if close or client is None:
                await kv.aclose()

    return kv_lifespan


lifespan = create_lifespan()
"""The lifespan for ``FastAPI(lifespan=lifespan)``: a client from settings, one per startup."""


def get_kv(conn: HTTPConnection) -> AsyncClient:
    """The dependency behind :data:`KV`: return the app's client.

    Override it in tests with ``app.dependency_overrides[get_kv] = lambda: client``.

    Raises:
        RuntimeError: if the app's lifespan is not aiokv's, or has not run.
    """
    client = getattr(conn.state, STATE_KEY, None)
    if not isinstance(client, AsyncClient):
        # A lifespan entered without ASGI lifespan state (by hand, in some test helpers)
        # still leaves the client on app.state.
        client = getattr(conn.app.state, STATE_KEY, None)
    if not isinstance(client, AsyncClient):
        raise RuntimeError(_NOT_INSTALLED)
    return client


KV: TypeAlias = Annotated[AsyncClient, Depends(get_kv)]
"""Annotate a handler parameter with ``KV`` to receive the app's client: ``kv: KV``."""


# -- HTTP response caching ---------------------------------------------------------------------

_REQUEST, _RESPONSE = "aiokv_request", "aiokv_response"


def cache_response(
    cache: HTTPCache,
    *,
    ttl: TTL | None = None,
    vary: Iterable[str] = (),
    body: bool = False,
    tags: Iterable[str] = (),
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Cache a handler's return value in ``cache``; put it under the route decorator::

        @app.get("/products/{product_id}")
        @cache_response(http_cache, ttl=300, tags=["product:{product_id}"])
        async def get_product(product_id: int) -> Product: ...

    A hit returns the handler's declared type (validated from the stored JSON), so FastAPI
    serialises it exactly as a fresh value. Each answer carries a weak ``ETag`` (and
    ``X-Cache: hit`` or ``miss``); a GET or HEAD whose ``If-None-Match`` names it gets 304 with
    no body. A request with ``Cache-Control: no-store`` bypasses the cache; ``no-cache`` (or
    ``max-age=0``) recomputes and stores. Exceptions (``HTTPException`` included) and
    ``Response`` objects the handler returns are passed through and not cached. If the store
    cannot be reached, the handler's answer is served uncached (and a warning logged).

    Args:
        cache: The :class:`~aiokv.web.HTTPCache` to store in.
        ttl: Seconds or a timedelta; by default the cache's.
        vary: Request header names whose values tell entries apart (``"accept-language"``).
        body: Make the request body part of the key (for POST search endpoints, say). Off by
            default: a POST's body is otherwise ignored.
        tags: Tags for :meth:`HTTPCache.invalidate_tags`, as format strings filled from the
            handler's arguments (``"product:{product_id}"``).

    Returns:
        The decorator.

    Raises:
        InvalidArgumentError: for a TTL under 1 ms.
        TypeError: (at decoration) if the handler is not ``async``, or is declared to return
            a ``Response``.
    """
    ttl_ms = None if ttl is None else cache.check_ttl(ttl)
    vary = tuple(vary)
    tags = tuple(tags)

    def decorate(func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        if not inspect.iscoroutinefunction(func):
            raise TypeError(f"cache_response() needs an async handler, not {func!r}")
        hints = typing.get_type_hints(func, include_extras=True)
        returns = hints.get("return", ANY)
        if inspect.isclass(returns) and issubclass(returns, Response):
            raise TypeError("cache_response() caches return values; this handler returns Response")
        adapter = adapter_for(returns)
        signature = inspect.signature(func)
        params = [
            p.replace(annotation=hints.get(p.name, p.annotation))
            for p in signature.parameters.values()
        ]
        params += [
            inspect.Parameter(_REQUEST, inspect.Parameter.KEYWORD_ONLY, annotation=Request),
            inspect.Parameter(_RESPONSE, inspect.Parameter.KEYWORD_ONLY, annotation=Response),
        ]

        @functools.wraps(func)
        async def handler(*args: P.args, **kwargs: P.kwargs) -> Any:
            request: Request = kwargs.pop(_REQUEST)  # type: ignore[assignment]
            response: Response = kwargs.pop(_RESPONSE)  # type: ignore[assignment]
            no_store, no_cache = request_directives(request.headers.get("cache-control"))
            if no_store:
                return await func(*args, **kwargs)
            key = cache.key_for(
                request.method,
                request.url.path,
                request.query_params.multi_items(),
                request.headers,
                vary,
                await request.body() if body else None,
            )
            validate = request.method in ("GET", "HEAD")
            if not no_cache:
                raw = await cache.lookup(key)
                if raw is not None:
                    try:
                        value = adapter.validate_json(raw)
                    except ValueError:  # stored by another version of the handler: a miss
                        pass
                    else:
                        return _answer(value, raw, request, response, "hit", validate)
            value = await func(*args, **kwargs)
            if isinstance(value, Response):
                return value
            raw = dump(value)
            entry_tags = [tag.format(**kwargs) for tag in tags]
            await cache.keep(key, raw, entry_tags, None if ttl_ms is None else ttl_ms / 1000)
            return _answer(value, raw, request, response, "miss", validate)

        handler.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=params, return_annotation=returns
        )
        return handler

    return decorate


def _answer(
    value: Any, raw: bytes, request: Request, response: Response, state: str, validate: bool
) -> Any:
    etag = etag_for(raw)
    if validate and etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers={"ETag": etag, "X-Cache": state})
    response.headers["ETag"] = etag
    response.headers["X-Cache"] = state
    return value


# -- rate limiting at the edge -----------------------------------------------------------------


def client_ip(request: Request) -> str | None:
    """The key of a request by its client's address (behind a proxy, run uvicorn with
    ``--proxy-headers`` and ``--forwarded-allow-ips`` so this is the real client)."""
    return request.client.host if request.client else None


def header_key(name: str) -> Callable[[Request], str | None]:
    """A key function reading header ``name`` (an API key, say); requests without it are not
    limited by this dependency (pair it with one that limits by :func:`client_ip`)."""

    def key(request: Request) -> str | None:
        return request.headers.get(name)

    return key


class RateLimit:
    """A dependency applying a rate limiter to each request::

        searches = RateLimit(RateLimiter(kv, 10, 1, "gcra", prefix="rl:search:"))

        @app.get("/search", dependencies=[Depends(searches)])
        async def search(q: str) -> list[Product]: ...

    An allowed request goes on, and its response carries ``RateLimit-Limit``,
    ``RateLimit-Remaining`` and ``RateLimit-Reset``; a denied one is answered 429 with those
    and ``Retry-After``. As ``Annotated[RateLimitResult | None, Depends(searches)]`` the
    handler receives the result (None if the key function gave no key, or the store failed).

    Args:
        limiter: A :class:`~aiokv.RateLimiter` or :class:`~aiokv.MultiRateLimiter`; its prefix
            names the counters, so give each limited route group its own.
        key: ``key(request)``, sync or async, returning the key to count under, or None to
            let the request through unlimited. Default: :func:`client_ip`.
        cost: Units each request costs.
        on_error: When the store cannot answer, or a hit's reply was lost
            (:class:`~aiokv.OutcomeUnknownError`: it may have been counted, and is never
            re-sent): ``"allow"`` (fail open: the request goes on, without headers, and a
            warning is logged) or ``"deny"`` (fail closed: 503 with ``Retry-After: 1``).
    """

    def __init__(
        self,
        limiter: RateLimiter | MultiRateLimiter,
        *,
        key: Callable[[Request], str | Awaitable[str | None] | None] = client_ip,
        cost: int = 1,
        on_error: OnError = "allow",
    ) -> None:
        if on_error not in ("allow", "deny"):
            raise ValueError(f"on_error must be 'allow' or 'deny', not {on_error!r}")
        self.limiter = limiter
        self.key = key
        self.cost = cost
        self.on_error = on_error

    async def __call__(self, request: Request, response: Response) -> RateLimitResult | None:
        key = self.key(request)
        if inspect.isawaitable(key):
            key = await key
        if key is None:
            return None
        decision = await decide(self.limiter, key, self.cost, self.on_error)
        if decision.status == 429:
            raise HTTPException(429, "rate limit exceeded", headers=decision.headers)
        if decision.status == 503:
            raise HTTPException(503, "rate limit store unavailable", headers=decision.headers)
        response.headers.update(decision.headers)
        return decision.result
