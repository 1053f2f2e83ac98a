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

  ``"sliding-counter"``: two counters per key, the current bucket's and the previous one's (each
  ``window`` long, the first starting with the first hit). The count in the last ``window`` is
  estimated as ``previous * (share of the previous bucket still in the window) + current``, and
  a hit is allowed when the estimate plus its cost is within ``limit``. O(1) time and memory
  whatever the limit; no 2x burst at bucket edges, at the price of an estimate that assumes the
  previous bucket's hits were spread evenly. ``reset_after`` is when the estimate has faded by
  one unit, which can be more than ``window`` away.

  ``"gcra"``: the generic cell rate algorithm, a token bucket without a refill loop: a bucket of
  ``burst`` tokens (default ``limit``) refilled at ``limit`` per ``window``, one token every
  ``window / limit`` (rounded up to whole microseconds, so the rate never exceeds the limit).
  One timestamp per key. ``burst`` hits may pass at once, then one per interval; ``remaining``
  is the tokens left and ``reset_after`` the time until the next one.

Several limits at once (10 per second and 1,000 per hour) are :class:`MultiRateLimiter`: each hit
is checked against every limit and counted in all of them, or in none, in one atomic step.
``"sliding-counter"`` and ``"gcra"`` keep every limit of a key in one hash (see
:mod:`aiokv.patterns._ratelimit_multi`), so a key still lives in one Cluster slot.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeAlias

from .._codec import TTL, parse_int, ttl_to_ms
from .._exceptions import InvalidArgumentError
from .._script import Script, ScriptArg
from ._ratelimit_multi import GCRA, SLIDING_COUNTER

if TYPE_CHECKING:
    from .._client import AsyncClient
    from ..drivers.memory import MemoryDriver as Driver

__all__ = [
    "MultiRateLimitResult",
    "MultiRateLimiter",
    "MultiStrategy",
    "RateLimitResult",
    "RateLimiter",
    "Strategy",
]


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

Strategy: TypeAlias = Literal["fixed", "sliding", "sliding-counter", "gcra"]
"""The name of a counting strategy; see :mod:`aiokv.patterns.ratelimit`."""

MultiStrategy: TypeAlias = Literal["sliding-counter", "gcra"]
"""The strategies that check several limits in one step."""

_SCRIPTS: dict[str, Script] = {
    "fixed": FIXED_WINDOW,
    "sliding": SLIDING_LOG,
    "sliding-counter": SLIDING_COUNTER,
    "gcra": GCRA,
}
_MULTI = ("sliding-counter", "gcra")


def _check_limit(limit: object, window: TTL, burst: object) -> tuple[int, int, int]:
    if type(limit) is not int or limit < 1:
        raise InvalidArgumentError(f"limit must be an int >= 1, got {limit!r}")
    window_ms = ttl_to_ms(window)
    if window_ms < 1:
        raise InvalidArgumentError(f"window must be at least 1 ms, got {window!r}")
    if burst is None:
        burst = limit
    if type(burst) is not int or burst < 1:
        raise InvalidArgumentError(f"burst must be an int >= 1, got {burst!r}")
    return limit, window_ms, burst


def _check_cost(cost: object) -> int:
    if type(cost) is not int or cost < 0:
        raise InvalidArgumentError(f"cost must be an int >= 0, got {cost!r}")
    return cost


class RateLimiter:
    """Allow at most ``limit`` units of cost per ``window`` for each key (a user, an IP, ...).

    Two limiters must not share a ``prefix`` (their counts would mix, or clash in type).

    Args:
        kv: The client.
        limit: Units allowed per window (>= 1).
        window: Seconds or a timedelta (>= 1 ms).
        strategy: ``"fixed"``, ``"sliding"``, ``"sliding-counter"`` or ``"gcra"``; see
            :mod:`aiokv.patterns.ratelimit`.
        burst: For ``"gcra"`` only: the tokens that may be spent at once (default ``limit``).
        prefix: Prepended to each key (after the client's key prefix).

    Raises:
        InvalidArgumentError: for a limit or burst < 1, a window under 1 ms, an unknown
            strategy, or a burst with another strategy than ``"gcra"``.
    """

    def __init__(
        self,
        kv: AsyncClient,
        limit: int,
        window: TTL,
        strategy: Strategy = "fixed",
        *,
        burst: int | None = None,
        prefix: str = "ratelimit:",
    ) -> None:
        if strategy not in _SCRIPTS:
            raise InvalidArgumentError(
                f"strategy must be one of {', '.join(map(repr, _SCRIPTS))}, not {strategy!r}"
            )
        if burst is not None and strategy != "gcra":
            raise InvalidArgumentError(f"burst is for the 'gcra' strategy, not {strategy!r}")
        limit, window_ms, burst = _check_limit(limit, window, burst)
        self._kv = kv
        self.limit = limit
        self.window = window_ms / 1000
        self.strategy = strategy
        self.burst = burst
        self.prefix = prefix
        self._window_ms = window_ms
        self._script = _SCRIPTS[strategy]
        if strategy in _MULTI:
            self._args: list[ScriptArg] = [1, limit, window_ms, burst]
        else:
            self._args = [limit, window_ms]

    def __repr__(self) -> str:
        return (
            f"<RateLimiter {self.limit} per {self.window}s strategy={self.strategy} "
            f"prefix={self.prefix!r}>"
        )

    @property
    def quota(self) -> int:
        """The units a key may spend at once: ``burst`` for ``"gcra"``, else ``limit``."""
        return self.burst if self.strategy == "gcra" else self.limit

    async def hit(self, key: str, cost: int = 1) -> RateLimitResult:
        """Record a hit of ``cost`` units for ``key`` if it fits in the limit.

        A denied hit records nothing. ``cost=0`` only reports what is left. A cost above the
        limit (the burst, for ``"gcra"``) is always denied.

        Raises:
            InvalidArgumentError: for a negative or non-int ``cost``.
            WrongTypeError: if the key holds a value of another kind (another limiter's).
            OutcomeUnknownError: if the connection failed after the hit was sent: it may or may
                not have been counted, and it is never sent twice.
        """
        cost = _check_cost(cost)
        args = [cost, *self._args] if self.strategy in _MULTI else [*self._args, cost]
        reply = await self._kv.run_script(self._script, [self.prefix + key], args)
        return RateLimitResult(bool(reply[0]), int(reply[1]), int(reply[2]) / 1000)

    async def is_allowed(self, key: str) -> bool:
        """Record a hit of cost 1 for ``key``; True if it was allowed. See :meth:`hit`."""
        return (await self.hit(key)).allowed

    async def reset(self, key: str) -> bool:
        """Forget every hit of ``key`` (after a successful login, say); True if any were counted."""
        return await self._kv.delete(self.prefix + key) > 0


