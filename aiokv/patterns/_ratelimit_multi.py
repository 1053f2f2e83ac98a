"""The sliding-window counter and GCRA strategies, each checking several limits in one step.

Both keep their state in one hash per key (``prefix + key``), a few integer fields per limit,
named after the limit's window in ms: ``s<w>``/``p<w>``/``c<w>`` (the current bucket's start,
the previous and current buckets' counts) for the counter, ``t<w>`` (the theoretical arrival time)
for GCRA. One key means one Redis Cluster slot, however many limits there are.

A hit of cost n is allowed only if every limit has room for it; then it is counted in every limit,
else in none. Times are integer microseconds (Lua ``TIME`` on a server, ``time.monotonic`` on the
memory driver), so both sides compute with the same exact integers; the sliding counter's weighted
estimate is the one float, computed in the same order (IEEE doubles on both sides).

ARGV: cost, n, then ``limit, window (ms), burst`` for each limit (burst is GCRA's). The reply is
``{allowed 0/1, remaining_1, reset_ms_1, remaining_2, reset_ms_2, ...}``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .._exceptions import CommandError
from .._script import Script, ScriptArg

if TYPE_CHECKING:
    from ..drivers.memory import MemoryDriver as Driver

_BAD_STATE = "ERR rate limit state is not an integer"


def _now_us() -> int:
    return time.monotonic_ns() // 1000


def _int(raw: str | None, default: int) -> int:
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise CommandError(_BAD_STATE) from None


def _limits(args: Sequence[ScriptArg]) -> tuple[int, list[tuple[int, int, int]]]:
    numbers = [int(arg) for arg in args]
    cost, n = numbers[0], numbers[1]
    return cost, [(numbers[2 + 3 * i], numbers[3 + 3 * i], numbers[4 + 3 * i]) for i in range(n)]


# -- sliding-window counter --------------------------------------------------------------------


def counter_reset_us(limit: int, width: int, elapsed: int, prev: int, cur: int) -> float:
    """Microseconds until ``floor(limit - estimate)`` next grows; 0 when nothing is counted."""
    estimate = prev * (width - elapsed) / width + cur
    if estimate == 0:
        return 0.0
    goal = limit - max(math.floor(limit - estimate), 0) - 1
    if cur <= goal:  # the previous bucket's weight fades enough within this bucket
        return width - width * (goal - cur) / prev - elapsed
    return (width - elapsed) + (width - width * goal / cur)


async def _counter_local(
    driver: Driver, keys: Sequence[str], args: Sequence[ScriptArg]
) -> list[int]:
    key = keys[0]
    cost, limits = _limits(args)
    now = _now_us()
    allowed = True
    states = []
    for limit, window, _burst in limits:
        width = window * 1000
        raw_start, raw_prev, raw_cur = await driver.hmget(
            key, [f"s{window}", f"p{window}", f"c{window}"]
        )
        start, prev, cur = _int(raw_start, -1), _int(raw_prev, 0), _int(raw_cur, 0)
        if start < 0 or now >= start + 2 * width:
            start, prev, cur = now, 0, 0
        elif now >= start + width:
            start, prev, cur = start + width, cur, 0
        estimate = prev * (width - (now - start)) / width + cur
        if estimate + cost > limit:
            allowed = False
        states.append([limit, window, width, start, prev, cur])
    if allowed and cost > 0:
        ttl = 0
        for state in states:
            _limit, window, width, start, prev, cur = state
            state[5] = cur = cur + cost
            fields: dict[str | bytes, str | bytes] = {
                f"s{window}": str(start),
                f"p{window}": str(prev),
                f"c{window}": str(cur),
            }
            await driver.hset(key, fields)
            ttl = max(ttl, math.ceil((start + 2 * width - now) / 1000))
        await driver.pexpire(key, ttl)
    reply = [int(allowed)]
    for limit, _window, width, start, prev, cur in states:
        estimate = prev * (width - (now - start)) / width + cur
        reset = counter_reset_us(limit, width, now - start, prev, cur)
        reply += [max(math.floor(limit - estimate), 0), math.ceil(reset / 1000)]
    return reply


SLIDING_COUNTER = Script(
    lua="""
local key = KEYS[1]
local cost, n = tonumber(ARGV[1]), tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local allowed = true
local states = {}
local function int(raw, default)
    if not raw then return default end
    local value = tonumber(raw)
    if value == nil then error({err = 'ERR rate limit state is not an integer'}) end
    return value
