"""The near cache: reads kept in process while the server says they hold.

Turned on by ``near_cache_max_keys``. The client then holds a :class:`NearCachedDriver` in place
of its redis (or cluster: :mod:`._near_cluster`) driver. Its command table answers the reads of
:data:`TRACKED` from a local store after the first read of a key, and sends everything else to
the driver's own table. What keeps the local copies honest:

* **The server's word.** A miss is read on the cache's own connection, which has
  ``CLIENT TRACKING`` on (:mod:`._near_tracking`): the server pushes ``invalidate`` for each key
  read there when it changes (any client's write, an expiry, an eviction), and the cache drops
  the key. With ``near_cache_prefixes`` the tracking is by broadcast: the server reports every
  change under those prefixes, and only keys under them are kept.
* **A read racing a write.** Before a miss is sent its key is marked as being filled (a fresh
  token); an invalidation, or a write of this client, clears the mark. The reply is kept only
  if the mark is still its own when the reply is read, so an invalidation that arrives before
  the reply is stored wins, and a value the server already replaced is never kept.
* **This client's writes.** A write (a command, a pipeline, a transaction, a script) drops its
  keys before it is sent and again when it returns, so a read after the write returns never
  sees the old value, even if a read sent before the write came back meanwhile.
* **The server's TTL.** Each miss reads the key's PTTL with the value; the copy is served
  until then at most (and at most ``near_cache_ttl`` seconds, if set), counted from when the
  read was sent.
* **A lost channel.** When the tracking connection fails (closed, reset, a server restart or
  failover, a reply or heartbeat later than its timeout), the whole cache is emptied and the
  next read opens a new tracking connection: until tracking is on again, nothing is kept.
  If the server refuses tracking (an ACL without ``CLIENT``, a server without RESP3), the
  near cache turns itself off and every read goes to the server.
* **Bounded memory.** At most ``near_cache_max_keys`` keys are held; past that the least
  recently used one (approximated with a CLOCK: a hit sets a bit; eviction passes over keys
  whose bit is set, clearing it) is dropped.

Replies are the driver's own (the same decoding); a hit on a hash or set returns a copy, so a
caller mutating its result cannot change the cache. Reads inside pipelines, transactions and
WATCH sessions always go to the server.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from time import monotonic
from typing import TYPE_CHECKING, Any

from anyio.abc import TaskGroup
from redis import exceptions as rexc

from .._script import Script, ScriptArg
from .._settings import KVSettings
from ..commands._base import Command, Table
from ..commands.hashes import HEXISTS, HGET, HGETALL, HLEN
from ..commands.keys import EXISTS
from ..commands.lists import LLEN, LRANGE
from ..commands.sets import SCARD, SISMEMBER, SMEMBERS
from ..commands.strings import GET, GET_BYTES, STRLEN
from ..observability import NearCacheCounters, NearCacheStats
from ._near_tracking import DEFAULT_TIMEOUT, TrackingConnection, TrackingLost, TrackingRefused
from ._redis_errors import REDIRECTS, translate_error
from ._redis_errors import redirect_of as _redirect_of
from ._redis_mux import Connections, pack
from .cluster import ClusterDriver
from .redis import RedisDriver, _decode

if TYPE_CHECKING:
    from .._pipeline import WatchSession
    from ..pubsub import Feed, Subscription

__all__ = ["TRACKED", "NearCache", "NearCachedDriver", "ServerNearCache"]

_logger = logging.getLogger("aiokv")

_copy_dict: Callable[[dict[str, str]], dict[str, str]] = dict.copy
_copy_set: Callable[[set[str]], set[str]] = set.copy
_copy_list: Callable[[list[str]], list[str]] = list.copy

TRACKED: dict[Command, Callable[[Any], Any] | None] = {
    GET: None,
    GET_BYTES: None,
    STRLEN: None,
    HGET: None,
    HGETALL: _copy_dict,
    HEXISTS: None,
    HLEN: None,
    SMEMBERS: _copy_set,
    SISMEMBER: None,
    SCARD: None,
    LRANGE: _copy_list,
    LLEN: None,
    EXISTS: None,  # one key only; several go to the server
}
"""The reads served locally (every one names a single key first), and how a hit is copied."""

_FLUSHES = frozenset({"FLUSHDB", "FLUSHALL", "SWAPDB"})
_RETRY_OPEN = 1.0  # seconds before trying again to open a tracking connection that failed


Entry = list[Any]  # [value, deadline (monotonic seconds), used since the last eviction pass]


class NearCache:
    """The local store, its tracking connections, and the rules above.

    A subclass says which tracking connection reads a key (:meth:`tracker_for`): the one of the
    server (:class:`ServerNearCache`), or the one of the node serving the key's slot.
    """

    def __init__(self, settings: KVSettings, inner: Table) -> None:
        s = settings
        self.settings = s
        self.inner = inner
        self.max_keys: int = s.near_cache_max_keys or 1
        self.ttl = float("inf") if s.near_cache_ttl is None else s.near_cache_ttl
        prefixes = s.near_cache_prefixes
        self.prefixes = None if prefixes is None else tuple(s.key_prefix + p for p in prefixes)
        self.timeout = s.socket_timeout or DEFAULT_TIMEOUT
        self.counters = NearCacheCounters()
        # key -> the entries holding it: (a spec's store, the entry's key in it).
        self.held: OrderedDict[str, list[tuple[dict[Any, Entry], Any]]] = OrderedDict()
        self.stores: list[dict[Any, Entry]] = []
        self.filling: dict[str, object] = {}
        # The tracking connections by name (a node's ``host:port``; "" for a lone server), and
        # when a name whose connection failed to open may be tried again (loop time).
        self.trackers: dict[str, TrackingConnection] = {}
        self.retry_at: dict[str, float] = {}
        # True while the tracking connection's loop runs: entries are not served once it has
        # stopped (a client moved to another loop: nothing reads the invalidations any more).
        # ``loop.is_running`` costs a sixth of ``asyncio.get_running_loop()`` on a hit.
        self.serving: Callable[[], bool] = _never
        self.off = False  # the server refused tracking: every read goes to it
        self.closed = False

    # -- what the tracking connection reports ---------------------------------------------------

    def invalidated(self, keys: list[bytes] | None) -> None:
        if keys is None:
            self.flush()
            return
        self.counters.invalidations += len(keys)
        for raw in keys:
            self.drop(raw.decode("utf-8", "surrogateescape"))

    def lost(self, tracker: TrackingConnection) -> None:
        self._forget(tracker)
        if not self.closed:
            self.flush(counted=tracker.opened)

    # -- the store -------------------------------------------------------------------------

    def drop(self, key: str) -> None:
        self.filling.pop(key, None)
        held = self.held.pop(key, None)
        if held is not None:
            for store, entry_key in held:
                store.pop(entry_key, None)

    def drop_keys(self, spec: Command, args: tuple[Any, ...]) -> None:
        """Before and after a write: its keys (everything for FLUSHDB) are no longer known."""
        if spec.name in _FLUSHES:
            self.flush(counted=False)  # the server's own flush message is counted
            return
        for key in spec.keys(args):
            self.drop(key)

    def flush(self, counted: bool = True) -> None:
        if counted:
            self.counters.flushes += 1
        self.filling.clear()
        self.held.clear()
        for store in self.stores:
            store.clear()

    def keep(self, key: str, store: dict[Any, Entry], entry_key: Any, entry: Entry) -> None:
        held = self.held.get(key)
        if held is None:
            if len(self.held) >= self.max_keys:
                self.evict()
            self.held[key] = [(store, entry_key)]
        elif entry_key not in store:
            held.append((store, entry_key))
        store[entry_key] = entry

    def evict(self) -> None:
        held = self.held
        for _ in range(len(held)):
            key, entries = held.popitem(last=False)
            used = False
            for store, entry_key in entries:
                entry = store.get(entry_key)
                if entry is not None and entry[2]:
                    entry[2] = False
                    used = True
            if not used:
                for store, entry_key in entries:
                    store.pop(entry_key, None)
                self.counters.evictions += 1
                return
            held[key] = entries  # a second chance, at the back
        if held:  # every key was used: the oldest goes
            _, entries = held.popitem(last=False)
            for store, entry_key in entries:
                store.pop(entry_key, None)
            self.counters.evictions += 1

    def cacheable(self, key: str) -> bool:
        prefixes = self.prefixes
        return prefixes is None or key.startswith(prefixes)

    # -- reads -----------------------------------------------------------------------------

    def reader(self, spec: Command) -> Callable[..., Awaitable[Any]]:
        """The table entry for a tracked read: a local hit, else :meth:`miss`."""
        store: dict[Any, Entry] = {}
        self.stores.append(store)
        counters = self.counters
        copy = TRACKED[spec]
        miss = self.miss
        inner = self.inner[spec]
        now = monotonic

        if spec is EXISTS:

            async def exists(keys: Sequence[str]) -> Any:
                if len(keys) != 1:
                    return await inner(keys)
                key = keys[0]
                entry = store.get(key)
                if entry is not None and entry[1] > now() and self.serving():
                    entry[2] = True
                    counters.hits += 1
                    return entry[0]
                return await miss(spec, (keys,), key, store, key, inner)

            return exists

        if copy is None:

            async def run(*args: Any) -> Any:
                entry = store.get(args)
                if entry is not None and entry[1] > now() and self.serving():
                    entry[2] = True
                    counters.hits += 1
                    return entry[0]
                return await miss(spec, args, args[0], store, args, inner)

            return run

        async def run_copied(*args: Any) -> Any:
            entry = store.get(args)
            if entry is not None and entry[1] > now() and self.serving():
                entry[2] = True
                counters.hits += 1
                return copy(entry[0])
            value = await miss(spec, args, args[0], store, args, inner)
            return copy(value) if value is not None else value

        return run_copied

    async def miss(
        self,
        spec: Command,
        args: tuple[Any, ...],
        key: str,
        store: dict[Any, Entry],
        entry_key: Any,
        inner: Callable[..., Awaitable[Any]],
    ) -> Any:
        """Read on the tracking connection and keep the reply if nothing changed meanwhile."""
        if not self.cacheable(key):
            return await inner(*args)
        words = spec.encode(*args) if spec.encode is not None else (spec.name, *args)
        try:
            packed = pack(words)
        except (UnicodeEncodeError, rexc.DataError):
            return await inner(*args)  # the driver raises what it raises for it
        attempt = 0
        while True:
            tracker = await self.tracker_for(key)
            if tracker is None:  # tracking is not on: the driver's own path, nothing kept
                return await inner(*args)
            attempt += 1
            if attempt == 1:
                self.counters.misses += 1
            token = object()
            self.filling[key] = token
            try:
                sent = monotonic()
                try:
                    reply, pttl = await tracker.request(packed, pack(("PTTL", key)))
                except TrackingLost as exc:
                    if isinstance(exc.cause, rexc.TimeoutError):
                        raise translate_error(exc.cause, self.settings, 1) from exc.cause
                    return await inner(*args)  # a read: safe to send again, with the retries
                reply = _redirect_of(reply)  # redis-py 5.0 leaves MOVED/ASK as plain errors
                if isinstance(reply, REDIRECTS):  # a cluster's slot elsewhere: nothing ran
                    if await self.redirected(reply, attempt):
                        continue
                    return await inner(*args)
                if isinstance(reply, rexc.RedisError):
                    raise translate_error(reply, self.settings) from reply
                value = _decode(spec, args, reply)
                if self.filling.get(key) is token and type(pttl) is int and pttl != 0:
                    ttl = self.ttl if pttl < 0 else min(self.ttl, pttl / 1000)
                    self.keep(key, store, entry_key, [value, sent + ttl, False])
                return value
            finally:
                if self.filling.get(key) is token:
                    del self.filling[key]

    async def tracker_for(self, key: str) -> TrackingConnection | None:
        """The open tracking connection to read ``key`` on; None if tracking is not on."""
        raise NotImplementedError

    async def redirected(self, redirect: rexc.RedisError, attempt: int) -> bool:
        """A cluster's redirection of the ``attempt``-th read of a miss: True to read it again
        (the slot table was fixed), False to leave it to the driver's own path."""
        return False

    async def tracking(
        self, name: str, connections: Callable[[], Connections | None], address: str
    ) -> TrackingConnection | None:
        """The open tracking connection ``name``, opening one if needed; None if tracking is
        not on. ``connections`` makes the connection (None: the driver is not connected on
        this loop yet)."""
        tracker = self.trackers.get(name)
        loop = asyncio.get_running_loop()
        if tracker is not None and tracker.ready:
            if tracker.loop is loop:
                return tracker
            self._discard(tracker)
            tracker = None
        if self.off or self.closed:
            return None
        if tracker is None or tracker.dead:
            if loop.time() < self.retry_at.get(name, 0.0):
                return None
            source = connections()
            if source is None or source.loop is not loop:
                return None  # the driver connects (or moves to this loop) on its own first
            tracker = self.trackers[name] = TrackingConnection(
                source, self.timeout, address, self.prefixes, self.invalidated, self.lost
            )
            self.serving = loop.is_running
        try:
            await tracker.open()
        except TrackingLost:
            self.retry_at[name] = loop.time() + _RETRY_OPEN
            return None
        except TrackingRefused as exc:
            self.off = True
            _logger.warning("aiokv near cache turned off: %s refused tracking (%s)",
                            address, exc)  # fmt: skip
            return None
        return tracker if tracker.ready else None

    def _forget(self, tracker: TrackingConnection) -> None:
        for name, held in list(self.trackers.items()):
            if held is tracker:
                del self.trackers[name]

    def _discard(self, tracker: TrackingConnection) -> None:
        """Forget a tracking connection of another (stopped) loop; its cache goes too."""
        self._forget(tracker)
        if tracker.loop.is_closed():
            tracker.dead = True
        else:
            tracker.close()
        self.flush()

    def close(self) -> None:
        self.closed = True
        trackers = list(self.trackers.values())
        self.trackers.clear()
        for tracker in trackers:
            tracker.close()
        self.flush(counted=False)

    def stats(self) -> NearCacheStats:
        return self.counters.snapshot(len(self.held))


