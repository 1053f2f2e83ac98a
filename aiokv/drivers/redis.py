"""The Redis (and Valkey) driver, on redis.asyncio with the hiredis parser.

* A burst larger than ``max_connections`` waits up to ``pool_timeout`` for a free connection
  instead of failing with "Too many connections" (see :class:`_Pool`); past that it raises
  ``KVTimeoutError``.
* Commands that fail because a connection dropped (a restart, an idle reset) are retried on a
  fresh connection with exponential backoff and jitter, ``retry_attempts`` times, for URL and
  host/port configurations alike; past that they raise ``KVConnectionError``. Timeouts are not
  retried: the command may have run, and retrying would multiply the caller's wait.
* Every redis-py error is translated here into the aiokv tree (most specific first) with
  ``raise ... from``, and messages name the address with the password masked.
* The connections belong to the event loop that opened them. A client used again under another
  loop (a module-level client in a test suite with a loop per test, or two ``asyncio.run()``
  calls) moves to the new loop; the old loop's connections are closed when that loop shuts down.
"""

from __future__ import annotations

import asyncio
import builtins
from collections import deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Mapping,
    Sequence,
)
from typing import Any, NoReturn

import sniffio
from anyio.abc import TaskGroup
from redis import exceptions as rexc
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import FullJitterBackoff

from .._exceptions import (
    ClientClosedError,
    CommandError,
    DriverUnavailableError,
    IntegerOverflowError,
    InvalidArgumentError,
    KVConnectionError,
    KVError,
    KVTimeoutError,
    NotAnIntegerError,
    OutOfMemoryError,
    ValueDecodeError,
    WrongTypeError,
)
from .._script import Script, ScriptArg
from .._settings import KVSettings

__all__ = ["RedisDriver", "translate_error"]

# Reply prefixes, most specific first; the message is kept as the server wrote it.
_REPLY_ERRORS: tuple[tuple[str, type[CommandError]], ...] = (
    ("WRONGTYPE", WrongTypeError),
    ("ERR increment or decrement would overflow", IntegerOverflowError),
    ("ERR decrement would overflow", IntegerOverflowError),
    ("ERR value is not an integer", NotAnIntegerError),
    ("OOM", OutOfMemoryError),
    ("ERR invalid expire time", InvalidArgumentError),
    ("ERR value is out of range", InvalidArgumentError),
    ("ERR syntax error", InvalidArgumentError),
    ("ERR wrong number of arguments", InvalidArgumentError),
)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _reply_text(exc: rexc.ResponseError) -> str:
    """The error reply as the server wrote it, code first (``ERR ...``, ``WRONGTYPE ...``).

    redis-py strips the codes it knows (ERR, OOM, NOPERM, ...) from the message; redis-py >= 6
    keeps the code in ``status_code``, redis-py 5 drops it.
    """
    text = str(exc)
    code = getattr(exc, "status_code", None)
    if code:
        return f"{code} {text}"
    if isinstance(exc, rexc.OutOfMemoryError):
        return f"OOM {text}"
    word = text.partition(" ")[0]
    if type(exc) is rexc.ResponseError and not (word.isupper() and word.isalpha()):
        return f"ERR {text}"  # redis-py 5 stripped it: codes are upper-case words, texts are not
    return text


def translate_error(exc: rexc.RedisError, settings: KVSettings) -> KVError:
    """Map a redis-py error to the aiokv error for the same condition."""
    where = settings.masked_url
    if isinstance(exc, (rexc.AuthenticationError, rexc.AuthenticationWrongNumberOfArgsError)):
        # Before ResponseError: a wrong-arity AUTH (a username sent to a server without ACLs)
        # is a ResponseError in redis-py, but to the user it is a failed login.
        return KVConnectionError(
            f"authentication to {where} failed ({exc}): check REDIS_USERNAME / REDIS_PASSWORD"
        )
    if isinstance(exc, rexc.ResponseError):
        message = _reply_text(exc)
        if isinstance(exc, rexc.OutOfMemoryError):
            return OutOfMemoryError(message)
        for prefix, error_class in _REPLY_ERRORS:
            if message.startswith(prefix):
                return error_class(message)
        return CommandError(message)
    if isinstance(exc, rexc.TimeoutError):
        if str(exc).startswith("Timeout connecting"):
            return KVTimeoutError(
                f"{where} did not accept a connection within connect_timeout="
                f"{settings.connect_timeout}s; check the address or raise REDIS_CONNECT_TIMEOUT"
            )
        return KVTimeoutError(
            f"{where} did not answer within socket_timeout={settings.socket_timeout}s ({exc}); "
            "the command may or may not have run; raise REDIS_SOCKET_TIMEOUT for slow commands"
        )
    if isinstance(exc, rexc.ConnectionError):
        return KVConnectionError(
            f"cannot reach {where} (retried {settings.retry_attempts} times, "
            f"REDIS_RETRY_ATTEMPTS): {exc}"
        )
    return KVError(f"{where}: {exc}")


