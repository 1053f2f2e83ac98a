"""The Redis Cluster driver: every command routed to the node serving its keys' hash slot.

Built on redis.asyncio's cluster client for what it does well, the topology: discovering the
nodes (``CLUSTER SLOTS``), the slot table, one connection pool per node, and patching the table
after a ``MOVED``. Commands are not run through its ``execute_command``, which re-sends any
command after a connection error: here, as in the standalone driver, a command is sent again
only when it cannot have run twice to any effect.

* Routing: a command's keys come from its spec (``Command.keys``); all of them must hash to one
  slot (see :mod:`aiokv.drivers._slots`). Keyless commands go to one primary, except those a
  cluster answers per node (``DBSIZE`` adds up, ``FLUSHDB`` empties every primary).
* Multi-key commands a spec marks splittable (``Command.merge``: DEL, EXISTS, MGET, MSET, ...)
  are split by slot, the parts sent to their nodes at once (one pipelined write per node), and
  the replies merged in argument order. They are **not atomic across slots**: another client
  may see some parts applied and not others, and a failure can leave some parts applied. Every
  other multi-key operation (a transaction, a script, ``sinterstore``, ``lmove``...) whose keys
  lie in several slots raises :class:`~aiokv.CrossSlotError` before anything is sent.
* Redirections: ``MOVED`` (the slot lives elsewhere now) patches the slot table and sends the
  command to the new owner; ``ASK`` (the slot is migrating) sends it once to the importing node
  after ``ASKING``; ``TRYAGAIN`` and ``CLUSTERDOWN`` wait a little and send it again. All of
  these are safe: the node refused the command without running it. At most 16 redirections.
* Delivery: a connection failure before a command was written (connecting), or of a read-only
  command, refreshes the topology (a failover may have promoted a replica) and tries again
  ``retry_attempts`` times with backoff; past that it raises ``KVConnectionError``. A write
  whose connection failed after it was sent raises ``OutcomeUnknownError`` and is never re-sent.
  A timeout is not retried.
* Auto-pipelining (``auto_pipeline``, on by default): each node has its own multiplexed
  connections (:mod:`aiokv.drivers._cluster_mux`), so the single commands that concurrent tasks
  send to one node in the same event-loop step go out in one write. The rules above hold
  unchanged: a command is re-sent only if it was not written or is a read; a dead node's
  connection fails exactly the commands it carried; ``socket_timeout`` bounds each caller's
  wait; a cancelled caller's reply is read and dropped. An ``ASK`` redirection is followed on a
  pooled connection (``ASKING`` and the command must be adjacent). Connection-state commands,
  pipelines, transactions and WATCH use pooled connections.
* Blocking pops (BLPOP, BRPOP, BLMOVE) wait on connections of their own, outside the pools,
  their reply read for their timeout plus ``socket_timeout`` (:mod:`._cluster_blocking`).
* Pipelines are grouped by node: one round trip per node, the nodes in parallel. A transaction
  (``pipeline(transaction=True)``, ``transaction()``, WATCH) runs on the node of its one slot.
* Walks (``scan_iter``, ``keys``, ``scan`` steps), ``randomkey`` and ``dbsize``/``flushdb``
  cover every primary (:mod:`._cluster_keyspace`); a pipeline cannot queue ``scan`` or
  ``randomkey``.
* TLS: the TLS settings (``REDIS_TLS``, ``REDIS_TLS_CA_CERTS``, ... or a ``rediss+cluster://``
  URL) apply to every node, the ones the cluster announces too.

Failover: a cluster replicates asynchronously, so a write acknowledged by a primary that dies
before its replica received it is lost when the replica takes over (the window is the
replication lag, usually well under a second). Calls during the failover (about
``cluster-node-timeout`` plus an election) fail with ``KVConnectionError`` once the retries are
spent; size ``retry_attempts`` and ``retry_backoff_cap`` to ride it out.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import sniffio
from anyio.abc import TaskGroup
from redis import exceptions as rexc
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.backoff import FullJitterBackoff, NoBackoff

from .._exceptions import (
    ClientClosedError,
    DriverUnavailableError,
    InvalidArgumentError,
    KVConnectionError,
    KVTimeoutError,
    OutcomeUnknownError,
    TLSError,
)
from .._pipeline import WatchSession
from .._script import Script, ScriptArg
from .._settings import KVSettings
from ..commands._base import NO_KEYS, Command, Table, text
from ..commands.blocking import BLOCKING
from ..observability import PoolStats
from ._cluster_batch import NotSent, on_every_primary, spread
from ._cluster_batch import execute_many as _execute_many
from ._cluster_blocking import Waiters, execute_blocking
from ._cluster_keyspace import SPREAD
from ._cluster_mux import NodeMuxes, close_at_loop_shutdown
from ._cluster_watch import ClusterWatch, release
from ._redis_errors import REDIRECTS, is_tls_error, translate_error
from ._redis_errors import redirect_of as _redirect_of
from ._redis_mux import PINNED_COMMANDS, Lost, Unsent, pack
from ._redis_pool import OtherLoop, cancel_requests, resume_cancellation, step
from ._redis_tls import tls_options
from ._slots import key_slot, slot_of
from .redis import (
    RedisDriver,
    _decode,
    _words,
)
from .redis import _exchange as _send_and_read

if TYPE_CHECKING:
    from ..pubsub import Feed, Subscription

__all__ = ["ClusterDriver"]

_SCAN = Command("SCAN", readonly=True, keys=NO_KEYS)
_EVALSHA = Command("EVALSHA")
_EVAL = Command("EVAL")
_MAX_REDIRECTS = 16


async def _exchange(conn: Connection, words: Sequence[Words]) -> list[Any]:
    return [_redirect_of(reply) for reply in await _send_and_read(conn, words)]


Words = tuple[Any, ...]
Target = int | ClusterNode
"""Where to send: a slot (its primary, looked up at each attempt) or one node."""


class _Execute(dict[Command, Callable[..., Awaitable[Any]]]):
    """The cluster driver's command table: every command runs :meth:`ClusterDriver.execute`,
    except blocking ones (:mod:`._cluster_blocking`) and SCAN and RANDOMKEY, which cover every
    primary (:mod:`._cluster_keyspace`)."""

    def __init__(self, driver: ClusterDriver) -> None:
        super().__init__()
        self._driver = driver

    def __missing__(self, spec: Command) -> Callable[..., Awaitable[Any]]:
        run: Callable[..., Awaitable[Any]]
        if spec in BLOCKING:
            run = functools.partial(execute_blocking, self._driver, spec)
        elif spec in SPREAD:
            run = functools.partial(SPREAD[spec], self._driver)
        else:
            run = functools.partial(self._driver.execute, spec)
        self[spec] = run
        return run


def _startup_nodes(settings: KVSettings) -> list[ClusterNode]:
    nodes = settings.cluster_nodes or [f"{settings.host}:{settings.port}"]
    found = []
    for node in nodes:
        host, _, port = node.rpartition(":")
        found.append(ClusterNode(host, int(port)))
    return found


def _tls_options(settings: KVSettings) -> dict[str, Any]:
    """The TLS settings (``REDIS_TLS``... or a ``rediss+cluster://`` URL) for every node."""
    options = tls_options(settings)
    if not options:
        return {}
    # RedisCluster picks its TLS connection class itself from ``ssl=True``.
    options.pop("connection_class")
    return {"ssl": True, **options}


class ClusterDriver:
    """Commands on a Redis Cluster. See :class:`aiokv._protocol.Driver`."""

    def __init__(self, settings: KVSettings) -> None:
        self._settings = settings
        self._backoff = FullJitterBackoff(
            cap=settings.retry_backoff_cap, base=settings.retry_backoff_base
        )
        self._cluster: RedisCluster | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._pubsub: RedisDriver | None = None
        # Auto-pipelining: a Mux per node on the running loop (None when turned off).
        self._auto = settings.auto_pipeline
        self._muxes: NodeMuxes | None = None
        self._guard: AsyncGenerator[None, None] | None = None
        # Called after the slot table changed (reloaded, or patched after a MOVED): the near
        # cache empties itself then (its entries were tracked by the nodes of the old table).
        self.on_topology: Callable[[], None] | None = None
        self._waiters: Waiters | None = None  # blocking commands' connections

    # -- lifetime ----------------------------------------------------------------------------

    def open(self, task_group: TaskGroup | None) -> None:
        try:
            library = sniffio.current_async_library()
        except sniffio.AsyncLibraryNotFoundError:
            return  # connect when the first command runs, inside its loop
        if library != "asyncio":
            raise DriverUnavailableError(
                f"the cluster driver runs on asyncio (redis.asyncio), not {library}; "
                "use the memory driver under trio"
            )

    def _build(self) -> RedisCluster:
        s = self._settings
        password = s.password.get_secret_value() if s.password is not None else None
        return RedisCluster(
            startup_nodes=_startup_nodes(s),
            username=s.username,
            password=password,
            max_connections=s.max_connections,  # per node
            socket_timeout=s.socket_timeout,
            socket_connect_timeout=s.connect_timeout,
            # No retries inside redis-py: this driver decides what may be sent again.
            retry=Retry(NoBackoff(), 0),
            # A slot without a primary during a failover is a retryable miss, not a failure
            # of the whole client.
            require_full_coverage=False,
            encoding_errors="surrogateescape",
            **_tls_options(s),
        )

    async def _ready(self) -> RedisCluster:
        """The cluster client of the running loop, its topology loaded."""
        if self._closed:
            raise ClientClosedError()
        loop = asyncio.get_running_loop()
        cluster = self._cluster
        if cluster is None or self._loop is not loop:
            if cluster is not None and self._loop is not None and self._loop.is_running():
                raise DriverUnavailableError(
                    "this cluster client is in use by an event loop in another thread; "
                    "create one AsyncClient per event loop"
                )
            # A previous loop has shut down with its connections: start afresh on this one.
            cluster = self._cluster = self._build()
            self._loop = loop
            if self._auto:
                self._start_muxes(loop)
        if cluster._initialize:
            try:
                await cluster.initialize()
            except (rexc.RedisClusterException, rexc.RedisError, OSError) as exc:
                if is_tls_error(exc):  # another attempt cannot fix a certificate
                    raise TLSError(
                        f"TLS with {self._settings.masked_url} failed ({exc}); check "
                        "REDIS_TLS_CA_CERTS (the CA trusted), the host name the certificate "
                        "names, and REDIS_TLS_CERTFILE / REDIS_TLS_KEYFILE if the nodes ask "
                        "for a client certificate"
                    ) from exc
                raise KVConnectionError(
                    f"cannot load the cluster's topology from {self._settings.masked_url}: {exc}"
                ) from exc
            if self._muxes is not None:
                self._muxes.prune(cluster.nodes_manager.nodes_cache)
            if self.on_topology is not None:
                self.on_topology()
        return cluster

    def _start_muxes(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._guard is not None:  # the previous loop's: it closed them if it shut down
            step(self._guard.aclose())
        muxes = self._muxes = NodeMuxes(self._settings, loop)
        self._guard = close_at_loop_shutdown(muxes)
        # One synchronous step to the ``yield``: from here the loop tracks the generator.
        step(self._guard.asend(None))

    async def aclose(self) -> None:
        self._closed = True
        muxes, self._muxes = self._muxes, None
        if muxes is not None and muxes.loop is asyncio.get_running_loop():
            muxes.close()
        guard, self._guard = self._guard, None
        if guard is not None:
            await guard.aclose()
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            await pubsub.aclose()
        waiting, self._waiters = self._waiters, None
        if waiting is not None and waiting.loop is asyncio.get_running_loop():
            await waiting.close()
        cluster, self._cluster = self._cluster, None
        if cluster is not None and self._loop is asyncio.get_running_loop():
            await cluster.aclose()

    def pool_stats(self) -> PoolStats:
        """The nodes' pools added up (``max_connections`` is per node); the multiplexed and
        the blocking commands' connections are not in them, as on the redis driver."""
        cluster = self._cluster
        in_use = idle = 0
        if cluster is not None:
            for node in cluster.nodes_manager.nodes_cache.values():
                opened = len(getattr(node, "_connections", ()))
                free = len(getattr(node, "_free", ()))
                in_use += opened - free
                idle += free
        return PoolStats(in_use, idle, 0, self._settings.max_connections)

    @property
    def table(self) -> Table:
        return _Execute(self)

    async def subscribe(
        self, channels: Sequence[str], patterns: Sequence[str], sink: Subscription
    ) -> Feed:
        """Classic pub/sub is cluster-wide (a message published on any node reaches every
        node's subscribers), so subscriptions use one node, through the standalone driver."""
        if self._closed:
            raise ClientClosedError()
        if self._pubsub is None:
            nodes = self._settings.cluster_nodes
            if nodes:
                host, _, port = nodes[0].rpartition(":")
            else:
                host, port = self._settings.host, str(self._settings.port)
            node = self._settings.model_copy(
                update={
                    "driver": "redis",
                    "url": None,
                    "cluster_nodes": None,
                    "host": host.strip("[]"),
                    "port": int(port),
                    "db": 0,
                }
            )
            self._pubsub = RedisDriver(node)
            self._pubsub.open(None)
        return await self._pubsub.subscribe(channels, patterns, sink)

    # -- one command ---------------------------------------------------------------------------

    async def execute(self, spec: Command, *args: Any) -> Any:
        """Run one command on the node of its keys' slot (split by slot if its spec allows)."""
        keys = spec.keys(args)
        if len(keys) == 1:
            target: Target | None = key_slot(keys[0])
        elif not keys:
            if spec.merge is not None:
                return await on_every_primary(self, spec, args)
            target = None
        else:
            slots = {key_slot(key) for key in keys}
            if len(slots) > 1:
                if spec.merge is not None:
                    return await spread(self, spec, args, keys)
                slot_of(keys, spec.name)  # raises CrossSlotError
            target = slots.pop()
        words = _words(spec, args)
        if self._auto and spec.name not in PINNED_COMMANDS:
            reply = await self._multiplexed(target, words, spec.readonly)
        else:
            reply = (await self._on(target, (words,), spec.readonly))[0]
        if isinstance(reply, rexc.RedisError):
            raise translate_error(reply, self._settings) from reply
        return _decode(spec, args, reply)

    async def _one(self, target: Target | None, words: Words, readonly: bool) -> Any:
        """One command on the node of ``target``: multiplexed unless turned off or pinned."""
        if self._auto and str(words[0]).upper() not in PINNED_COMMANDS:
            return await self._multiplexed(target, words, readonly)
        return (await self._on(target, (words,), readonly))[0]

    async def _on(
        self,
        target: Target | None,
        words: Sequence[Words],
        readonly: bool,
        asking: ClusterNode | None = None,
        redirects: int = 0,
    ) -> list[Any]:
        """Send ``words`` in one write to the node of ``target`` and read a reply for each.

        ``None`` is any primary. Error replies come back in place, except the redirections,
        which are followed (the node ran nothing): ``words`` are a single command or one
        MULTI/EXEC, so one redirection means none of them ran. ``asking``: a node to send
        them to first, after ``ASKING`` (an ``ASK`` redirection already followed).
        """
        cancels = cancel_requests()
        failures = 0
        while True:
            cluster = self._cluster
            if (
                cluster is None
                or cluster._initialize
                or self._loop is not asyncio.get_running_loop()
            ):
                cluster = await self._ready()
            node: ClusterNode | None = asking
            sent: Sequence[Words] = words
            if asking is not None:
                sent = (("ASKING",), *words)
            else:
                node = self._node(cluster, target)
            if node is None:  # a slot without a primary (mid-failover): nothing was sent
                failures += 1
                await self._wait_for_owner(cluster, target, failures)
                continue
            try:
                replies = await self._exchange_on(node, sent)
            except NotSent as exc:
                failures += 1
                error = exc.error
                if (
                    failures > self._settings.retry_attempts
                    or is_tls_error(error)
                    or isinstance(error, (rexc.AuthenticationError, rexc.TimeoutError))
                ):
                    await self._fail(error, cancels, failures)
                self._stale(cluster, node)
                asking = None
                await asyncio.sleep(self._backoff.compute(failures))
                continue
            except rexc.ConnectionError as exc:
                self._stale(cluster, node)
                if self._closed:
                    raise ClientClosedError() from exc
                failures += 1
                if not readonly:
                    raise OutcomeUnknownError(
                        f"the connection to {node.name} of {self._settings.masked_url} failed "
                        f"after the command was sent ({exc}); it may or may not have been "
                        "applied, so it was not sent again"
                    ) from exc
                if failures > self._settings.retry_attempts:
                    await self._fail(exc, cancels, failures)
                asking = None
                await asyncio.sleep(self._backoff.compute(failures))
                continue
            except rexc.RedisError as exc:
                await self._fail(exc, cancels, failures + 1)
            if asking is not None:
                replies, asking = replies[1:], None
            redirect = _redirection(replies)
            if redirect is None:
                if cancel_requests() > cancels:
                    await resume_cancellation()
                return replies
            redirects += 1
            if redirects > _MAX_REDIRECTS:
                raise translate_error(redirect, self._settings) from redirect
            asking = await self._follow(cluster, redirect, redirects)

    async def _multiplexed(self, target: Target | None, words: Words, readonly: bool) -> Any:
        """One command on the multiplexed connections of its node; the guarantees of
        :meth:`_on`: only a command that was not written, or a read, is sent again, and a
        redirection (the node ran nothing) is followed. No cancellation needs re-delivering:
        the caller awaits a future of its own, with no ``wait_for`` in between.
        """
        try:
            packed = pack(words)
        except UnicodeEncodeError as exc:
            raise InvalidArgumentError(f"cannot send this argument: {exc}") from exc
        except rexc.DataError as exc:
            raise translate_error(exc, self._settings, 1) from exc
        failures = redirects = 0
        while True:
            cluster = self._cluster
            muxes = self._muxes
            if (
                cluster is None
                or muxes is None
                or cluster._initialize
                or self._loop is not asyncio.get_running_loop()
            ):
                cluster = await self._ready()
                muxes = self._muxes
                if muxes is None:  # closed meanwhile
                    raise ClientClosedError()
            node = self._node(cluster, target)
            if node is None:  # a slot without a primary (mid-failover): nothing was sent
                failures += 1
                await self._wait_for_owner(cluster, target, failures)
                continue
            try:
                reply = await muxes.of(node).call(packed)
            except Unsent as exc:  # nothing was written: safe to send again, if it can help
                cause = exc.cause
                failures += 1
                if (
                    failures > self._settings.retry_attempts
                    or self._closed
                    or not isinstance(cause, rexc.ConnectionError)
                    or is_tls_error(cause)
                    or isinstance(cause, rexc.AuthenticationError)
                ):
                    self._fail_now(cause, failures)
                self._stale(cluster, node)
            except Lost as exc:
                self._stale(cluster, node)
                if self._closed:
                    raise ClientClosedError() from exc.cause
                failures += 1
                if not readonly:
                    raise OutcomeUnknownError(
                        f"the connection to {node.name} of {self._settings.masked_url} failed "
                        f"after the command was sent ({exc.cause}); it may or may not have "
                        "been applied, so it was not sent again"
                    ) from exc.cause
                if failures > self._settings.retry_attempts:
                    self._fail_now(exc.cause, failures)
            except OtherLoop:  # closed by its loop's shutdown: nothing was sent
                muxes.pop(node.name, None)
                failures += 1
                if failures > self._settings.retry_attempts:
                    raise ClientClosedError() from None
                continue
            except rexc.RedisError as exc:
                self._fail_now(exc, failures + 1)
            else:
                reply = _redirect_of(reply)
                if not isinstance(reply, REDIRECTS):
                    return reply
                redirects += 1
                if redirects > _MAX_REDIRECTS:
                    raise translate_error(reply, self._settings) from reply
                asking = await self._follow(cluster, reply, redirects)
                if asking is not None:
                    # ASKING and the command must follow each other on one connection.
                    return (await self._on(target, (words,), readonly, asking, redirects))[0]
                continue
            await asyncio.sleep(self._backoff.compute(failures))

    def _fail_now(self, exc: BaseException, attempts: int) -> NoReturn:
        if self._closed and isinstance(exc, rexc.ConnectionError):
            raise ClientClosedError() from exc
        if isinstance(exc, rexc.RedisError):
            raise translate_error(exc, self._settings, attempts) from exc
        raise exc

    async def _wait_for_owner(
        self, cluster: RedisCluster, target: Target | None, failures: int
    ) -> None:
        """A slot without a primary (mid-failover): reload the topology after a backoff.

        Raises:
            KVConnectionError: past ``retry_attempts``.
        """
        if failures > self._settings.retry_attempts:
            raise KVConnectionError(
                f"no node of {self._settings.masked_url} serves slot {target} "
                f"after {failures} attempts"
            )
        cluster._initialize = True
        await asyncio.sleep(self._backoff.compute(failures))

    def _node(self, cluster: RedisCluster, target: Target | None) -> ClusterNode | None:
        if isinstance(target, int):
            try:
                return cluster.nodes_manager.slots_cache[target][0]
            except (KeyError, IndexError):
                return None
        if target is None:
            return cluster.nodes_manager.default_node
        return target

    async def _follow(
        self, cluster: RedisCluster, redirect: rexc.RedisError, redirects: int
    ) -> ClusterNode | None:
        """Act on a redirection; return the node to send to once with ASKING, if any."""
        manager = cluster.nodes_manager
        # MovedError subclasses AskError in redis-py: it is tested first.
        if isinstance(redirect, rexc.MovedError):
            move = getattr(manager, "move_slot", None)
            if move is None:  # redis-py 5: the table is patched at the next lookup
                manager._moved_exception = redirect  # type: ignore[attr-defined]
                cluster._initialize = True
            else:
                moved = move(redirect)
                if inspect.isawaitable(moved):
                    await moved
                if self.on_topology is not None:
                    self.on_topology()
        elif isinstance(redirect, rexc.AskError):
            node = manager.get_node(host=redirect.host, port=redirect.port)
            if node is not None:
                return node
            cluster._initialize = True
        elif isinstance(redirect, rexc.ClusterDownError):
            cluster._initialize = True
            await asyncio.sleep(min(0.05 * redirects, 0.5))
        else:  # TRYAGAIN: keys of a multi-key command are mid-migration
            await asyncio.sleep(min(0.02 * redirects, 0.2))
        return None

    def _stale(self, cluster: RedisCluster, node: ClusterNode) -> None:
        """After a connection failure: reload the topology before the next attempt."""
        cluster._initialize = True
        mark = getattr(node, "update_active_connections_for_reconnect", None)
        if mark is not None:
            mark()
        move_last = getattr(cluster.nodes_manager, "move_node_to_end_of_cached_nodes", None)
        if move_last is not None:
            move_last(node.name)

    async def _exchange_on(self, node: ClusterNode, words: Sequence[Words]) -> list[Any]:
        """One write and its replies on a connection of ``node``.

        Raises:
            NotSent: if the connection failed before anything was written.
            redis.exceptions.ConnectionError: if it failed after.
        """
        conn = await self._acquire(node)
        try:
            try:
                reader = getattr(conn, "_reader", None)
                if reader is not None and reader.at_eof():
                    await conn.disconnect()  # closed while idle: reconnect before writing
                if not conn.is_connected:
                    await conn.connect()  # type: ignore[no-untyped-call]
            except rexc.RedisError as exc:
                raise NotSent(exc) from exc
            try:
                return await _exchange(conn, words)
            except (UnicodeEncodeError, TypeError) as exc:  # encoding precedes the write
                raise InvalidArgumentError(f"cannot send this argument: {exc}") from exc
        finally:
            release(node, conn)

    async def _acquire(self, node: ClusterNode) -> Connection:
        """A connection of ``node``; waits up to ``pool_timeout`` while all are busy."""
        deadline: float | None = None
        while True:
            try:
                conn: Connection = node.acquire_connection()
            except rexc.MaxConnectionsError:
                loop = asyncio.get_running_loop()
                if deadline is None:
                    deadline = loop.time() + self._settings.pool_timeout
                elif loop.time() > deadline:
                    raise KVTimeoutError(
                        f"no connection to {node.name} became free within pool_timeout="
                        f"{self._settings.pool_timeout}s (all max_connections="
                        f"{self._settings.max_connections} busy)"
                    ) from None
                await asyncio.sleep(0.001)
                continue
            needs = getattr(node, "disconnect_if_needed", None)
            if needs is not None:
                try:
                    await needs(conn)
                except BaseException:
                    release(node, conn)
                    raise
            return conn

    async def _fail(self, exc: rexc.RedisError, cancels: int, attempts: int) -> NoReturn:
        if cancel_requests() > cancels:
            await resume_cancellation()
        if self._closed and isinstance(exc, rexc.ConnectionError):
            raise ClientClosedError() from exc
        raise translate_error(exc, self._settings, attempts) from exc

    # -- pipelines and transactions (:mod:`._cluster_batch`) -------------------------------------

    async def execute_many(
        self, calls: Sequence[tuple[Command, tuple[Any, ...]]], atomic: bool
    ) -> list[Any]:
        return await _execute_many(self, calls, atomic)

    async def watch(self, keys: Sequence[str]) -> WatchSession:
        slot = slot_of(keys, "a transaction (WATCH)")
        cluster = await self._ready()
        node = self._node(cluster, slot)
        if node is None:
            raise KVConnectionError(f"no node of {self._settings.masked_url} serves slot {slot}")
        conn = await self._acquire(node)
        try:
            if not conn.is_connected:
                await conn.connect()  # type: ignore[no-untyped-call]
        except rexc.RedisError as exc:
            release(node, conn)
            raise translate_error(exc, self._settings, 1) from exc
        session = ClusterWatch(self, node, conn, keys, slot)
        await session.run(("WATCH", *keys))
        return session

    # -- walks and scripts ---------------------------------------------------------------------

    async def keys(self, pattern: str) -> list[str]:
        return list(dict.fromkeys([key async for key in self.scan_iter(pattern, 1000)]))

    async def scan_iter(self, pattern: str, count: int) -> AsyncIterator[str]:
        cluster = await self._ready()
        for node in list(cluster.get_primaries()):
            cursor: int = 0
            while True:
                reply = await self._one(
                    node, ("SCAN", cursor, "MATCH", pattern, "COUNT", count), True
                )
                if isinstance(reply, rexc.RedisError):
                    raise translate_error(reply, self._settings) from reply
                cursor, batch = int(reply[0]), reply[1]
                for key in batch:
                    yield text(key)
                if cursor == 0:
                    break

    async def run_script(
        self, script: Script, keys: Sequence[str], args: Sequence[ScriptArg]
    ) -> Any:
        slot = slot_of(keys, "a script")
        for words in (
            ("EVALSHA", script.sha1, len(keys), *keys, *args),
            ("EVAL", script.lua, len(keys), *keys, *args),
        ):
            reply = await self._one(slot, words, False)
            if not isinstance(reply, rexc.NoScriptError):
                break
            # First run on this node (or after SCRIPT FLUSH): NOSCRIPT ran nothing.
        if isinstance(reply, rexc.RedisError):
            raise translate_error(reply, self._settings) from reply
        return reply


def _redirection(replies: list[Any]) -> rexc.RedisError | None:
    for reply in replies:
        if isinstance(reply, REDIRECTS):
            return reply
    return None
