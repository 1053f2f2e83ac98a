"""The Redis (and Valkey) driver, on redis.asyncio with the hiredis parser.

* Connections come from a blocking pool: a burst larger than ``max_connections`` waits up to
  ``pool_timeout`` for a free connection instead of failing with "Too many connections".
* Commands that fail because a connection dropped (a restart, an idle reset) are retried on a
  fresh connection with exponential backoff and jitter, ``retry_attempts`` times, for URL and
  host/port configurations alike. Timeouts are not retried: the command may have run.
* Every redis-py error is translated here into the aiokv tree (most specific first) with
  ``raise ... from``, and messages name the address with the password masked.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, NoReturn

import sniffio
from anyio.abc import TaskGroup
from redis import exceptions as rexc
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

from .._exceptions import (
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


def translate_error(exc: rexc.RedisError, settings: KVSettings) -> KVError:
    """Map a redis-py error to the aiokv error for the same condition."""
    where = settings.masked_url
    if isinstance(exc, rexc.ResponseError):
        code = getattr(exc, "status_code", None)
        message = f"{code} {exc}" if code else str(exc)
        for prefix, error_class in _REPLY_ERRORS:
            if message.startswith(prefix):
                return error_class(message)
        return CommandError(message)
    if isinstance(exc, rexc.AuthenticationError):
        return KVConnectionError(
            f"authentication to {where} failed ({exc}): check REDIS_USERNAME / REDIS_PASSWORD"
        )
    if isinstance(exc, rexc.ConnectionError) and str(exc) == "No connection available.":
        return KVTimeoutError(
            f"no connection to {where} became free within pool_timeout="
            f"{settings.pool_timeout}s (max_connections={settings.max_connections}); raise "
            "REDIS_MAX_CONNECTIONS or REDIS_POOL_TIMEOUT"
        )
    if isinstance(exc, rexc.TimeoutError):
        return KVTimeoutError(f"{where} did not answer in time: {exc}")
    if isinstance(exc, rexc.ConnectionError):
        return KVConnectionError(
            f"cannot reach {where} after {settings.retry_attempts} retries: {exc}"
        )
    return KVError(f"{where}: {exc}")


class RedisDriver:
    """Commands on a Redis-compatible server. See :class:`aiokv._protocol.Driver`."""

    def __init__(self, settings: KVSettings) -> None:
        self._settings = settings
        self._redis: Redis | None = None
        self._pool: BlockingConnectionPool | None = None

    # -- lifetime ----------------------------------------------------------------------------

    def open(self, task_group: TaskGroup | None) -> None:
        try:
            library = sniffio.current_async_library()
        except sniffio.AsyncLibraryNotFoundError:
            library = "none"
        if library != "asyncio":
            raise DriverUnavailableError(
                f"the redis driver runs on asyncio (redis.asyncio), not {library}; "
                "use the memory driver under trio"
            )
        s = self._settings
        options: dict[str, Any] = {
            "max_connections": s.max_connections,
            "timeout": s.pool_timeout,
            "socket_timeout": s.socket_timeout,
            "socket_connect_timeout": s.connect_timeout,
            "retry": Retry(
                ExponentialWithJitterBackoff(cap=s.retry_backoff_cap, base=s.retry_backoff_base),
                s.retry_attempts,
            ),
            "retry_on_error": [rexc.ConnectionError],
            "health_check_interval": 30,
        }
        if s.url is not None:
            pool = BlockingConnectionPool.from_url(s.url, **options)
        else:
            password = s.password.get_secret_value() if s.password is not None else None
            pool = BlockingConnectionPool(
                host=s.host, port=s.port, db=s.db, username=s.username, password=password, **options
            )
        self._pool = pool
        self._redis = Redis(connection_pool=pool)
        self._execute: Callable[..., Awaitable[Any]] = self._redis.execute_command

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
        if self._pool is not None:
            await self._pool.aclose()

    def _fail(self, exc: rexc.RedisError) -> NoReturn:
        raise translate_error(exc, self._settings) from exc

    async def _call(self, *args: Any) -> Any:
        try:
            return await self._execute(*args)
        except rexc.RedisError as exc:
            self._fail(exc)

    # -- strings -----------------------------------------------------------------------------

    async def set(self, key: str, value: str | bytes, px: int | None, nx: bool, xx: bool) -> bool:
        args: list[Any] = ["SET", key, value]
        if px is not None:
            args += ("PX", px)
        if nx:
            args.append("NX")
        elif xx:
            args.append("XX")
        return bool(await self._call(*args))

    async def get(self, key: str) -> str | None:
        try:
            raw = await self._execute("GET", key)
        except rexc.RedisError as exc:
            self._fail(exc)
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
