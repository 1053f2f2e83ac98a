"""Rate limiting: at most ``limit`` units of cost per ``window``, per key, across processes.

Each hit is one atomic step (a Script): a Lua script on a Redis server, one uninterrupted slice of
the event loop on the memory driver. Reading the count, deciding and recording the hit cannot
interleave with another hit, so the limit is exact under any concurrency: with a limit of 100,
1,000 simultaneous hits from any number of processes allow exactly 100. A denied hit records
nothing, so a client that keeps retrying is not locked out for longer than the window.

Each hit reads and writes exactly one key (``prefix + key``), so it always lives in one Redis
Cluster slot, whatever the key looks like: no hash tag is needed.

Strategies:
  ``"fixed"``: a counter that starts with the first hit and expires ``window`` later (INCRBY, and
  PEXPIRE on the first hit). O(1) time and memory. It allows up to ``limit`` hits per window, so
  up to twice the limit can pass in a short span around a window's end.

  ``"sliding"``: a log of the hits of the last ``window`` (a list of timestamps, newest first;
  a hit of cost n logs n entries). A hit is allowed when the cost logged in the ``window`` before
  it plus its own is within ``limit``: exact for every window-long span, with no burst at window
  edges. Memory is at most ``limit`` entries per key and time is amortised O(1) per hit, so
  prefer ``"fixed"`` for limits of many thousands. Time comes from the server (Lua ``TIME``), so
  client clocks do not matter; on the memory driver from ``time.monotonic``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from .._codec import TTL, parse_int, ttl_to_ms
from .._exceptions import InvalidArgumentError
from .._script import Script, ScriptArg

if TYPE_CHECKING:
    from .._client import AsyncClient
    from ..drivers.memory import MemoryDriver as Driver

__all__ = ["RateLimitResult", "RateLimiter"]


@dataclass(frozen=True)
class RateLimitResult:
    """The outcome of one :meth:`RateLimiter.hit`.

    Attributes:
        allowed: Whether the hit fits in the limit (and was counted).
        remaining: Units of cost still available in the window, after this hit.
        reset_after: Seconds until ``remaining`` next grows: the end of the window for
            ``"fixed"``, the moment the oldest counted hit leaves it for ``"sliding"``; 0 when
            nothing is counted. A fair ``Retry-After`` for a denied hit of cost 1.
    """

    allowed: bool
    remaining: int
    reset_after: float


async def _fixed_local(driver: Driver, keys: Sequence[str], args: Sequence[ScriptArg]) -> list[int]:
    key = keys[0]
    limit, window, cost = (int(arg) for arg in args)
    raw = await driver.get_bytes(key)
    used = 0 if raw is None else parse_int(raw)
    allowed = used + cost <= limit
    if allowed and cost > 0:
        used = await driver.incrby(key, cost)
    ttl = await driver.pttl(key)
    if ttl == -1:
        await driver.pexpire(key, window)
        ttl = window
    return [int(allowed), max(limit - used, 0), max(ttl, 0)]


FIXED_WINDOW = Script(
    lua="""
local key = KEYS[1]
local limit, window, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local used = tonumber(redis.call('GET', key) or '0')
if used == nil then
    return redis.error_reply('ERR value is not an integer or out of range')
end
local allowed = used + cost <= limit
if allowed and cost > 0 then
    used = redis.call('INCRBY', key, cost)
end
local ttl = redis.call('PTTL', key)
if ttl == -1 then
    redis.call('PEXPIRE', key, window)
    ttl = window
end
return {allowed and 1 or 0, math.max(limit - used, 0), math.max(ttl, 0)}
""",
    local=_fixed_local,
)
"""ARGV: limit, window (ms), cost. Returns {allowed 0/1, remaining, ms until the window ends}."""


async def _sliding_local(
    driver: Driver, keys: Sequence[str], args: Sequence[ScriptArg]
) -> list[int]:
    key = keys[0]
    limit, window, cost = (int(arg) for arg in args)
    now = time.monotonic_ns() // 1000
    window_us = window * 1000
    while True:
        oldest = await driver.lrange(key, -1, -1)
        if not oldest or int(oldest[0]) > now - window_us:
            break
        await driver.rpop(key, None)
    used = await driver.llen(key)
    allowed = used + cost <= limit
    if allowed and cost > 0:
        await driver.lpush(key, [str(now)] * cost)
        await driver.pexpire(key, window)
        used += cost
    oldest = await driver.lrange(key, -1, -1)
    reset = math.ceil((int(oldest[0]) + window_us - now) / 1000) if oldest else 0
    return [int(allowed), max(limit - used, 0), reset]


SLIDING_LOG = Script(
    lua="""
