"""pytest plugin: a fresh, isolated aiokv client for every test.

Installing aiokv registers this plugin (the ``pytest11`` entry point); it needs pytest-asyncio,
in either its strict (default) or auto mode. Two fixtures, both function-scoped, so they work
with the per-test event loops that pytest-asyncio gives by default:

``kv``
    An :class:`~aiokv.AsyncClient`, closed after the test.
``kv_factory``
    Call it with any :class:`~aiokv.KVSettings` field (``kv_factory(key_prefix="app:",
    default_ttl=60)``) for more clients; every client it made is closed after the test.

By default the clients use the memory driver, each with its own empty store. With
``--aiokv-url redis://host:port/db`` (or ``AIOKV_TEST_URL``), the same fixtures talk to that
server instead: each test works under its own key prefix (``aiokv-test:<hex>:``, prepended to any
``key_prefix`` given), so tests never see each other's keys, and its keys are deleted after it.

Settings come only from the fixtures' arguments and the URL, never from the environment or a
``.env`` file, so a developer's ``KV_DRIVER`` or ``KV_DEFAULT_TTL`` cannot change a test.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol, TypeVar, cast

import pytest
from pydantic import ValidationError

from ._client import AsyncClient
from ._settings import KVSettings

__all__ = ["ENV_VAR", "KVFactory", "kv", "kv_factory"]

ENV_VAR = "AIOKV_TEST_URL"
"""Environment variable read when ``--aiokv-url`` is not given."""

_PREFIX_ROOT = "aiokv-test:"

_F = TypeVar("_F", bound=Callable[..., Any])


class KVFactory(Protocol):
    """The type of the ``kv_factory`` fixture, for annotating tests."""

    def __call__(self, **settings: Any) -> AsyncClient:
        """Return a new client with these :class:`~aiokv.KVSettings` fields (not yet opened)."""
        ...


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("aiokv")
    group.addoption(
        "--aiokv-url",
        dest="aiokv_url",
        default=None,
        metavar="URL",
        help=(
            "run the kv and kv_factory fixtures against this Redis-compatible server "
            "(redis://, rediss://, unix://), each test under its own key prefix, deleted "
            f"afterwards. Default: ${ENV_VAR}, else the memory driver."
        ),
    )


def pytest_configure(config: pytest.Config) -> None:
    url = _test_url(config)
    if url is not None:
        try:
            KVSettings(**_pinned(url))
        except ValidationError as exc:
            reasons = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
            raise pytest.UsageError(f"--aiokv-url / ${ENV_VAR}: {reasons}") from None


def pytest_report_header(config: pytest.Config) -> str | None:
    url = _test_url(config)
    if url is None:
        return None
    settings = KVSettings(**_pinned(url))
    return f"aiokv: kv fixtures on {settings.masked_url}, each test under {_PREFIX_ROOT}<random>:"


def _test_url(config: pytest.Config) -> str | None:
    url: str | None = config.getoption("aiokv_url", None) or os.environ.get(ENV_VAR)
    return url or None


def _pinned(url: str | None) -> dict[str, Any]:
    """Every setting at its default, so neither the environment nor `.env` can reach a test."""
    values = {
        name: field.get_default(call_default_factory=True)
        for name, field in KVSettings.model_fields.items()
    }
    if url is not None:
        values["url"] = url
        del values["driver"]  # the URL's scheme picks the driver
    return values


def _async_fixture(func: _F) -> _F:
    try:
        import pytest_asyncio
    except ImportError:
        # Installing aiokv loads this plugin into every pytest run: without pytest-asyncio,
        # fail only the tests that ask for these fixtures, with a message saying what to do.
        def needs_pytest_asyncio() -> None:
            pytest.fail(
                "aiokv's kv and kv_factory fixtures need pytest-asyncio: "
                "pip install pytest-asyncio",
                pytrace=False,
            )

        needs_pytest_asyncio.__doc__ = func.__doc__
        return cast(_F, pytest.fixture(name=func.__name__)(needs_pytest_asyncio))
    return cast(_F, pytest_asyncio.fixture(func))


@_async_fixture
async def kv_factory(request: pytest.FixtureRequest) -> AsyncIterator[KVFactory]:
    """Make clients with custom settings; all are closed (and their keys deleted) after the test.

    On the memory driver each client has its own store. Against a server (``--aiokv-url``) the
    clients share the test's key prefix, so they see each other's keys and nobody else's.
    """
    base = _pinned(_test_url(request.config))
    test_prefix = f"{_PREFIX_ROOT}{uuid.uuid4().hex}:"
    made: list[AsyncClient] = []

    def make(**settings: Any) -> AsyncClient:
        values = {**base, **settings}
        if "url" in settings and "driver" not in settings:
            values.pop("driver", None)
        resolved = KVSettings(**values)
        if resolved.driver != "memory":
            resolved = KVSettings(**{**values, "key_prefix": test_prefix + resolved.key_prefix})
        client = AsyncClient(resolved)
        made.append(client)
        return client

    try:
        yield make
    finally:
        servers = {c.settings.masked_url: c.settings for c in made if c.settings.driver != "memory"}
        # Callbacks run last-in first-out, each even if another raised: close every client,
        # then delete the test's keys on every server it used.
        async with contextlib.AsyncExitStack() as teardown:
            for settings in servers.values():
                teardown.push_async_callback(_delete_keys_under, settings, test_prefix)
            for client in made:
                teardown.push_async_callback(client.aclose)


async def _delete_keys_under(settings: KVSettings, prefix: str) -> None:
    # A fresh client: the test may have closed its own, or broken its connections.
    async with AsyncClient(settings, key_prefix=prefix) as cleaner:
        await cleaner.flushdb()


@pytest.fixture
def kv(kv_factory: KVFactory) -> AsyncClient:
    """A fresh client: an empty memory store, or this test's own key prefix on ``--aiokv-url``.

    It opens on first use in the test's event loop and is closed after the test.
    """
    return kv_factory()