end
for i = 1, n do
    local limit, w = tonumber(ARGV[3 * i]), ARGV[3 * i + 1]
    local width = tonumber(w) * 1000
    local raw = redis.call('HMGET', key, 's' .. w, 'p' .. w, 'c' .. w)
    local start, prev, cur = int(raw[1], -1), int(raw[2], 0), int(raw[3], 0)
    if start < 0 or now >= start + 2 * width then
        start, prev, cur = now, 0, 0
    elseif now >= start + width then
        start, prev, cur = start + width, cur, 0
    end
    local estimate = prev * (width - (now - start)) / width + cur
    if estimate + cost > limit then
        allowed = false
    end
    states[i] = {limit, w, width, start, prev, cur}
end
if allowed and cost > 0 then
    local ttl = 0
    for i = 1, n do
        local s = states[i]
        s[6] = s[6] + cost
        redis.call('HSET', key, 's' .. s[2], string.format('%.0f', s[4]),
            'p' .. s[2], string.format('%.0f', s[5]), 'c' .. s[2], string.format('%.0f', s[6]))
        ttl = math.max(ttl, math.ceil((s[4] + 2 * s[3] - now) / 1000))
    end
    redis.call('PEXPIRE', key, ttl)
end
local reply = {allowed and 1 or 0}
for i = 1, n do
    local limit, width, start, prev, cur = states[i][1], states[i][3], states[i][4],
        states[i][5], states[i][6]
    local elapsed = now - start
    local estimate = prev * (width - elapsed) / width + cur
    local reset = 0
    if estimate ~= 0 then
        local goal = limit - math.max(math.floor(limit - estimate), 0) - 1
        if cur <= goal then
            reset = width - width * (goal - cur) / prev - elapsed
        else
            reset = (width - elapsed) + (width - width * goal / cur)
        end
    end
    reply[2 * i] = math.max(math.floor(limit - estimate), 0)
    reply[2 * i + 1] = math.ceil(reset / 1000)
end
return reply
""",
    local=_counter_local,
)


# -- GCRA ----------------------------------------------------------------------------------------


def gcra_interval_us(limit: int, window_ms: int) -> int:
    """One unit's emission interval, rounded up to whole µs so the rate never exceeds the limit."""
    return -(-window_ms * 1000 // limit)


async def _gcra_local(driver: Driver, keys: Sequence[str], args: Sequence[ScriptArg]) -> list[int]:
    key = keys[0]
    cost, limits = _limits(args)
    now = _now_us()
    allowed = True
    states = []
    for limit, window, burst in limits:
        interval = gcra_interval_us(limit, window)
        [raw] = await driver.hmget(key, [f"t{window}"])
        tat = max(_int(raw, 0), now)
        if tat + cost * interval - burst * interval > now:
            allowed = False
        states.append([window, interval, burst, tat])
    if allowed and cost > 0:
        ttl = 0
        for state in states:
            window, interval, _burst, tat = state
            state[3] = tat = tat + cost * interval
            await driver.hset(key, {f"t{window}": str(tat)})
            ttl = max(ttl, math.ceil((tat - now) / 1000))
        await driver.pexpire(key, ttl)
    reply = [int(allowed)]
    for _window, interval, burst, tat in states:
        if tat <= now:
            reply += [burst, 0]
            continue
        room = max(now + burst * interval - tat, 0)
        reply += [room // interval, math.ceil((interval - room % interval) / 1000)]
    return reply


GCRA = Script(
    lua="""
local key = KEYS[1]
local cost, n = tonumber(ARGV[1]), tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local allowed = true
local states = {}
for i = 1, n do
    local limit, w, burst = tonumber(ARGV[3 * i]), ARGV[3 * i + 1], tonumber(ARGV[3 * i + 2])
    local interval = math.ceil(tonumber(w) * 1000 / limit)
    local raw = redis.call('HGET', key, 't' .. w)
    local tat = 0
    if raw then
        tat = tonumber(raw)
        if tat == nil then error({err = 'ERR rate limit state is not an integer'}) end
    end
    tat = math.max(tat, now)
    if tat + cost * interval - burst * interval > now then
        allowed = false
    end
    states[i] = {w, interval, burst, tat}
end
if allowed and cost > 0 then
    local ttl = 0
    for i = 1, n do
        local s = states[i]
        s[4] = s[4] + cost * s[2]
        redis.call('HSET', key, 't' .. s[1], string.format('%.0f', s[4]))
        ttl = math.max(ttl, math.ceil((s[4] - now) / 1000))
    end
    redis.call('PEXPIRE', key, ttl)
end
local reply = {allowed and 1 or 0}
for i = 1, n do
    local interval, burst, tat = states[i][2], states[i][3], states[i][4]
    if tat <= now then
        reply[2 * i], reply[2 * i + 1] = burst, 0
    else
        local room = math.max(now + burst * interval - tat, 0)
        reply[2 * i] = math.floor(room / interval)
        reply[2 * i + 1] = math.ceil((interval - room % interval) / 1000)
    end
end
return reply
""",
    local=_gcra_local,
)
