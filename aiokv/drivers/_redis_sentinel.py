"""Redis Sentinel for the redis driver: connections that find the current master themselves.

Every connection asks the sentinels where the master is each time it connects, not once per
pool: a failover is followed however many times it happens. (redis-py's asyncio
``SentinelConnectionPool`` also asks on connect, but it remembers the answer in the pool and
its ``release()`` keeps connections opened to an earlier master; aiokv keeps no answer beyond
the one connect that asked for it.) Three checks keep a connection on the master:

* on connect, ``ROLE`` must answer ``master``: a sentinel that has not seen the failover yet,
  or an old master restarted before the sentinels demoted it, is refused and asked again
  (as a connection failure before anything was sent, so the driver retries it);
* a pooled connection opened before the sentinels last reported a new master address is
  reconnected before use; and the sentinels are asked again in the background once a
  ``RECHECK_SECONDS`` interval has passed since the last answer, so that a failover that left
  the old master running (``SENTINEL FAILOVER``, a network partition) is noticed within about
  that interval even though no connection broke;
* a ``READONLY`` error reply (a write sent to a master demoted since) closes the connection
  when it goes back to the pool, and the driver sends the refused command again, once (see
  :func:`refused_by_replica`): the reply proves it was not applied.

Concurrent connects share one round of questions to the sentinels, so a pool reconnecting
after a failover asks once, not once per connection.

With ``read_from_replicas`` the driver keeps a second pool, of :class:`ReplicaConnection`: each
connection asks the sentinels for the replicas they report healthy (``SENTINEL REPLICAS``) and
connects to the next one in turn, trying the others if it cannot reach it, then the master if
no replica answers. A replica's data may lag the master's: only reads are sent there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from redis import exceptions as rexc
from redis.asyncio.connection import AbstractConnection, Connection, SSLConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from .._settings import KVSettings
from .._url import SENTINEL_PORT, parse_address
from ._redis_pool import Pool
from ._redis_tls import tls_options

__all__ = [
    "MasterNotFoundError",
    "ReplicaConnection",
    "SentinelPool",
    "Sentinels",
    "refused_by_replica",
]

_UNHEALTHY = frozenset({"s_down", "o_down", "disconnected"})

RECHECK_SECONDS = 1.0
"""How old the sentinels' last answer may be before a command starts asking them again."""


class MasterNotFoundError(rexc.ConnectionError):
    """No sentinel named a healthy master (a failover in progress, or all sentinels down)."""


