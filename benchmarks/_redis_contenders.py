"""Redis clients compared by the ``redis`` benchmark; each writes its loops with its own calls."""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from time import perf_counter_ns
from typing import Any

from ._common import aiokv_settings
from ._redis_server import HOST


class RedisContender(ABC):
    name: str = "?"

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://{HOST}:{port}/0"
        self.note = ""
        self._stack = contextlib.AsyncExitStack()

    @abstractmethod
    async def open(self) -> None:
        """Connect (imports happen here, so a missing library is reported, not raised)."""

    async def close(self) -> None:
        await self._stack.aclose()

    @abstractmethod
    async def seq_get(self, key: str, n: int) -> None:
        """``get`` the existing ``key`` ``n`` times, one after another."""

    @abstractmethod
    async def set_get(self, key: str, value: str, n: int) -> None:
        """``n`` x (``set key value`` then ``get key``); many of these run concurrently."""

    @abstractmethod
    async def get_one(self, key: str) -> Any:
        """One ``get`` whose result is returned (untimed, to verify)."""

    async def set_get_timed(self, key: str, value: str, n: int, out: list[int]) -> None:
        """Like :meth:`set_get`, appending each command's latency (ns) to ``out``."""
        client: Any = self.client
        set_, get = client.set, client.get
        clock = perf_counter_ns
        for _ in range(n):
            t0 = clock()
            await set_(key, value)
            t1 = clock()
            await get(key)
            out += (t1 - t0, clock() - t1)

    @property
    def client(self) -> Any:
        return self.r


class RawRedisContender(RedisContender):
    name = "redis.asyncio"

    async def open(self) -> None:
        import redis.asyncio
        import redis.utils

        # redis-py's default pool (100 connections) fails a burst of 1,000 tasks with "Too many
        # connections"; a blocking pool of aiokv's default size waits instead, as aiokv does.
        pool = redis.asyncio.BlockingConnectionPool(
            host=HOST, port=self.port, db=0, decode_responses=True, max_connections=64
        )
        self.r = redis.asyncio.Redis(connection_pool=pool)
        self._stack.push_async_callback(pool.disconnect)
        self._stack.push_async_callback(self.r.aclose)
        await self.r.ping()
        parser = "hiredis" if redis.utils.HIREDIS_AVAILABLE else "pure-Python parser"
        self.note = f"redis-py, {parser}, decode_responses=True, BlockingConnectionPool(64)"

    async def seq_get(self, key: str, n: int) -> None:
        r = self.r
        for _ in range(n):
            await r.get(key)

    async def set_get(self, key: str, value: str, n: int) -> None:
        r = self.r
        for _ in range(n):
            await r.set(key, value)
            await r.get(key)

    async def get_one(self, key: str) -> Any:
        return await self.r.get(key)


class AiokvRedisContender(RedisContender):
    name = "aiokv"

    async def open(self) -> None:
        from aiokv import AsyncClient

        client = AsyncClient(**aiokv_settings(driver="redis", url=self.url))
        self.kv = await self._stack.enter_async_context(client)
        self.note = "driver=redis, auto-pipelining on (the default)"

    async def seq_get(self, key: str, n: int) -> None:
        kv = self.kv
        for _ in range(n):
            await kv.get(key)

    async def set_get(self, key: str, value: str, n: int) -> None:
        kv = self.kv
        for _ in range(n):
            await kv.set(key, value)
            await kv.get(key)

    async def get_one(self, key: str) -> Any:
        return await self.kv.get(key)

    @property
    def client(self) -> Any:
        return self.kv


class AiokvNoPipelineContender(AiokvRedisContender):
    name = "aiokv-pooled"

    async def open(self) -> None:
        from aiokv import AsyncClient

        client = AsyncClient(driver="redis", url=self.url, auto_pipeline=False)
        self.kv = await self._stack.enter_async_context(client)
        self.note = "driver=redis, auto_pipeline=False (pooled connections)"


class CoredisContender(RedisContender):
    name = "coredis"

    async def open(self) -> None:
        import coredis

        client = coredis.Redis(host=HOST, port=self.port, db=0, decode_responses=True)
        self.r = await self._stack.enter_async_context(client)
        self.note = f"coredis {getattr(coredis, '__version__', '?')}, decode_responses=True"

    async def seq_get(self, key: str, n: int) -> None:
        r = self.r
        for _ in range(n):
            await r.get(key)

    async def set_get(self, key: str, value: str, n: int) -> None:
        r = self.r
        for _ in range(n):
            await r.set(key, value)
            await r.get(key)

    async def get_one(self, key: str) -> Any:
        return await self.r.get(key)


class GlideContender(RedisContender):
    name = "valkey-glide"

    async def open(self) -> None:
        from glide import GlideClient, GlideClientConfiguration, NodeAddress

        # glide's default request timeout (250 ms) fails commands on a busy machine; the
        # redis-py clients wait indefinitely by default, so give glide a generous one too
        config = GlideClientConfiguration(
            [NodeAddress(HOST, self.port)], database_id=0, request_timeout=10_000
        )
        self.r = await GlideClient.create(config)
        self._stack.push_async_callback(self.r.close)
        self.note = "one multiplexed connection, Rust core; get returns bytes"

    async def seq_get(self, key: str, n: int) -> None:
        r = self.r
        for _ in range(n):
            await r.get(key)

    async def set_get(self, key: str, value: str, n: int) -> None:
        r = self.r
        for _ in range(n):
            await r.set(key, value)
            await r.get(key)

    async def get_one(self, key: str) -> Any:
        got = await self.r.get(key)
        return got.decode() if isinstance(got, bytes) else got


#: name -> factory(port); raw redis.asyncio first: it is the baseline of every ratio.
CONTENDERS: dict[str, Callable[[int], RedisContender]] = {
    "redis.asyncio": RawRedisContender,
    "aiokv": AiokvRedisContender,
    "aiokv-pooled": AiokvNoPipelineContender,
    "coredis": CoredisContender,
    "valkey-glide": GlideContender,
}
BASELINE = "redis.asyncio"
