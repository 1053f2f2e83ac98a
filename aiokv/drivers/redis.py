"""The Redis (and Valkey) driver, on redis.asyncio with the hiredis parser.

* A burst larger than ``max_connections`` waits up to ``pool_timeout`` for a free connection
  instead of failing with "Too many connections" (see :class:`Pool`); past that it raises
  ``KVTimeoutError``.
* Delivery: a command is re-sent after a connection failure only when it cannot have run twice
  to any effect: the failure came before it was written (while connecting or handshaking), or
  it is a read (``Command.readonly``). Those are retried on a fresh connection with exponential
  backoff and jitter, ``retry_attempts`` times; past that they raise ``KVConnectionError``. A
  write whose connection failed after it was sent is never re-sent: it raises
  ``OutcomeUnknownError`` (it may or may not have been applied). Timeouts are not retried. TLS
  and authentication failures are not retried either: another attempt cannot fix them.
* Sentinel with ``read_from_replicas``: plain read commands (``Command.readonly``, but PING,
  which checks the master) go through a second driver of this class whose connections go to
  the replicas (see ``_redis_sentinel``); pipelines, transactions, WATCH, scripts, blocking
  commands and subscriptions stay on the master.
* Every redis-py error is translated here into the aiokv tree (most specific first) with
  ``raise ... from``, and messages name the address with the password masked.
* The connections belong to the event loop that opened them. A client used again under another
  loop (a module-level client in a test suite with a loop per test, or two ``asyncio.run()``
  calls) moves to the new loop; the old loop's connections are closed when that loop shuts down.
* Cancellation: a task cancelled while a command runs gets its CancelledError, so
  ``asyncio.timeout``, ``wait_for``, TaskGroups and anyio cancel scopes around commands work.
  redis-py can drop the cancellation on Python <= 3.11 (see ``_redis_pool``, "cancellations
  dropped by redis-py"); each command compares ``Task.cancelling()`` before and after and raises
  it again. A command interrupted mid-flight has its connection closed by redis-py, and one whose
  cancellation is raised again here has read its reply: no later command can read another's
  reply. Python 3.10 has no ``cancelling()``, so there a dropped cancellation stays dropped.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Sequence,
)
from typing import Any, NoReturn

import sniffio
from anyio.abc import TaskGroup
from redis import exceptions as rexc
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import FullJitterBackoff, NoBackoff

from .._exceptions import (
    ClientClosedError,
    DriverUnavailableError,
    InvalidArgumentError,
    KVError,
    OutcomeUnknownError,
    TransactionAbortedError,
    ValueDecodeError,
)
from .._pipeline import WatchSession
from .._script import Script, ScriptArg
from .._settings import KVSettings
from ..commands._base import NO_KEYS, Command, Table, text
from ..pubsub import Feed, Subscription
from ._redis_blocking import Dedicated, blocking_table
from ._redis_errors import is_tls_error, pool_timeout_error, translate_error
from ._redis_mux import PINNED_COMMANDS, Lost, Mux, Unsent, pack
from ._redis_pool import (
    NotNow,
    Pool,
    cancel_requests,
    close_at_loop_shutdown,
    expire_waiter,
    not_connected,
    resume_cancellation,
    step,
)
from ._redis_pubsub import open_feed
from ._redis_sentinel import SentinelPool, refused_by_replica
from ._redis_tls import tls_options

__all__ = ["RedisDriver", "translate_error"]

_SCAN = Command("SCAN", readonly=True, keys=NO_KEYS)
_EVALSHA = Command("EVALSHA")
_EVAL = Command("EVAL")

Words = tuple[Any, ...]


class _Execute(dict[Command, Callable[..., Awaitable[Any]]]):
    """The redis driver's command table: every command runs :meth:`RedisDriver.execute`."""

    def __init__(self, execute: Callable[..., Awaitable[Any]]) -> None:
        super().__init__()
        self._execute = execute

    def __missing__(self, spec: Command) -> Callable[..., Awaitable[Any]]:
        run = self[spec] = functools.partial(self._execute, spec)
        return run


def _words(spec: Command, args: tuple[Any, ...]) -> Words:
    return spec.encode(*args) if spec.encode is not None else (spec.name, *args)


def _decode(spec: Command, args: tuple[Any, ...], reply: Any) -> Any:
    decode = spec.decode
    if decode is None:
        return reply
    try:
        return decode(reply)
    except UnicodeDecodeError:
        raise ValueDecodeError(args[0]) from None