class Sentinels:
    """The sentinels of one monitored master, asked on each connect where it is now (or where
    its replicas are)."""

    def __init__(self, settings: KVSettings) -> None:
        assert settings.sentinels is not None
        assert settings.sentinel_master is not None
        self.service = settings.sentinel_master
        self.addresses = [parse_address(a, SENTINEL_PORT) for a in settings.sentinels]
        password = settings.sentinel_password
        self._options: dict[str, Any] = {
            "password": None if password is None else password.get_secret_value(),
            "socket_timeout": settings.socket_timeout,
            "socket_connect_timeout": settings.connect_timeout,
            "retry": Retry(NoBackoff(), 0),
        }
        tls = tls_options(settings)
        self._class: type[Connection] = tls.pop("connection_class", Connection)
        self._options.update(tls)
        self.master_address: tuple[str, int] | None = None
        self.answered_at = float("-inf")
        """Loop time of the sentinels' last answer about the master."""
        self.generation = 0
        """Goes up each time the sentinels report a master at another address."""
        self._asking: asyncio.Task[tuple[str, int]] | None = None
        self._asking_replicas: asyncio.Task[list[tuple[str, int]]] | None = None
        self._turn = 0

    async def master(self) -> tuple[str, int]:
        """The master's address as the first sentinel that knows a healthy one reports it.

        Raises:
            MasterNotFoundError: no sentinel answered with a healthy master.
        """
        # Shielded: a caller cancelled while waiting must not cancel the others' answer.
        return await asyncio.shield(self._question())

    def recheck(self, now: float) -> None:
        """Start asking the sentinels again if their last answer is stale (not awaited)."""
        if now - self.answered_at > RECHECK_SECONDS:
            self.answered_at = now  # one question per interval, whatever its outcome
            self._question()

    def _question(self) -> asyncio.Task[tuple[str, int]]:
        task = self._asking
        if task is None or task.done():
            task = self._asking = asyncio.get_running_loop().create_task(self._ask_master())
            task.add_done_callback(_retrieve)
        return task

    async def replicas(self) -> list[tuple[str, int]]:
        """The healthy replicas' addresses, starting with the next one in turn; [] if none.

        A sentinel that cannot be asked is skipped; [] if none can (the master is then asked,
        and raises what it raises).
        """
        task = self._asking_replicas
        if task is None or task.done():
            loop = asyncio.get_running_loop()
            task = self._asking_replicas = loop.create_task(self._ask_replicas())
            task.add_done_callback(_retrieve)
        found = await asyncio.shield(task)
        if not found:
            return []
        self._turn = (self._turn + 1) % len(found)
        return found[self._turn :] + found[: self._turn]

    def close(self) -> None:
        """Stop a question in progress (the pool is closing)."""
        for task in (self._asking, self._asking_replicas):
            if task is not None and not task.done():
                task.cancel()

    async def _ask_replicas(self) -> list[tuple[str, int]]:
        for sentinel in self.addresses:
            try:
                reply = await self._ask(sentinel, "SENTINEL", "REPLICAS", self.service)
            except (rexc.ConnectionError, rexc.TimeoutError, rexc.ResponseError):
                continue
            found = []
            for entry in reply or ():
                fields = _fields(entry)
                if not set(fields.get("flags", "").split(",")) & _UNHEALTHY:
                    found.append(_address(fields))
            return sorted(found)  # one order for every answer, so turns go round them all
        return []

    async def _ask_master(self) -> tuple[str, int]:
        errors: list[str] = []
        for index, sentinel in enumerate(self.addresses):
            try:
                fields = _fields(await self._ask(sentinel, "SENTINEL", "MASTER", self.service))
            except (rexc.ConnectionError, rexc.TimeoutError, rexc.ResponseError) as exc:
                errors.append(f"{_where(sentinel)}: {exc}")
                continue
            flags = set(fields.get("flags", "").split(","))
            if "master" not in flags or flags & _UNHEALTHY:
                errors.append(f"{_where(sentinel)}: master is {fields.get('flags')}")
                continue
            # The one that answered is asked first next time.
            self.addresses.insert(0, self.addresses.pop(index))
            found = _address(fields)
            self.answered_at = asyncio.get_running_loop().time()
            if found != self.master_address:
                self.master_address = found
                self.generation += 1
            return found
        raise MasterNotFoundError(
            f"no sentinel reports a healthy master {self.service!r} ({'; '.join(errors)})"
        )

    async def _ask(self, sentinel: tuple[str, int], *command: str) -> Any:
        conn = self._class(host=sentinel[0], port=sentinel[1], **self._options)
        try:
            await conn.connect()  # type: ignore[no-untyped-call]
            await conn.send_command(*command, check_health=False)
            return await conn.read_response()
        finally:
            await conn.disconnect()


def _retrieve(task: asyncio.Task[Any]) -> None:
    # Every waiter may have been cancelled: read the outcome so asyncio does not log it.
    if not task.cancelled():
        task.exception()


def _fields(reply: Any) -> dict[str, str]:
    """A sentinel's reply about one server (a RESP3 map, or RESP2 ``[name, value, ...]``)."""
    items = reply.items() if isinstance(reply, dict) else zip(reply[::2], reply[1::2], strict=False)
    return {_text(name): _text(value) for name, value in items}


def _text(word: Any) -> str:
    return word.decode() if isinstance(word, bytes) else str(word)


def _address(fields: dict[str, str]) -> tuple[str, int]:
    return fields["ip"], int(fields["port"])