class ServerNearCache(NearCache):
    """The near cache of one server (standalone or Sentinel): one tracking connection."""

    def __init__(self, driver: RedisDriver, inner: Table) -> None:
        super().__init__(driver._settings, inner)
        self.driver = driver

    @property
    def tracker(self) -> TrackingConnection | None:
        """The tracking connection, if one is open or opening."""
        return self.trackers.get("")

    async def tracker_for(self, key: str) -> TrackingConnection | None:
        return await self.tracking("", lambda: self.driver._pool, self.settings.masked_url)


def _never() -> bool:
    return False


class NearTable(dict[Command, Callable[..., Awaitable[Any]]]):
    """A command table: tracked reads through the near cache, writes dropping their keys."""

    def __init__(self, near: NearCache) -> None:
        super().__init__()
        self._near = near

    def __missing__(self, spec: Command) -> Callable[..., Awaitable[Any]]:
        near = self._near
        if spec in TRACKED:
            run = near.reader(spec)
        elif spec.readonly:
            run = near.inner[spec]
        else:
            run = _writer(near, spec, near.inner[spec])
        self[spec] = run
        return run


def _writer(
    near: NearCache, spec: Command, inner: Callable[..., Awaitable[Any]]
) -> Callable[..., Awaitable[Any]]:
    drop = near.drop_keys

    async def write(*args: Any) -> Any:
        drop(spec, args)
        try:
            return await inner(*args)
        finally:
            drop(spec, args)

    return write


