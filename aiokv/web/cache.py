"""HTTP response caching: keys, validators, request directives, and tag invalidation.

An entry is the JSON of a handler's return value (pydantic's serializer, as ``set_json``), at a
key built from the request: method, path, query (sorted, so parameter order does not matter),
the values of the headers named in ``vary``, and, when asked for, a digest of the body::

    http:GET /products/1?currency=EUR|accept-language=fr

Its ``ETag`` is a weak validator derived from those bytes, so every process serving the entry
gives the same one, and a request whose ``If-None-Match`` names it can be answered 304.

Tags are those of :mod:`aiokv.patterns.tags` (one mechanism for the whole library), kept under
the cache's prefix: each tag is a set, ``prefix + "tag:" + tag``, holding the keys of the
entries stored with it; storing with tags and invalidating tags are each one script. On a Redis
Cluster, give the cache a prefix with a hash tag (``prefix="{http}:"``) so that an entry and
its tags share a slot.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import quote

from .._codec import TTL, ttl_to_ms
from .._exceptions import InvalidArgumentError, KVConnectionError, KVTimeoutError
from ..patterns import tags as _tags

if TYPE_CHECKING:
    from .._client import AsyncClient

__all__ = ["HTTPCache", "etag_for", "etag_matches", "request_directives"]

_logger = logging.getLogger("aiokv")


def etag_for(body: bytes) -> str:
    """The weak ``ETag`` of a cached entry: a digest of its stored bytes."""
    return f'W/"{hashlib.blake2b(body, digest_size=12).hexdigest()}"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (weak comparison, as RFC 9110 says)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == bare for tag in if_none_match.split(","))


def request_directives(cache_control: str | None) -> tuple[bool, bool]:
    """Read a request's ``Cache-Control``: ``(no_store, no_cache)``.

    ``no-store``: neither read nor write the cache. ``no-cache`` (and ``max-age=0``, which
    browsers send on reload): do not serve a stored entry, compute a fresh one and store it.
    """
    if not cache_control:
        return False, False
    words = {part.strip().lower().replace(" ", "") for part in cache_control.split(",")}
    return "no-store" in words, bool(words & {"no-cache", "max-age=0"})


class HTTPCache:
    """Where cached responses live, and how they are found and dropped.

    The framework decorators (:func:`aiokv.fastapi.cache_response`) use it; invalidate through it
    from anywhere: ``await http_cache.invalidate_tags("product:1")``.

    Args:
        kv: The client.
        ttl: How long an entry lives, in seconds or a timedelta (a decorator may override it).
        prefix: Prepended to every key the cache writes (after the client's key prefix).

    Raises:
        InvalidArgumentError: for a TTL under 1 ms.
    """

    def __init__(self, kv: AsyncClient, *, ttl: TTL = 60, prefix: str = "http:") -> None:
        self._kv = kv
        self.ttl_ms = self.check_ttl(ttl)
        self.prefix = prefix

    def __repr__(self) -> str:
        return f"<HTTPCache ttl={self.ttl_ms / 1000}s prefix={self.prefix!r}>"

    @staticmethod
    def check_ttl(ttl: TTL) -> int:
        """Return ``ttl`` in ms. Raises InvalidArgumentError for one under 1 ms."""
        ms = ttl_to_ms(ttl)
        if ms < 1:
            raise InvalidArgumentError(f"ttl must be at least 1 ms, got {ttl!r}")
        return ms

    def key_for(
        self,
        method: str,
        path: str,
        query: Iterable[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
        vary: Iterable[str] = (),
        body: bytes | None = None,
    ) -> str:
        """The key of the entry for a request (without the client's key prefix).

        Args:
            method: The HTTP method; HEAD is keyed as GET (the same answer without a body).
            path: The URL path, as the server received it.
            query: The query parameters, in any order.
            headers: The request's headers (case-insensitive mapping, or lower-case names).
            vary: The header names whose values tell entries apart.
            body: The request body, when it is part of the key (it is hashed).

        Returns:
            The key: pass it to :meth:`invalidate` to drop that entry.
        """
        words = sorted(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in query)
        method = method.upper()
        key = f"{self.prefix}{'GET' if method == 'HEAD' else method} {path}"
        if words:
            key += "?" + "&".join(words)
        for name in sorted({name.lower() for name in vary}):
            value = headers.get(name, "") if headers is not None else ""
            key += f"|{name}={quote(value, safe='')}"
        if body is not None:
            key += f"|body={hashlib.sha256(body).hexdigest()}"
        return key

    async def load(self, key: str) -> bytes | None:
        """The stored bytes at ``key``; None on a miss."""
        return await self._kv.get_bytes(key)

    async def store(
        self, key: str, value: bytes, tags: Iterable[str] = (), ttl: TTL | None = None
    ) -> None:
        """Store ``value`` at ``key`` and add it to each tag's set, in one atomic step.

        Raises:
            InvalidArgumentError: for a TTL under 1 ms.
        """
        ttl_ms = self.ttl_ms if ttl is None else self.check_ttl(ttl)
        await _tags.store_tagged(self._kv, key, value, ttl_ms, tags, self.prefix)

    async def lookup(self, key: str) -> bytes | None:
        """:meth:`load` for a request handler: a store that cannot be reached is a miss (and a
        warning logged), so the handler answers uncached rather than fail."""
        try:
            return await self.load(key)
        except (KVConnectionError, KVTimeoutError) as exc:
            _logger.warning("aiokv: cached response for %s not read: %s", key, exc)
            return None

    async def keep(
        self, key: str, value: bytes, tags: Iterable[str] = (), ttl: TTL | None = None
    ) -> None:
        """:meth:`store` for a request handler: a store that cannot be reached leaves the
        response uncached (and a warning logged)."""
        try:
            await self.store(key, value, tags, ttl)
        except (KVConnectionError, KVTimeoutError) as exc:
            _logger.warning("aiokv: response for %s not cached: %s", key, exc)

    def tag_key(self, tag: str) -> str:
        """The key of a tag's set (without the client's key prefix)."""
        return _tags.tag_key(tag, self.prefix)

    async def invalidate(self, *keys: str) -> int:
        """Drop the entries at ``keys`` (from :meth:`key_for`); return how many existed."""
        return await self._kv.delete(*keys) if keys else 0

    async def invalidate_tags(self, *tags: str) -> int:
        """Drop every entry stored with any of ``tags``, in one atomic step.

        Returns:
            How many entries were deleted (0 if no entry had these tags).
        """
        return await _tags.invalidate_tags(self._kv, tags, self.prefix)