def _where(address: tuple[str, int]) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class SentinelConnection(Connection):
    """A connection that asks the sentinels where to connect, each time it connects."""

    def __init__(self, *, sentinels: Sentinels, **kwargs: Any) -> None:
        self.sentinels = sentinels
        self.generation = -1
        super().__init__(**kwargs)

    async def _connect(self) -> None:
        self.host, self.port = await self.sentinels.master()
        self.generation = self.sentinels.generation
        await super()._connect()  # type: ignore[no-untyped-call]

    async def on_connect_check_health(self, check_health: bool = True) -> None:
        await super().on_connect_check_health(check_health=check_health)
        await self.send_command("ROLE", check_health=False)
        try:
            role = await self.read_response()
        except rexc.NoPermissionError:
            return  # an ACL user without ROLE: READONLY replies still catch a demoted master
        if not role or role[0] not in (b"master", "master"):
            raise rexc.ConnectionError(
                f"{_where((self.host, self.port))} is no longer the master of "
                f"{self.sentinels.service!r}; asking the sentinels again"
            )

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().read_response(*args, **kwargs)
        except rexc.ReadOnlyError:
            # The master was demoted: reconnect (and ask the sentinels) when released.
            self.mark_for_reconnect()  # type: ignore[no-untyped-call]
            raise


class SentinelSSLConnection(SentinelConnection, SSLConnection):
    """:class:`SentinelConnection` over TLS."""


class ReplicaConnection(Connection):
    """A connection for reads: to a replica the sentinels report healthy, else the master.

    No ``ROLE`` check: any server of the group can answer a read (a replica promoted since, or
    the master when no replica can be reached), only more or less up to date.
    """

    def __init__(self, *, sentinels: Sentinels, **kwargs: Any) -> None:
        self.sentinels = sentinels
        super().__init__(**kwargs)

    async def _connect(self) -> None:
        for host, port in await self.sentinels.replicas():
            self.host, self.port = host, port
            try:
                await super()._connect()  # type: ignore[no-untyped-call]
            except (OSError, asyncio.TimeoutError):
                continue  # unreachable: the next replica, then the master
            return
        self.host, self.port = await self.sentinels.master()
        await super()._connect()  # type: ignore[no-untyped-call]


class ReplicaSSLConnection(ReplicaConnection, SSLConnection):
    """:class:`ReplicaConnection` over TLS."""


class SentinelPool(Pool):
    """The driver's :class:`Pool`, for connections that follow the master (or, with
    ``replicas``, that go to the replicas: see :class:`ReplicaConnection`)."""

    def __init__(
        self, settings: KVSettings, options: dict[str, Any], *, replicas: bool = False
    ) -> None:
        self.sentinels = Sentinels(settings)
        self.replicas = replicas
        options = dict(options)
        tls = options.pop("connection_class", None) is not None
        password = settings.password
        if replicas:
            connection_class: type[Connection] = ReplicaSSLConnection if tls else ReplicaConnection
        else:
            connection_class = SentinelSSLConnection if tls else SentinelConnection
        super().__init__(
            connection_class=connection_class,
            sentinels=self.sentinels,
            db=settings.db,
            username=settings.username,
            password=None if password is None else password.get_secret_value(),
            **options,
        )

    async def ensure_connection(self, connection: AbstractConnection) -> None:
        if not self.replicas:  # a read may go to any server of the group: no need to recheck
            self.sentinels.recheck(self.loop.time())
        # Opened before the sentinels last reported a new master: it may point at the old one.
        if (
            isinstance(connection, SentinelConnection)
            and connection.is_connected
            and connection.generation != self.sentinels.generation
        ):
            await connection.disconnect()
        await super().ensure_connection(connection)

    async def disconnect(self, inuse_connections: bool = True) -> None:
        self.sentinels.close()
        await super().disconnect(inuse_connections)


def refused_by_replica(conn: AbstractConnection, replies: Sequence[Any]) -> bool:
    """True if ``replies`` prove a demoted master refused the whole batch: send it again.

    A write to a read-only replica is refused before it runs. The batch is sent again only if
    nothing in it can have been applied: every reply is READONLY, or a transaction was aborted
    (EXECABORT) because a command in it was refused with READONLY. A batch that mixed
    answered reads with refused writes is not: its READONLY replies are returned as errors.
    Only connections managed by Sentinel qualify; a plain server stays a replica on retry.
    """
    if not isinstance(conn, SentinelConnection) or not replies:
        return False
    if all(isinstance(reply, rexc.ReadOnlyError) for reply in replies):
        return True
    return isinstance(replies[-1], rexc.ExecAbortError) and any(
        isinstance(reply, rexc.ReadOnlyError) for reply in replies[:-1]
    )