class RedisDriver:
    """Commands on a Redis-compatible server. See :class:`aiokv._protocol.Driver`."""

    def __init__(self, settings: KVSettings, *, replicas: bool = False) -> None:
        """``replicas``: connect to the sentinels' replicas (the driver that serves reads)."""
        self._settings = settings
        self._backoff = FullJitterBackoff(
            cap=settings.retry_backoff_cap, base=settings.retry_backoff_base
        )
        self._pool: Pool | None = None
        self._mux: Mux | None = None
        self._guard: AsyncGenerator[None, None] | None = None
        self._closed = False
        self._get_connection: Callable[..., Awaitable[Any]] = not_connected
        self._sentinel = settings.sentinels is not None
        # Blocking commands and subscriptions: connections outside the pool (_redis_blocking).
        self._dedicated_pool: Dedicated | None = None
        self._for_replicas = replicas
        self._replicas: RedisDriver | None = None  # reads, with read_from_replicas
        if settings.read_from_replicas and self._sentinel and not replicas:
            self._replicas = RedisDriver(settings, replicas=True)

    # -- lifetime ----------------------------------------------------------------------------

    def open(self, task_group: TaskGroup | None) -> None:
        try:
            library = sniffio.current_async_library()
        except sniffio.AsyncLibraryNotFoundError:
            library = "none"
        if library == "none":
            # A command was called outside a running loop, as in
            # ``loop.run_until_complete(kv.get(k))``: connect when it runs, in the loop.
            return
        if library != "asyncio":
            raise DriverUnavailableError(
                f"the redis driver runs on asyncio (redis.asyncio), not {library}; "
                "use the memory driver under trio"
            )
        self._connect()
        if self._replicas is not None:
            self._replicas.open(task_group)

    def _connect(self) -> None:
        """Build the pool and client on the running loop (connections open on first use)."""
        s = self._settings
        options: dict[str, Any] = {
            "max_connections": s.max_connections,
            "socket_timeout": s.socket_timeout,
            "socket_connect_timeout": s.connect_timeout,
            # No retries inside redis-py: the driver decides what may be sent again (see the
            # module docstring), and counts the attempts it reports.
            "retry": Retry(NoBackoff(), 0),
            # Pooled connections are checked before each use (a closed socket reads as EOF,
            # and redis-py reconnects), so no PING health check is needed.
            # Text read back from the server carries undecodable bytes as surrogate escapes
            # (see _text); encoding them the same way sends those bytes back unchanged.
            "encoding_errors": "surrogateescape",
            **tls_options(s),
        }
        pool: Pool
        if s.sentinels is not None:
            pool = SentinelPool(s, options, replicas=self._for_replicas)
        elif s.url is not None:
            pool = Pool.from_url(s.url, **options)
        else:
            password = s.password.get_secret_value() if s.password is not None else None
            pool = Pool(
                host=s.host, port=s.port, db=s.db, username=s.username, password=password, **options
            )
        self._pool = pool
        self._get_connection = pool.get_connection
        if s.auto_pipeline:
            self._mux = Mux(pool, s.multiplexed_connections, s.socket_timeout, s.masked_url)
        self._guard = close_at_loop_shutdown(pool, self._mux)
        # One synchronous step to the ``yield``: from here the loop tracks the generator
        # (through asyncio's asyncgen hooks) and closes it in shutdown_asyncgens().
        step(self._guard.asend(None))

    async def aclose(self) -> None:
        self._closed = True
        mux, self._mux = self._mux, None
        if mux is not None:
            mux.close()
        pool, self._pool = self._pool, None
        if pool is not None:
            while pool.waiters:  # commands waiting for a connection: now ClientClosedError
                pool.wake_one()
        guard, self._guard = self._guard, None
        if guard is not None:
            await guard.aclose()
        extra, self._dedicated_pool = self._dedicated_pool, None
        if extra is not None:
            await extra.aclose()
        if self._replicas is not None:
            await self._replicas.aclose()

    async def _later(self) -> AbstractConnection:
        """A connection for a command that could not get one at once (nothing was sent).

        The pool is full (wait up to ``pool_timeout`` for a release), or it belongs to a loop
        that has shut down (move to the running loop). redis-py errors are raised as they are.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.pool_timeout
        queued = woken = False
        while True:
            if self._closed:
                raise ClientClosedError()
            pool = self._pool
            if pool is None or pool.loop is not loop:
                self._move_to(loop, pool)
                woken = False
            elif woken:
                woken = False
                try:
                    return await pool.take_handoff()  # type: ignore[no-any-return]
                except NotNow:
                    continue
            elif pool.must_wait():
                await self._wait_for_connection(pool, deadline, queued)
                queued = woken = True
                continue
            try:
                return await self._get_connection()  # type: ignore[no-any-return]
            except NotNow:
                continue

    async def _wait_for_connection(self, pool: Pool, deadline: float, again: bool) -> None:
        waiter: asyncio.Future[bool] = pool.loop.create_future()
        # A command woken but beaten to the connection keeps its place at the front.
        if again:
            pool.waiters.appendleft(waiter)
        else:
            pool.waiters.append(waiter)
        timer = pool.loop.call_at(deadline, expire_waiter, waiter)
        try:
            woken = await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.result():
                pool.handoffs -= 1
                pool.wake_one()  # cancelled just after a wake-up: pass it on
            raise
        finally:
            timer.cancel()
        if not woken:
            raise pool_timeout_error(self._settings)

    def _move_to(self, loop: asyncio.AbstractEventLoop, old: Pool | None) -> None:
        """Build a pool on ``loop``, the running loop (``old`` is the pool of another loop)."""
        if self._closed:
            raise ClientClosedError()
        if old is not None and old.loop.is_running():
            raise DriverUnavailableError(
                "this redis client is in use by an event loop in another thread; "
                "create one AsyncClient per event loop"
            )
        # The old loop has shut down (which closed its connections) or merely stopped; either
        # way its connections cannot be used or closed from this loop.
        if self._guard is not None:
            step(self._guard.aclose())
        self._connect()

    # -- execution -----------------------------------------------------------------------------

    @property
    def table(self) -> Table:
        """A new command table; the client keeps the one it takes when it opens.

        Not stored on the driver: the table refers to the driver, and a driver in a reference
        cycle would outlive a client dropped without ``aclose()`` until a collector pass, which
        then finds its sockets unclosed instead of closing them when the loop shuts down.
        """
        table = _Execute(self.execute)
        table.update(blocking_table(self))
        return table

    async def subscribe(
        self, channels: Sequence[str], patterns: Sequence[str], sink: Subscription
    ) -> Feed:
        return await open_feed(self, channels, patterns, sink)

    async def execute(self, spec: Command, *args: Any) -> Any:
        """Run one command: encode, one round trip (retried only when safe), decode."""
        if spec.readonly and self._replicas is not None and spec.name != "PING":
            return await self._replicas.execute(spec, *args)
        words = _words(spec, args)
        if self._mux is not None and spec.name not in PINNED_COMMANDS:
            reply = await self._multiplexed(words, spec.readonly)
        else:
            reply = (await self._round_trip((words,), spec.readonly))[0]
        if isinstance(reply, rexc.RedisError):
            raise translate_error(reply, self._settings) from reply
        return _decode(spec, args, reply)

    async def execute_many(
        self, calls: Sequence[tuple[Command, tuple[Any, ...]]], atomic: bool
    ) -> list[Any]:
        try:
            return await self._execute_many(calls, atomic)
        except InvalidArgumentError as exc:
            replies = await _without_unsendable(
                exc, calls, lambda rest: self._execute_many(rest, atomic)
            )
        assert replies is not None  # only a watch answers None
        return replies

    async def _execute_many(
        self, calls: Sequence[tuple[Command, tuple[Any, ...]]], atomic: bool
    ) -> list[Any]:
        if not calls and not atomic:
            return []
        words = [_words(spec, args) for spec, args in calls]
        if atomic:
            words = [("MULTI",), *words, ("EXEC",)]
        readonly = all(spec.readonly for spec, _ in calls)
        replies = await self._round_trip(words, readonly)
        if atomic:
            return self._exec_replies(calls, replies)
        return self._decoded(calls, replies)

    def _decoded(
        self, calls: Sequence[tuple[Command, tuple[Any, ...]]], replies: list[Any]
    ) -> list[Any]:
        out: list[Any] = []
        for (spec, args), reply in zip(calls, replies, strict=True):
            if isinstance(reply, rexc.RedisError):
                out.append(translate_error(reply, self._settings))
                continue
            try:
                out.append(_decode(spec, args, reply))
            except KVError as exc:
                out.append(exc)
        return out

    def _exec_replies(
        self, calls: Sequence[tuple[Command, tuple[Any, ...]]], replies: list[Any]
    ) -> list[Any]:
        """Read MULTI, QUEUED..., EXEC: a command refused while queueing aborts the whole."""
        refused: list[tuple[int, BaseException]] = [
            (i, translate_error(reply, self._settings))
            for i, reply in enumerate(replies[1:-1])
            if isinstance(reply, rexc.RedisError)
        ]
        result = replies[-1]
        if refused or isinstance(result, rexc.RedisError):
            first = refused[0][1] if refused else translate_error(result, self._settings)
            raise TransactionAbortedError(
                f"EXECABORT Transaction discarded because of previous errors: {first}", refused
            ) from first
        if result is None:  # only under WATCH: a watched key changed
            raise _WatchFailed()
        return self._decoded(calls, result)

    async def _round_trip(self, words: Sequence[Words], readonly: bool) -> list[Any]:
        """Send ``words`` on one pooled connection and read a reply for each.

        Error replies come back in place (as redis-py errors). A connection failure before the
        commands were written, or of a read-only batch, is retried; one after a write was
        written raises ``OutcomeUnknownError``.
        """
        cancels = cancel_requests()
        failures = 0
        resent = False
        while True:
            if self._closed:
                raise ClientClosedError()
            try:
                conn = await self._acquire()
            except rexc.ConnectionError as exc:
                # Nothing was sent: safe to try again, unless another attempt cannot help.
                failures += 1
                if (
                    failures > self._settings.retry_attempts
                    or self._closed
                    or is_tls_error(exc)
                    or isinstance(exc, rexc.AuthenticationError)
                ):
                    await self._fail(exc, cancels, failures)
                await asyncio.sleep(self._backoff.compute(failures))
                continue
            except rexc.RedisError as exc:
                await self._fail(exc, cancels, failures + 1)
            try:
                replies = await _exchange(conn, words)
            except rexc.ConnectionError as exc:
                await self._release(conn)
                if self._closed:
                    raise ClientClosedError() from exc
                failures += 1
                if not readonly:
                    raise OutcomeUnknownError(
                        f"the connection to {self._settings.masked_url} failed after the "
                        f"command was sent ({exc}); it may or may not have been applied, "
                        "so it was not sent again"
                    ) from exc
                if failures > self._settings.retry_attempts:
                    await self._fail(exc, cancels, failures)
                await asyncio.sleep(self._backoff.compute(failures))
                continue
            except rexc.RedisError as exc:
                await self._release(conn)
                await self._fail(exc, cancels, failures + 1)
            except (UnicodeEncodeError, TypeError) as exc:
                await self._release(conn)  # nothing was sent: encoding precedes the write
                raise InvalidArgumentError(f"cannot send this argument: {exc}") from exc
            except BaseException:
                await self._release(conn)  # redis-py closed it if a reply was in flight
                raise
            await self._release(conn)
            if self._sentinel and not resent and refused_by_replica(conn, replies):
                resent = True  # a demoted master refused it all: nothing was applied
                continue
            if cancel_requests() > cancels:
                await resume_cancellation()
            return replies

    async def _multiplexed(self, words: Words, readonly: bool) -> Any:
        """One command on the multiplexed connections; the same guarantees as ``_round_trip``.

        No cancellation needs re-delivering here: no ``wait_for`` stands between the caller
        and its reply, which it awaits on a future of its own.
        """
        try:
            packed = pack(words)
        except UnicodeEncodeError as exc:
            raise InvalidArgumentError(f"cannot send this argument: {exc}") from exc
        except rexc.DataError as exc:
            raise translate_error(exc, self._settings, 1) from exc
        failures = 0
        while True:
            mux = self._mux
            if mux is None:  # closed, or turned off by a move to another loop
                if self._closed:
                    raise ClientClosedError()
                return (await self._round_trip((words,), readonly))[0]
            try:
                return await mux.call(packed)
            except Unsent as exc:  # nothing was sent: safe to try again, if it can help
                cause = exc.cause
                failures += 1
                if (
                    failures > self._settings.retry_attempts
                    or self._closed
                    or not isinstance(cause, rexc.ConnectionError)
                    or is_tls_error(cause)
                    or isinstance(cause, rexc.AuthenticationError)
                ):
                    await self._fail_multiplexed(cause, failures)
            except Lost as exc:
                if self._closed:
                    raise ClientClosedError() from exc.cause
                failures += 1
                if not readonly:
                    raise OutcomeUnknownError(
                        f"the connection to {self._settings.masked_url} failed after the "
                        f"command was sent ({exc.cause}); it may or may not have been applied, "
                        "so it was not sent again"
                    ) from exc.cause
                if failures > self._settings.retry_attempts:
                    await self._fail_multiplexed(exc.cause, failures)
            except NotNow:  # the mux belongs to a loop that has shut down: move
                self._move_to(asyncio.get_running_loop(), self._pool)
                continue
            except rexc.RedisError as exc:
                await self._fail_multiplexed(exc, failures + 1)
            await asyncio.sleep(self._backoff.compute(failures))

    async def _fail_multiplexed(self, exc: BaseException, attempts: int) -> NoReturn:
        if self._closed and isinstance(exc, rexc.ConnectionError):
            raise ClientClosedError() from exc
        if isinstance(exc, rexc.RedisError):
            raise translate_error(exc, self._settings, attempts) from exc
        raise exc

    async def _acquire(self) -> AbstractConnection:
        """A connected pooled connection; nothing has been sent on it for this command."""
        try:
            conn: AbstractConnection = await self._get_connection()
        except NotNow:
            conn = await self._later()
        reader = getattr(conn, "_reader", None)
        if reader is not None and reader.at_eof():
            # The server closed it while it sat in the pool (a restart, an idle timeout): the
            # loop has seen the EOF, so reconnect now, while the command is still unsent,
            # rather than write it into a dead socket and lose track of whether it ran.
            try:
                await conn.disconnect()
                await conn.connect()  # type: ignore[no-untyped-call]
            except BaseException:
                await self._release(conn)
                raise
        return conn

    async def _release(self, conn: AbstractConnection) -> None:
        pool = self._pool
        if pool is not None and conn in pool._in_use_connections:
            await pool.release(conn)
        else:
            await conn.disconnect()

    async def _fail(self, exc: rexc.RedisError, cancels: int, attempts: int) -> NoReturn:
        """Raise ``exc`` as an aiokv error, or the cancellation redis-py dropped before it."""
        if cancel_requests() > cancels:
            await resume_cancellation()
        if self._closed and isinstance(exc, rexc.ConnectionError):
            raise ClientClosedError() from exc
        raise translate_error(exc, self._settings, attempts) from exc

    # -- walks over the keyspace ----------------------------------------------------------------

    async def keys(self, pattern: str) -> list[str]:
        # SCAN may return a key twice; dict.fromkeys deduplicates and keeps order.
        return list(dict.fromkeys([key async for key in self.scan_iter(pattern, 1000)]))

    async def scan_iter(self, pattern: str, count: int) -> AsyncIterator[str]:
        cursor: int = 0
        while True:
            cursor, batch = await self.execute(_SCAN, cursor, "MATCH", pattern, "COUNT", count)
            for key in batch:
                yield text(key)
            if int(cursor) == 0:
                return

    # -- scripts and watches ------------------------------------------------------------------

    async def run_script(
        self, script: Script, keys: Sequence[str], args: Sequence[ScriptArg]
    ) -> Any:
        try:
            return await self.execute(_EVALSHA, script.sha1, len(keys), *keys, *args)
        except KVError as exc:
            if not isinstance(exc.__cause__, rexc.NoScriptError):
                raise
        # First run on this server (or after SCRIPT FLUSH): NOSCRIPT ran nothing; send the source.
        return await self.execute(_EVAL, script.lua, len(keys), *keys, *args)

    async def watch(self, keys: Sequence[str]) -> WatchSession:
        conn = await self._dedicated()
        session = RedisWatch(self, conn)
        if keys:  # WATCH needs a key; without one the transaction is a plain MULTI/EXEC
            try:
                reply = (await session.run(("WATCH", *keys)))[0]
            except InvalidArgumentError:  # a key that cannot be sent: give the connection back
                await session.close()
                raise
            if isinstance(reply, rexc.RedisError):
                # Refused (an ACL without WATCH): going on would drop the check silently.
                await session.close()
                raise translate_error(reply, self._settings) from reply
        return session

    async def _dedicated(self) -> AbstractConnection:
        """A pooled connection held for a session (WATCH); released by the session."""
        if self._closed:
            raise ClientClosedError()
        try:
            return await self._acquire()
        except rexc.RedisError as exc:
            raise translate_error(exc, self._settings, 1) from exc


def _unsendable(spec: Command, args: tuple[Any, ...]) -> InvalidArgumentError | None:
    """The error of a command whose text cannot be encoded (a lone surrogate), else None."""
    for word in _words(spec, args):
        if type(word) is str:
            try:
                word.encode("utf-8", "surrogateescape")
            except UnicodeEncodeError as exc:
                return InvalidArgumentError(f"cannot send this argument: {exc}")
    return None


Calls = Sequence[tuple[Command, tuple[Any, ...]]]


async def _without_unsendable(
    error: InvalidArgumentError, calls: Calls, run: Callable[[Calls], Awaitable[list[Any] | None]]
) -> list[Any] | None:
    """Run a batch again without the commands that could not be encoded (nothing was sent).

    Each of those fails alone, in place, as a command the server refuses while running would,
    and as on the memory driver; ``error`` is raised again if no command is to blame.
    """
    failed = {i: e for i, (spec, args) in enumerate(calls) if (e := _unsendable(spec, args))}
    if not failed:
        raise error
    rest = [call for i, call in enumerate(calls) if i not in failed]
    replies = await run(rest)  # even if empty: MULTI/EXEC still checks a watch
    if replies is None:
        return None
    answers = iter(replies)
    return [failed[i] if i in failed else next(answers) for i in range(len(calls))]


async def _exchange(conn: AbstractConnection, words: Sequence[Words]) -> list[Any]:
    """Write every command, then read one reply each; error replies are kept in place."""
    packed = conn.pack_command(*words[0]) if len(words) == 1 else conn.pack_commands(words)
    await conn.send_packed_command(packed, check_health=False)
    replies: list[Any] = []
    for _ in words:
        try:
            replies.append(await conn.read_response())
        except rexc.ResponseError as exc:
            replies.append(exc)
    return replies


class _WatchFailed(Exception):
    """EXEC answered nil: a watched key changed."""


class _SessionTable(dict[Command, Callable[..., Awaitable[Any]]]):
    def __init__(self, session: RedisWatch) -> None:
        super().__init__()
        self._session = session

    def __missing__(self, spec: Command) -> Callable[..., Awaitable[Any]]:
        run = self[spec] = functools.partial(self._session.execute, spec)
        return run


class RedisWatch:
    """WATCH on one connection held from the pool until :meth:`close`."""

    def __init__(self, driver: RedisDriver, conn: AbstractConnection) -> None:
        self._driver = driver
        self._conn: AbstractConnection | None = conn
        self._watching = True
        self.table: Table = _SessionTable(self)

    async def run(self, *words: Words, readonly: bool = True) -> list[Any]:
        conn = self._conn
        if conn is None:
            raise ClientClosedError()
        settings = self._driver._settings
        try:
            return await _exchange(conn, words)
        except (UnicodeEncodeError, TypeError) as exc:  # nothing was sent: the watch holds
            raise InvalidArgumentError(f"cannot send this argument: {exc}") from exc
        except rexc.ConnectionError as exc:
            await self.close()
            if not readonly:
                raise OutcomeUnknownError(
                    f"the connection to {settings.masked_url} failed during EXEC ({exc}); "
                    "the transaction may or may not have been applied"
                ) from exc
            raise translate_error(exc, settings, 1) from exc
        except rexc.RedisError as exc:
            await self.close()
            raise translate_error(exc, settings, 1) from exc
        except BaseException:
            await self.close()
            raise

    async def execute(self, spec: Command, *args: Any) -> Any:
        reply = (await self.run(_words(spec, args), readonly=spec.readonly))[0]
        if isinstance(reply, rexc.RedisError):
            raise translate_error(reply, self._driver._settings) from reply
        return _decode(spec, args, reply)

    async def exec(self, calls: Sequence[tuple[Command, tuple[Any, ...]]]) -> list[Any] | None:
        try:
            return await self._exec(calls)
        except InvalidArgumentError as exc:
            return await _without_unsendable(exc, calls, self._exec)

    async def _exec(self, calls: Sequence[tuple[Command, tuple[Any, ...]]]) -> list[Any] | None:
        words = [("MULTI",), *(_words(spec, args) for spec, args in calls), ("EXEC",)]
        replies = await self.run(*words, readonly=False)
        self._watching = False  # EXEC (or its abort) ends the watch
        try:
            return self._driver._exec_replies(calls, replies)
        except _WatchFailed:
            return None

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._watching:
            try:
                await _exchange(conn, [("UNWATCH",)])
            except BaseException:
                await conn.disconnect()
        await self._driver._release(conn)
