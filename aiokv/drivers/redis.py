"""The Redis (and Valkey) driver, on redis.asyncio with the hiredis parser.

* A burst larger than ``max_connections`` waits up to ``pool_timeout`` for a free connection
  instead of failing with "Too many connections" (see :class:`Pool`); past that it raises
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
import builtins
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Mapping,
    Sequence,
)
from typing import Any, NoReturn

import sniffio
from anyio.abc import TaskGroup
from redis import exceptions as rexc
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import FullJitterBackoff

from .._exceptions import (
    ClientClosedError,
    DriverUnavailableError,
    ValueDecodeError,
)
from .._script import Script, ScriptArg
from .._settings import KVSettings
from ._redis_errors import pool_timeout_error, translate_error
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

__all__ = ["RedisDriver", "translate_error"]


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


class RedisDriver:
    """Commands on a Redis-compatible server. See :class:`aiokv._protocol.Driver`."""

    def __init__(self, settings: KVSettings) -> None:
        self._settings = settings
        self._redis: Redis | None = None
        self._pool: Pool | None = None
        self._guard: AsyncGenerator[None, None] | None = None
        self._closed = False
        self._execute: Callable[..., Awaitable[Any]] = not_connected

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
            pool = Pool.from_url(s.url, **options)
        else:
            password = s.password.get_secret_value() if s.password is not None else None
            pool = Pool(
                host=s.host, port=s.port, db=s.db, username=s.username, password=password, **options
            )
        self._pool = pool
        self._redis = Redis(connection_pool=pool)
        self._execute = self._redis.execute_command
        self._guard = close_at_loop_shutdown(pool)
        # One synchronous step to the ``yield``: from here the loop tracks the generator
        # (through asyncio's asyncgen hooks) and closes it in shutdown_asyncgens().
        step(self._guard.asend(None))

    async def aclose(self) -> None:
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is not None:
            while pool.waiters:  # commands waiting for a connection: now ClientClosedError
                pool.wake_one()
        guard, self._guard = self._guard, None
        if guard is not None:
            await guard.aclose()

    async def _fail(self, exc: rexc.RedisError, cancels: int) -> NoReturn:
        """Raise ``exc`` as an aiokv error, or the cancellation redis-py dropped before it."""
        if cancel_requests() > cancels:
            await resume_cancellation()
        raise translate_error(exc, self._settings) from exc

    # Every command takes ``cancel_requests()`` before it and checks it after (here and in the
    # inlined hot paths below): two cheap calls, against redis-py's dropped cancellations.

    async def _call(self, *args: Any) -> Any:
        cancels = cancel_requests()
        try:
            reply = await self._execute(*args)
        except rexc.RedisError as exc:
            await self._fail(exc, cancels)
        except NotNow:
            try:
                reply = await self._later(args)
            except rexc.RedisError as exc:
                await self._fail(exc, cancels)
        if cancel_requests() > cancels:
            await resume_cancellation()
        return reply

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
        cancels = cancel_requests()
        try:
            reply = await self._execute(*args)
        except rexc.RedisError as exc:
            await self._fail(exc, cancels)
        except NotNow:
            reply = await self._call(*args)
        if cancel_requests() > cancels:
            await resume_cancellation()
        return bool(reply)

    async def get(self, key: str) -> str | None:
        cancels = cancel_requests()
        try:
            raw = await self._execute("GET", key)
        except rexc.RedisError as exc:
            await self._fail(exc, cancels)
        except NotNow:
            raw = await self._call("GET", key)
        if cancel_requests() > cancels:
            await resume_cancellation()
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
        cancels = cancel_requests()
        try:
            try:
                reply = await self._execute(*evalsha)
            except NotNow:
                reply = await self._later(evalsha)
        except rexc.NoScriptError:
            # First run on this server (or after SCRIPT FLUSH): send the source once.
            if cancel_requests() > cancels:
                await resume_cancellation()
            return await self._call("EVAL", script.lua, len(keys), *keys, *args)
        except rexc.RedisError as exc:
            await self._fail(exc, cancels)
        if cancel_requests() > cancels:
            await resume_cancellation()
        return reply