@dataclass(frozen=True)
class MultiRateLimitResult(RateLimitResult):
    """The outcome of one :meth:`MultiRateLimiter.hit`: the binding limit's figures, and each's.

    ``allowed``, ``remaining`` and ``reset_after`` are those of the binding limit: when allowed,
    the one with the least room left; when denied, the denying limit that frees up last (so
    ``reset_after`` is a fair ``Retry-After``).

    Attributes:
        quota: The binding limit's ``limit`` (its ``burst`` for ``"gcra"``).
        window: The binding limit's window, in seconds.
        results: One result per limit, in the order the limits were given.
    """

    quota: int
    window: float
    results: tuple[RateLimitResult, ...]


class MultiRateLimiter:
    """Several limits per key, checked and counted in one atomic step: a hit counts in all or none.

    Example: ``MultiRateLimiter(kv, [(10, 1), (1000, 3600)])`` allows 10 per second and 1,000
    per hour. Two limits may not share a window.

    Args:
        kv: The client.
        limits: ``(limit, window)`` pairs, or ``(limit, window, burst)`` for ``"gcra"``.
        strategy: ``"sliding-counter"`` (the default) or ``"gcra"``.
        prefix: Prepended to each key (after the client's key prefix).

    Raises:
        InvalidArgumentError: for no limits, an invalid limit, window or burst, two limits with
            the same window, or another strategy.
    """

    def __init__(
        self,
        kv: AsyncClient,
        limits: Sequence[tuple[int, TTL] | tuple[int, TTL, int]],
        strategy: MultiStrategy = "sliding-counter",
        *,
        prefix: str = "ratelimit:",
    ) -> None:
        if strategy not in _MULTI:
            raise InvalidArgumentError(
                f"strategy must be 'sliding-counter' or 'gcra', not {strategy!r}"
            )
        if not limits:
            raise InvalidArgumentError("limits must hold at least one (limit, window) pair")
        checked = []
        for spec in limits:
            if strategy != "gcra" and len(spec) > 2:
                raise InvalidArgumentError(f"burst is for the 'gcra' strategy, not {strategy!r}")
            burst = spec[2] if len(spec) > 2 else None
            checked.append(_check_limit(spec[0], spec[1], burst))
        if len({window for _, window, _ in checked}) < len(checked):
            raise InvalidArgumentError("two limits share a window; keep the smaller limit")
        self._kv = kv
        self.limits = [(limit, window / 1000) for limit, window, _ in checked]
        self.strategy = strategy
        self.prefix = prefix
        self._checked = checked
        self._script = _SCRIPTS[strategy]
        self._args: list[ScriptArg] = [len(checked)]
        for limit, window, burst in checked:
            self._args += [limit, window, burst]

    def __repr__(self) -> str:
        limits = ", ".join(f"{limit} per {window}s" for limit, window in self.limits)
        return f"<MultiRateLimiter {limits} strategy={self.strategy} prefix={self.prefix!r}>"

    async def hit(self, key: str, cost: int = 1) -> MultiRateLimitResult:
        """Record a hit of ``cost`` units for ``key`` in every limit, if it fits in all of them.

        A denied hit records nothing in any limit. ``cost=0`` only reports what is left.

        Raises:
            InvalidArgumentError: for a negative or non-int ``cost``.
            WrongTypeError: if the key holds a value of another kind (another limiter's).
            OutcomeUnknownError: if the connection failed after the hit was sent: it may or may
                not have been counted, and it is never sent twice.
        """
        cost = _check_cost(cost)
        reply = await self._kv.run_script(self._script, [self.prefix + key], [cost, *self._args])
        allowed = bool(reply[0])
        results = tuple(
            RateLimitResult(allowed, int(reply[1 + 2 * i]), int(reply[2 + 2 * i]) / 1000)
            for i in range(len(self._checked))
        )
        if allowed:
            index = min(range(len(results)), key=lambda i: results[i].remaining)
        else:
            short = [i for i, r in enumerate(results) if r.remaining < cost] or range(len(results))
            index = max(short, key=lambda i: results[i].reset_after)
        limit, window_ms, burst = self._checked[index]
        binding = results[index]
        return MultiRateLimitResult(
            allowed,
            binding.remaining,
            binding.reset_after,
            quota=burst if self.strategy == "gcra" else limit,
            window=window_ms / 1000,
            results=results,
        )

    async def is_allowed(self, key: str) -> bool:
        """Record a hit of cost 1 for ``key``; True if it was allowed. See :meth:`hit`."""
        return (await self.hit(key)).allowed

    async def reset(self, key: str) -> bool:
        """Forget every hit of ``key`` in every limit; True if any were counted."""
        return await self._kv.delete(self.prefix + key) > 0
