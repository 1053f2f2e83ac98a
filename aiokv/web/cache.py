"""HTTP response caching: keys, validators, request directives, and tag invalidation.

An entry is the JSON of a handler's return value (pydantic's serializer, as ``set_json``), at a
key built from the request: method, path, query (sorted, so parameter order does not matter),
the values of the headers named in ``vary``, and, when asked for, a digest of the body::

    http:GET /products/1?currency=EUR|accept-language=fr

Its ``ETag`` is a weak validator derived from those bytes, so every process serving the entry
gives the same one, and a request whose ``If-None-Match`` names it can be answered 304.

Tags: each tag is a set, ``prefix + "tag:" + tag``, holding the keys of the entries stored with
it. Storing an entry and adding it to its tags' sets is one script, and so is invalidating tags
(read each set, delete its entries and the set): on a server, no request sees a tag half
invalidated, and an entry is never stored without its tags. A tag's set expires with the
longest-lived entry added to it. One limit remains, as with any cache: a response computed
before an invalidation and stored after it survives it; keep TTLs bounded. On a Redis Cluster,
give the cache a prefix with a hash tag (``prefix="{http}:"``) so that an entry and its tags
share a slot. This tag layout is the one the near-cache's ``tags=`` may reuse or replace.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING
from urllib.parse import quote

from .._codec import TTL, ttl_to_ms
from .._exceptions import InvalidArgumentError
from .._script import Script, ScriptArg

if TYPE_CHECKING:
    from .._client import AsyncClient
    from ..drivers.memory import MemoryDriver as Driver

__all__ = ["HTTPCache", "etag_for", "etag_matches", "request_directives"]


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


async def _store_local(driver: Driver, keys: Sequence[str], args: Sequence[ScriptArg]) -> int:
    entry, *tags = keys
    value, ttl = args[0], int(args[1])
    await driver.set(entry, value if isinstance(value, bytes) else str(value), ttl, False, False)
    for tag in tags:
        await driver.sadd(tag, [entry])
        left = await driver.pttl(tag)
        if left < ttl:
            await driver.pexpire(tag, ttl)
    return len(tags)


STORE = Script(
    lua="""
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
for i = 2, #KEYS do
    redis.call('SADD', KEYS[i], KEYS[1])
    if redis.call('PTTL', KEYS[i]) < ttl then
        redis.call('PEXPIRE', KEYS[i], ttl)
    end
end
return #KEYS - 1
""",
    local=_store_local,
)
"""KEYS: the entry, then its tags' sets. ARGV: the value, the TTL (ms). Returns the tag count."""


async def _invalidate_local(driver: Driver, keys: Sequence[str], args: Sequence[ScriptArg]) -> int:
    deleted = 0
    for tag in keys:
        entries = sorted(await driver.smembers(tag))
        if entries:
            deleted += await driver.delete(entries)
        await driver.delete([tag])
    return deleted


INVALIDATE = Script(
    lua="""
local deleted = 0
for i = 1, #KEYS do
    local entries = redis.call('SMEMBERS', KEYS[i])
    for first = 1, #entries, 1000 do
        local last = math.min(first + 999, #entries)
        deleted = deleted + redis.call('DEL', unpack(entries, first, last))
    end
    redis.call('DEL', KEYS[i])
end
return deleted
""",
    local=_invalidate_local,
)
"""KEYS: tags' sets. Deletes every entry they list, then the sets; returns the entries deleted."""


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
            method: The HTTP method.
            path: The URL path, as the server received it.
            query: The query parameters, in any order.
            headers: The request's headers (case-insensitive mapping, or lower-case names).
            vary: The header names whose values tell entries apart.
            body: The request body, when it is part of the key (it is hashed).

        Returns:
            The key: pass it to :meth:`invalidate` to drop that entry.
        """
        words = sorted(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in query)
        key = f"{self.prefix}{method.upper()} {path}"
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
        tag_keys = [self.tag_key(tag) for tag in dict.fromkeys(tags)]
        await self._kv.run_script(STORE, [key, *tag_keys], [value, ttl_ms])

    def tag_key(self, tag: str) -> str:
        """The key of a tag's set (without the client's key prefix)."""
        return f"{self.prefix}tag:{tag}"

    async def invalidate(self, *keys: str) -> int:
        """Drop the entries at ``keys`` (from :meth:`key_for`); return how many existed."""
        return await self._kv.delete(*keys) if keys else 0

    async def invalidate_tags(self, *tags: str) -> int:
        """Drop every entry stored with any of ``tags``, in one atomic step.

        Returns:
            How many entries were deleted (0 if no entry had these tags).
        """
        if not tags:
            return 0
        keys = [self.tag_key(tag) for tag in dict.fromkeys(tags)]
        deleted: int = await self._kv.run_script(INVALIDATE, keys)
        return deleted
