"""Tags: drop every cached entry stored with a tag in one step, on a server as in memory.

One mechanism serves ``get_or_set``/``@cached``/``set_json`` (``tags=``, dropped with
``kv.invalidate_tags``) and the HTTP response cache (:class:`aiokv.web.HTTPCache`).

Layout: a tag is a set at ``<namespace>tag:<tag>`` holding the keys (as stored, the client's
key prefix included) of the entries written with it. The namespace is empty for the client's
tags and the HTTP cache's prefix (``http:``) for its own, so the two never drop each other's
entries.

* Storing an entry and adding it to its tags' sets is one script, and so is invalidating tags
  (read each set, delete its entries, then the set): no reader sees a tag half invalidated, and
  an entry is never stored without its tags.
* A tag's set lives as long as its longest-lived entry (for ever once an entry without expiry
  joins it). Members whose entry has expired stay in the set until then: deleting a missing key
  is harmless.
* A value computed before an invalidation and stored after it survives it, as in any cache:
  keep TTLs bounded.

Redis Cluster: a script runs on one slot, so an entry and its tags' sets must share a hash slot.
The rule is the cluster's own: give the entry and its tags one hash tag (``{catalog}``), as in
``key="{catalog}product:1", tags=["{catalog}products"]``. A store whose keys lie in several slots
is refused with :class:`~aiokv.CrossSlotError` before anything is written. Invalidating tags of
several slots runs one atomic script per slot.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from .._script import Script, ScriptArg
from ..drivers._slots import key_slot

if TYPE_CHECKING:
    from .._client import AsyncClient
    from ..drivers.memory import MemoryDriver as Driver

__all__ = ["INVALIDATE", "STORE", "invalidate_tags", "store_tagged", "tag_key"]


def tag_key(tag: str, namespace: str = "") -> str:
    """The key of a tag's set (without the client's key prefix)."""
    return f"{namespace}tag:{tag}"


async def _store_local(driver: Driver, keys: Sequence[str], args: Sequence[ScriptArg]) -> int:
    entry, *tags = keys
    value, ttl = args[0], int(args[1])
    px = ttl if ttl > 0 else None
    await driver.set(entry, value if isinstance(value, bytes) else str(value), px, False, False)
    for tag in tags:
        created = not await driver.exists([tag])
        await driver.sadd(tag, [entry])
        if px is None:
            await driver.persist(tag)
            continue
        left = await driver.pttl(tag)
        if created or 0 <= left < ttl:
            await driver.pexpire(tag, ttl)
    return len(tags)


STORE = Script(
    lua="""
local ttl = tonumber(ARGV[2])
if ttl > 0 then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
else
    redis.call('SET', KEYS[1], ARGV[1])
end
for i = 2, #KEYS do
    local created = redis.call('EXISTS', KEYS[i]) == 0
    redis.call('SADD', KEYS[i], KEYS[1])
    if ttl <= 0 then
        redis.call('PERSIST', KEYS[i])
    else
        local left = redis.call('PTTL', KEYS[i])
        if created or (left >= 0 and left < ttl) then
            redis.call('PEXPIRE', KEYS[i], ttl)
        end
    end
end
return #KEYS - 1
""",
    local=_store_local,
)
"""KEYS: the entry, then its tags' sets. ARGV: the value, the TTL in ms (0: no expiry).

Returns the number of tags. A tag's set is made to outlive the entry (never shortened)."""


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


async def store_tagged(
    kv: AsyncClient, key: str, value: bytes, ttl_ms: int | None, tags: Iterable[str], namespace: str
) -> None:
    """Store ``value`` at ``key`` for ``ttl_ms`` (None: no expiry) and add it to ``tags``.

    Raises:
        CrossSlotError: on a cluster, if the entry and its tags' sets lie in several slots.
    """
    tag_keys = [tag_key(tag, namespace) for tag in dict.fromkeys(tags)]
    await kv.run_script(STORE, [key, *tag_keys], [value, ttl_ms or 0])


async def invalidate_tags(kv: AsyncClient, tags: Iterable[str], namespace: str) -> int:
    """Drop every entry stored with any of ``tags``; return how many entries were deleted.

    One script on a server or in memory; on a cluster, one script per slot of the tags' sets.
    """
    keys = [tag_key(tag, namespace) for tag in dict.fromkeys(tags)]
    if not keys:
        return 0
    if kv.settings.driver != "cluster":
        deleted: int = await kv.run_script(INVALIDATE, keys)
        return deleted
    prefix = kv.settings.key_prefix
    by_slot: dict[int, list[str]] = {}
    for key in keys:
        by_slot.setdefault(key_slot(prefix + key), []).append(key)
    total = 0
    for group in by_slot.values():
        total += await kv.run_script(INVALIDATE, group)
    return total
