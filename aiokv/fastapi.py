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

At each startup the lifespan logs one line (logger ``aiokv``, level INFO) naming the driver and
the server, password masked. The memory driver's store lives in the process: under
``uvicorn --workers 4`` each worker has its own, so use the redis driver to share data.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Any, TypeAlias

try:
    from fastapi import Depends, FastAPI
    from fastapi.requests import HTTPConnection
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without FastAPI
    if exc.name not in {"fastapi", "starlette"}:
        raise
    raise ImportError(
        'aiokv.fastapi needs FastAPI, which is not installed: pip install "aiokv[fastapi]"',
        name=exc.name,
    ) from exc

from ._client import AsyncClient
from ._settings import KVSettings

__all__ = ["KV", "AppLifespan", "create_lifespan", "get_kv", "lifespan"]

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