local key = KEYS[1]
local limit, window, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local window_us = window * 1000
while true do
    local oldest = redis.call('LRANGE', key, -1, -1)[1]
    if oldest == nil or tonumber(oldest) > now - window_us then
        break
    end
    redis.call('RPOP', key)
end
local used = redis.call('LLEN', key)
local allowed = used + cost <= limit
if allowed and cost > 0 then
    local stamp = string.format('%.0f', now)
    local left = cost
    while left > 0 do
        local batch = {}
        for i = 1, math.min(left, 100) do
            batch[i] = stamp
        end
        redis.call('LPUSH', key, unpack(batch))
        left = left - #batch
    end
    redis.call('PEXPIRE', key, window)
    used = used + cost
end
local reset = 0
local oldest = redis.call('LRANGE', key, -1, -1)[1]
if oldest then
    reset = math.ceil((tonumber(oldest) + window_us - now) / 1000)
end
return {allowed and 1 or 0, math.max(limit - used, 0), reset}
""",
    local=_sliding_local,
)
"""ARGV: limit, window (ms), cost; timestamps in µs. Returns as FIXED_WINDOW does."""

_SCRIPTS = {"fixed": FIXED_WINDOW, "sliding": SLIDING_LOG}


class RateLimiter:
    """Allow at most ``limit`` units of cost per ``window`` for each key (a user, an IP, ...).

    Two limiters must not share a ``prefix`` (their counts would mix, or clash in type).

    Args:
        kv: The client.
        limit: Units allowed per window (>= 1).
        window: Seconds or a timedelta (>= 1 ms).
        strategy: ``"fixed"`` or ``"sliding"``; see :mod:`aiokv.patterns.ratelimit`.
        prefix: Prepended to each key (after the client's key prefix).

    Raises:
        InvalidArgumentError: for a limit < 1, a window under 1 ms or an unknown strategy.
    """

    def __init__(
        self,
        kv: AsyncClient,
        limit: int,
        window: TTL,
        strategy: Literal["fixed", "sliding"] = "fixed",
        *,
        prefix: str = "ratelimit:",
    ) -> None:
        if type(limit) is not int or limit < 1:
            raise InvalidArgumentError(f"limit must be an int >= 1, got {limit!r}")
        window_ms = ttl_to_ms(window)
        if window_ms < 1:
            raise InvalidArgumentError(f"window must be at least 1 ms, got {window!r}")
        if strategy not in _SCRIPTS:
            raise InvalidArgumentError(f"strategy must be 'fixed' or 'sliding', not {strategy!r}")
        self._kv = kv
        self.limit = limit
        self.window = window_ms / 1000
        self.strategy = strategy
        self.prefix = prefix
        self._window_ms = window_ms
        self._script = _SCRIPTS[strategy]

    def __repr__(self) -> str:
        return (
            f"<RateLimiter {self.limit} per {self.window}s strategy={self.strategy} "
            f"prefix={self.prefix!r}>"
        )

    async def hit(self, key: str, cost: int = 1) -> RateLimitResult:
        """Record a hit of ``cost`` units for ``key`` if it fits in the limit.

        A denied hit records nothing. ``cost=0`` only reports what is left. A cost above the
        limit is always denied.

        Raises:
            InvalidArgumentError: for a negative or non-int ``cost``.
            WrongTypeError: if the key holds a value of another kind (another limiter's).
        """
        if type(cost) is not int or cost < 0:
            raise InvalidArgumentError(f"cost must be an int >= 0, got {cost!r}")
        allowed, remaining, reset_ms = await self._kv.run_script(
            self._script, [self.prefix + key], [self.limit, self._window_ms, cost]
        )
        return RateLimitResult(bool(allowed), int(remaining), int(reset_ms) / 1000)

    async def is_allowed(self, key: str) -> bool:
        """Record a hit of cost 1 for ``key``; True if it was allowed. See :meth:`hit`."""
        return (await self.hit(key)).allowed

    async def reset(self, key: str) -> bool:
        """Forget every hit of ``key`` (after a successful login, say); True if any were counted."""
        return await self._kv.delete(self.prefix + key) > 0