def _pool_timeout_error(settings: KVSettings) -> KVTimeoutError:
    return KVTimeoutError(
        f"no connection to {settings.masked_url} became free within pool_timeout="
        f"{settings.pool_timeout}s (all max_connections={settings.max_connections} busy); "
        "raise REDIS_MAX_CONNECTIONS or REDIS_POOL_TIMEOUT"
    )


class _NotNow(Exception):
    """The pool cannot hand out a connection at once; nothing was sent (see RedisDriver._later)."""


class _PoolFull(_NotNow):
    """Every connection is in use."""


class _OtherLoop(_NotNow):
    """The pool's connections belong to another event loop than the running one (or none)."""


def _not_connected(*args: Any) -> NoReturn:
    raise _OtherLoop()


class _Pool(ConnectionPool):
    """redis-py's ConnectionPool, with a queue of commands waiting for a free connection.

    redis-py's BlockingConnectionPool also waits, but every acquisition takes an
    ``asyncio.Condition`` and starts a timeout, which cost ~20% of the client's CPU per command
    in a sequential-GET profile. Here a command that finds a free connection pays one check;
    only one that finds the pool full waits (:meth:`RedisDriver._wait_for_connection`), and each
    release wakes the longest waiter.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.loop = asyncio.get_running_loop()
        self.waiters: deque[asyncio.Future[bool]] = deque()
        self.closed = False

    def is_full(self) -> bool:
        return (
            not self._available_connections
            and len(self._in_use_connections) >= self.max_connections
        )

    # Not ``async``: it returns redis-py's coroutine, so a command awaits no extra frame.
    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        # Checked before redis-py touches a socket: a connection of a closed loop can still
        # *send* (the write goes straight to the socket), and only the read fails.
        if asyncio.get_running_loop() is not self.loop:
            raise _OtherLoop()
        if (
            not self._available_connections
            and len(self._in_use_connections) >= self.max_connections
        ):
            raise _PoolFull()
        return super().get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]

    async def release(self, connection: AbstractConnection) -> None:
        await super().release(connection)
        if self.closed:  # a command that was in flight during aclose() reconnected
            await connection.disconnect()
        elif self.waiters:
            self.wake_one()

    def wake_one(self) -> None:
        """Wake the longest-waiting command (if any) to try for a connection."""
        waiters = self.waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(True)
                return


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _step(coroutine: Coroutine[Any, Any, Any]) -> None:
    """Run ``coroutine`` synchronously; it must finish without suspending."""
    try:
        coroutine.send(None)
    except StopIteration:
        return
    raise AssertionError("a step that must not suspend did suspend")


async def _close_at_loop_shutdown(pool: _Pool) -> AsyncGenerator[None, None]:
    """Disconnect ``pool`` when the client is closed, or when its loop shuts down first.

    asyncio.run(), asyncio.Runner and pytest-asyncio close every open async generator before
    they close the loop, and an async generator dropped while suspended is closed on its loop.
    Keeping one suspended per pool is the hook asyncio offers for running code *in* a loop that
    is about to close (or in which a client was dropped), so a client that outlives its loop
    (created at import time, never closed) still closes its sockets instead of leaking them.
    It refers to the pool only, not to the driver, so that dropping the driver frees it at once
    rather than in a garbage-collector pass that would find the connections unclosed.
    """
    try:
        yield
    finally:
        pool.closed = True
        # Sockets can only be closed from their own loop; from any other, drop them.
        if _running_loop() is pool.loop:
            await pool.disconnect()


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


class RedisDriver:
    """Commands on a Redis-compatible server. See :class:`aiokv._protocol.Driver`."""

    def __init__(self, settings: KVSettings) -> None:
        self._settings = settings
        self._redis: Redis | None = None
        self._pool: _Pool | None = None
        self._guard: AsyncGenerator[None, None] | None = None
        self._closed = False
        self._execute: Callable[..., Awaitable[Any]] = _not_connected

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

    def _connect(self) -> None:
        """Build the pool and client on the running loop (connections open on first use)."""
        s = self._settings
        options: dict[str, Any] = {
            "max_connections": s.max_connections,
            "socket_timeout": s.socket_timeout,
            "socket_connect_timeout": s.connect_timeout,
            # A random wait up to min(cap, base * 2**failures) between attempts. Only
            # ConnectionError is retried: redis-py's default would retry timeouts too.
            "retry": Retry(
                FullJitterBackoff(cap=s.retry_backoff_cap, base=s.retry_backoff_base),
                s.retry_attempts,
                supported_errors=(rexc.ConnectionError,),
            ),
            # redis-py 5 also retries a command only for errors listed here.
            "retry_on_error": [rexc.ConnectionError],
            "health_check_interval": 30,
            # Text read back from the server carries undecodable bytes as surrogate escapes
            # (see _text); encoding them the same way sends those bytes back unchanged.
            "encoding_errors": "surrogateescape",
        }
        if s.url is not None:
            pool = _Pool.from_url(s.url, **options)
        else:
            password = s.password.get_secret_value() if s.password is not None else None
            pool = _Pool(
                host=s.host, port=s.port, db=s.db, username=s.username, password=password, **options
            )
        self._pool = pool
        self._redis = Redis(connection_pool=pool)
        self._execute = self._redis.execute_command
        self._guard = _close_at_loop_shutdown(pool)
        # One synchronous step to the ``yield``: from here the loop tracks the generator
        # (through asyncio's asyncgen hooks) and closes it in shutdown_asyncgens().
        _step(self._guard.asend(None))

    async def aclose(self) -> None:
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is not None:
            while pool.waiters:  # commands waiting for a connection: now ClientClosedError
                pool.wake_one()
        guard, self._guard = self._guard, None
        if guard is not None:
            await guard.aclose()

    def _fail(self, exc: rexc.RedisError) -> NoReturn:
        raise translate_error(exc, self._settings) from exc

    async def _call(self, *args: Any) -> Any:
        try:
            return await self._execute(*args)
        except rexc.RedisError as exc:
            self._fail(exc)
        except _NotNow:
            pass
        try:
            return await self._later(args)
        except rexc.RedisError as exc:
            self._fail(exc)

    async def _later(self, args: tuple[Any, ...]) -> Any:
        """Run a command that could not start at once (nothing was sent).

        The pool is full (wait up to ``pool_timeout`` for a release), or it belongs to a loop
        that has shut down (move to the running loop). redis-py errors are raised as they are.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.pool_timeout
        queued = False
        while True:
            pool = self._pool
            if pool is None or pool.loop is not loop:
                self._move_to(loop, pool)
            elif pool.is_full():
                await self._wait_for_connection(pool, deadline, queued)
                queued = True
            try:
                return await self._execute(*args)
            except _NotNow:
                continue

    async def _wait_for_connection(self, pool: _Pool, deadline: float, again: bool) -> None:
        waiter: asyncio.Future[bool] = pool.loop.create_future()
        # A command woken but beaten to the connection keeps its place at the front.
        if again:
            pool.waiters.appendleft(waiter)
        else:
            pool.waiters.append(waiter)
        timer = pool.loop.call_at(deadline, _expire, waiter)
        try:
            woken = await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.result():
                pool.wake_one()  # cancelled just after a wake-up: pass it on
            raise
        finally:
            timer.cancel()
        if not woken:
            raise _pool_timeout_error(self._settings)

    def _move_to(self, loop: asyncio.AbstractEventLoop, old: _Pool | None) -> None:
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
            _step(self._guard.aclose())
        self._connect()

    # -- strings -----------------------------------------------------------------------------

    async def set(self, key: str, value: str | bytes, px: int | None, nx: bool, xx: bool) -> bool:
        args: list[Any] = ["SET", key, value]
        if px is not None:
            args += ("PX", px)
        if nx:
            args.append("NX")
        elif xx:
            args.append("XX")
        # Inlined rather than through _call: one coroutine frame less on the hot path.
        try:
            reply = await self._execute(*args)
        except rexc.RedisError as exc:
            self._fail(exc)
        except _NotNow:
            reply = await self._call(*args)
        return bool(reply)

    async def get(self, key: str) -> str | None:
        try:
            raw = await self._execute("GET", key)
        except rexc.RedisError as exc:
            self._fail(exc)
        except _NotNow:
            raw = await self._call("GET", key)
        if raw is None:
            return None
        try:
            return raw.decode()  # type: ignore[no-any-return]
        except UnicodeDecodeError:
            raise ValueDecodeError(key) from None

    async def get_bytes(self, key: str) -> bytes | None:
        return await self._call("GET", key)  # type: ignore[no-any-return]

    async def incrby(self, key: str, amount: int) -> int:
        return int(await self._call("INCRBY", key, amount))

    # -- keyspace ----------------------------------------------------------------------------

    async def delete(self, keys: Sequence[str]) -> int:
        return int(await self._call("DEL", *keys))

    async def exists(self, keys: Sequence[str]) -> int:
        return int(await self._call("EXISTS", *keys))

    async def pexpire(self, key: str, ms: int) -> bool:
        return bool(await self._call("PEXPIRE", key, ms))

    async def persist(self, key: str) -> bool:
        return bool(await self._call("PERSIST", key))

    async def pttl(self, key: str) -> int:
        return int(await self._call("PTTL", key))

    async def ttl(self, key: str) -> int:
        return int(await self._call("TTL", key))

    async def type(self, key: str) -> str:
        kind = await self._call("TYPE", key)
        return kind.decode() if isinstance(kind, bytes) else str(kind)

    async def keys(self, pattern: str) -> list[str]:
        # SCAN may return a key twice; dict.fromkeys deduplicates and keeps order.
        return list(dict.fromkeys([key async for key in self.scan_iter(pattern, 1000)]))

    async def scan_iter(self, pattern: str, count: int) -> AsyncIterator[str]:
        cursor: int = 0
        while True:
            cursor, batch = await self._call("SCAN", cursor, "MATCH", pattern, "COUNT", count)
            for key in batch:
                yield _text(key)
            if cursor == 0:
                return

    async def dbsize(self) -> int:
        return int(await self._call("DBSIZE"))

    async def flushdb(self) -> None:
        await self._call("FLUSHDB")

    async def ping(self) -> bool:
        return bool(await self._call("PING"))

    # -- hashes ------------------------------------------------------------------------------

    async def hset(self, key: str, mapping: Mapping[str | bytes, str | bytes]) -> int:
        args: list[Any] = ["HSET", key]
        for pair in mapping.items():
            args += pair
        return int(await self._call(*args))

    async def hget(self, key: str, field: str | bytes) -> str | None:
        raw = await self._call("HGET", key, field)
        return None if raw is None else _text(raw)

    async def hgetall(self, key: str) -> dict[str, str]:
        raw = await self._call("HGETALL", key)
        return {_text(k): _text(v) for k, v in raw.items()}

    async def hdel(self, key: str, fields: Sequence[str | bytes]) -> int:
        return int(await self._call("HDEL", key, *fields))

    # -- lists -------------------------------------------------------------------------------

    async def lpush(self, key: str, values: Sequence[str | bytes]) -> int:
        return int(await self._call("LPUSH", key, *values))

    async def rpush(self, key: str, values: Sequence[str | bytes]) -> int:
        return int(await self._call("RPUSH", key, *values))

    async def _pop(self, command: str, key: str, count: int | None) -> str | list[str] | None:
        if count is None:
            raw = await self._call(command, key)
            return None if raw is None else _text(raw)
        items = await self._call(command, key, count)
        return None if items is None else [_text(item) for item in items]

    async def lpop(self, key: str, count: int | None) -> str | list[str] | None:
        return await self._pop("LPOP", key, count)

    async def rpop(self, key: str, count: int | None) -> str | list[str] | None:
        return await self._pop("RPOP", key, count)

    async def llen(self, key: str) -> int:
        return int(await self._call("LLEN", key))

    async def lrange(self, key: str, start: int, stop: int) -> list[str]:
        return [_text(item) for item in await self._call("LRANGE", key, start, stop)]

    # -- sets --------------------------------------------------------------------------------

    async def sadd(self, key: str, members: Sequence[str | bytes]) -> int:
        return int(await self._call("SADD", key, *members))

    async def srem(self, key: str, members: Sequence[str | bytes]) -> int:
        return int(await self._call("SREM", key, *members))

    async def smembers(self, key: str) -> builtins.set[str]:
        return {_text(member) for member in await self._call("SMEMBERS", key)}

    async def sismember(self, key: str, member: str | bytes) -> bool:
        return bool(await self._call("SISMEMBER", key, member))

    async def scard(self, key: str) -> int:
        return int(await self._call("SCARD", key))

    # -- scripts -----------------------------------------------------------------------------

    async def run_script(
        self, script: Script, keys: Sequence[str], args: Sequence[ScriptArg]
    ) -> Any:
        evalsha = ("EVALSHA", script.sha1, len(keys), *keys, *args)
        try:
            try:
                return await self._execute(*evalsha)
            except _NotNow:
                return await self._later(evalsha)
        except rexc.NoScriptError:
            pass  # first run on this server (or after SCRIPT FLUSH): send the source once
        except rexc.RedisError as exc:
            self._fail(exc)
        return await self._call("EVAL", script.lua, len(keys), *keys, *args)