class _DroppingTable(dict[Command, Callable[..., Awaitable[Any]]]):
    """A WATCH session's table: reads go to the server, writes drop their keys."""

    def __init__(self, near: NearCache, inner: Table) -> None:
        super().__init__()
        self._near = near
        self._inner = inner

    def __missing__(self, spec: Command) -> Callable[..., Awaitable[Any]]:
        inner = self._inner[spec]
        run = self[spec] = inner if spec.readonly else _writer(self._near, spec, inner)
        return run


Calls = Sequence[tuple[Command, tuple[Any, ...]]]


def _drop_calls(near: NearCache, calls: Calls) -> None:
    for spec, args in calls:
        if not spec.readonly:
            near.drop_keys(spec, args)


class NearCachedDriver:
    """The redis or cluster driver behind a near cache. See :class:`aiokv._protocol.Driver`.

    ``inner`` is the driver itself.
    """

    def __init__(self, driver: RedisDriver | ClusterDriver) -> None:
        self.inner = driver
        self.near: NearCache
        if isinstance(driver, ClusterDriver):
            from ._near_cluster import ClusterNearCache

            self.near = ClusterNearCache(driver, driver.table)
        else:
            self.near = ServerNearCache(driver, driver.table)
        self.table: Table = NearTable(self.near)

    def near_cache_stats(self) -> NearCacheStats:
        return self.near.stats()

    def open(self, task_group: TaskGroup | None) -> None:
        self.inner.open(task_group)

    async def aclose(self) -> None:
        self.near.close()
        await self.inner.aclose()

    async def execute_many(self, calls: Calls, atomic: bool) -> list[Any]:
        _drop_calls(self.near, calls)
        try:
            return await self.inner.execute_many(calls, atomic)
        finally:
            _drop_calls(self.near, calls)

    async def watch(self, keys: Sequence[str]) -> WatchSession:
        return _NearWatch(self.near, await self.inner.watch(keys))

    async def keys(self, pattern: str) -> list[str]:
        return await self.inner.keys(pattern)

    def scan_iter(self, pattern: str, count: int) -> AsyncIterator[str]:
        return self.inner.scan_iter(pattern, count)

    async def subscribe(
        self, channels: Sequence[str], patterns: Sequence[str], sink: Subscription
    ) -> Feed:
        return await self.inner.subscribe(channels, patterns, sink)

    async def run_script(
        self, script: Script, keys: Sequence[str], args: Sequence[ScriptArg]
    ) -> Any:
        for key in keys:
            self.near.drop(key)
        try:
            return await self.inner.run_script(script, keys, args)
        finally:
            for key in keys:
                self.near.drop(key)


class _NearWatch:
    """A WATCH session whose writes and EXEC drop their keys from the near cache."""

    def __init__(self, near: NearCache, session: WatchSession) -> None:
        self._near = near
        self._inner = session
        self.table: Table = _DroppingTable(near, session.table)

    async def exec(self, calls: Calls) -> list[Any] | None:
        _drop_calls(self._near, calls)
        try:
            return await self._inner.exec(calls)
        finally:
            _drop_calls(self._near, calls)

    async def close(self) -> None:
        await self._inner.close()
