"""RateLimiter: fixed and sliding windows, exact under concurrency (one process, and four)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from servers import RedisServer

from aiokv import (
    AsyncClient,
    CommandError,
    InvalidArgumentError,
    MultiRateLimiter,
    MultiRateLimitResult,
    RateLimiter,
    RateLimitResult,
    WrongTypeError,
)
from aiokv.patterns.ratelimit import Strategy

STRATEGIES: list[Strategy] = ["fixed", "sliding"]
EVERY_STRATEGY: list[Strategy] = ["fixed", "sliding", "sliding-counter", "gcra"]
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(params=STRATEGIES)
def strategy(request: pytest.FixtureRequest) -> Strategy:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(params=EVERY_STRATEGY)
def any_strategy(request: pytest.FixtureRequest) -> Strategy:
    return request.param  # type: ignore[no-any-return]


async def test_allows_up_to_the_limit(kv: AsyncClient, strategy: Strategy) -> None:
    limiter = RateLimiter(kv, 3, 60, strategy)
    results = [await limiter.hit("user:1") for _ in range(5)]
    assert [(r.allowed, r.remaining) for r in results] == [
        (True, 2),
        (True, 1),
        (True, 0),
        (False, 0),
        (False, 0),
    ]
    assert all(59 < r.reset_after <= 60 for r in results)


async def test_keys_are_independent(kv: AsyncClient, any_strategy: Strategy) -> None:
    limiter = RateLimiter(kv, 1, 60, any_strategy)
    assert await limiter.is_allowed("a")
    assert not await limiter.is_allowed("a")
    assert await limiter.is_allowed("b")


async def test_denied_hits_are_not_counted(kv: AsyncClient, strategy: Strategy) -> None:
    limiter = RateLimiter(kv, 2, 0.3, strategy)
    assert (await limiter.hit("k", cost=2)).allowed
    for _ in range(20):
        assert not (await limiter.hit("k")).allowed
    await asyncio.sleep(0.35)
    # Retrying while denied did not push the window out.
    assert (await limiter.hit("k", cost=2)).allowed


async def test_cost(kv: AsyncClient, strategy: Strategy) -> None:
    limiter = RateLimiter(kv, 10, 60, strategy)
    assert await limiter.hit("k", cost=4) == RateLimitResult(True, 6, 60.0)
    denied = await limiter.hit("k", cost=7)
    assert (denied.allowed, denied.remaining) == (False, 6)
    assert (await limiter.hit("k", cost=6)).remaining == 0


async def test_cost_above_the_limit_is_denied_and_records_nothing(
    kv: AsyncClient, any_strategy: Strategy
) -> None:
    limiter = RateLimiter(kv, 5, 60, any_strategy)
    assert await limiter.hit("k", cost=6) == RateLimitResult(False, 5, 0.0)
    assert await kv.exists("ratelimit:k") == 0


async def test_cost_zero_reports_without_counting(kv: AsyncClient, any_strategy: Strategy) -> None:
    limiter = RateLimiter(kv, 5, 60, any_strategy)
    assert await limiter.hit("k", cost=0) == RateLimitResult(True, 5, 0.0)
    assert await kv.exists("ratelimit:k") == 0
    await limiter.hit("k", cost=5)
    peek = await limiter.hit("k", cost=0)
    assert (peek.allowed, peek.remaining) == (True, 0)
    assert not (await limiter.hit("k")).allowed


async def test_large_cost_on_sliding(kv: AsyncClient) -> None:
    limiter = RateLimiter(kv, 1000, 60, "sliding")
    assert (await limiter.hit("k", cost=999)).remaining == 1
    assert await kv.llen("ratelimit:k") == 999


async def test_window_ends(kv: AsyncClient, any_strategy: Strategy) -> None:
    limiter = RateLimiter(kv, 2, timedelta(milliseconds=200), any_strategy)
    assert await limiter.is_allowed("k")
    assert await limiter.is_allowed("k")
    assert not await limiter.is_allowed("k")
    # The counter's previous bucket weighs on the next one: it is forgotten after two windows.
    await asyncio.sleep(0.45 if any_strategy == "sliding-counter" else 0.25)
    assert await limiter.is_allowed("k")


async def test_reset(kv: AsyncClient, any_strategy: Strategy) -> None:
    limiter = RateLimiter(kv, 1, 60, any_strategy)
    assert not await limiter.reset("k")
    await limiter.hit("k")
    assert await limiter.reset("k")
    assert await limiter.is_allowed("k")


async def test_fixed_window_starts_with_the_first_hit(kv: AsyncClient) -> None:
    limiter = RateLimiter(kv, 2, 60, "fixed")
    await limiter.hit("k")
    assert await kv.get("ratelimit:k") == "1"
    assert 59_000 < await kv.pttl("ratelimit:k") <= 60_000
    await asyncio.sleep(0.05)
    second = await limiter.hit("k")
    assert second.reset_after < 59.97  # the window was not restarted


async def test_fixed_allows_a_burst_across_a_window_edge(kv: AsyncClient) -> None:
    # The documented weakness of fixed windows, which sliding windows do not have.
    limiter = RateLimiter(kv, 2, 0.2, "fixed")
    assert (await limiter.hit("k", cost=2)).allowed
    await asyncio.sleep(0.21)
    assert (await limiter.hit("k", cost=2)).allowed


async def test_sliding_counts_every_window_long_span(kv: AsyncClient) -> None:
    limiter = RateLimiter(kv, 2, 0.4, "sliding")
    assert (await limiter.hit("k")).allowed
    start = time.monotonic()  # after the first hit was recorded
    await asyncio.sleep(0.2)
    assert (await limiter.hit("k")).allowed
    denied = await limiter.hit("k")
    assert not denied.allowed
    # Room comes back when the first hit leaves the window, not when the second does.
    assert 0.1 < denied.reset_after <= 0.2 + 0.01
    await asyncio.sleep(max(0.0, start + 0.42 - time.monotonic()))
    after = await limiter.hit("k")
    assert (after.allowed, after.remaining) == (True, 0)
    assert not (await limiter.hit("k")).allowed


async def test_sliding_forgets_old_hits(kv: AsyncClient) -> None:
    limiter = RateLimiter(kv, 3, 0.1, "sliding")
    await limiter.hit("k", cost=3)
    assert await kv.llen("ratelimit:k") == 3
    await asyncio.sleep(0.15)
    assert (await limiter.hit("k")).remaining == 2
    assert await kv.llen("ratelimit:k") == 1


async def test_key_of_another_type_raises(kv: AsyncClient, any_strategy: Strategy) -> None:
    await kv.sadd("ratelimit:k", "x")
    with pytest.raises(WrongTypeError):
        await RateLimiter(kv, 1, 60, any_strategy).hit("k")


async def test_two_limiters_with_their_own_prefixes(kv: AsyncClient) -> None:
    per_second = RateLimiter(kv, 1, 1, prefix="rl:s:")
    per_minute = RateLimiter(kv, 1, 60, "sliding", prefix="rl:m:")
    assert await per_second.is_allowed("ip")
    assert await per_minute.is_allowed("ip")
    assert sorted(await kv.keys()) == ["rl:m:ip", "rl:s:ip"]


async def test_client_key_prefix_applies(
    make_client: Callable[..., AsyncClient], driver: str, any_strategy: Strategy
) -> None:
    async with make_client(key_prefix="app:") as kv:
        await kv.flushdb()
        await RateLimiter(kv, 1, 60, any_strategy).hit("k")
        assert await kv.keys() == ["ratelimit:k"]
        if driver == "redis":
            async with make_client() as raw:
                assert await raw.exists("app:ratelimit:k") == 1


@pytest.mark.parametrize(
    ("limit", "window", "strategy"),
    [(0, 1, "fixed"), (1.5, 1, "fixed"), (1, 0, "fixed"), (1, 0.0004, "fixed"), (1, 1, "leaky")],
)
def test_invalid_settings(limit: object, window: float, strategy: str) -> None:
    with pytest.raises(InvalidArgumentError):
        RateLimiter(AsyncClient(), limit, window, strategy)  # type: ignore[arg-type]


@pytest.mark.parametrize("cost", [-1, 1.0, True])
async def test_invalid_cost(kv: AsyncClient, cost: object) -> None:
    with pytest.raises(InvalidArgumentError):
        await RateLimiter(kv, 1, 1).hit("k", cost=cost)  # type: ignore[arg-type]


def test_result_is_frozen() -> None:
    result = RateLimitResult(True, 1, 2.0)
    with pytest.raises(AttributeError):
        result.allowed = False  # type: ignore[misc]


# -- exact under concurrency -------------------------------------------------------------------


async def test_concurrent_hits_allow_exactly_the_limit(
    kv: AsyncClient, any_strategy: Strategy
) -> None:
    # An hour-long window: GCRA refills one unit every window / limit, here 36 s.
    limiter = RateLimiter(kv, 100, 3600, any_strategy)
    results = await asyncio.gather(*(limiter.hit("k") for _ in range(1000)))
    allowed = [r for r in results if r.allowed]
    assert len(allowed) == 100
    assert sorted(r.remaining for r in allowed) == list(range(100))


async def test_concurrent_hits_from_several_clients(
    make_client: Callable[..., AsyncClient], driver: str, any_strategy: Strategy
) -> None:
    if driver == "memory":
        pytest.skip("memory clients never share a store")
    clients = [make_client(max_connections=20) for _ in range(4)]
    try:
        limiters = [RateLimiter(c, 100, 3600, any_strategy) for c in clients]
        await clients[0].flushdb()
        results = await asyncio.gather(*(lim.hit("k") for lim in limiters for _ in range(250)))
        assert sum(r.allowed for r in results) == 100
    finally:
        for client in clients:
            await client.aclose()


_WORKER = textwrap.dedent(
    """
    import asyncio, sys, time
    from aiokv import AsyncClient, RateLimiter

    async def main(url: str, strategy: str, start_at: float) -> None:
        async with AsyncClient(driver="redis", url=url, max_connections=50) as kv:
            limiter = RateLimiter(kv, 100, 3600, strategy, prefix="xproc:")
            await kv.ping()  # connect before the start line
            await asyncio.sleep(max(0.0, start_at - time.time()))
            results = await asyncio.gather(*(limiter.hit("k") for _ in range(250)))
        print(sum(r.allowed for r in results))

    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("strategy_name", EVERY_STRATEGY)
def test_four_processes_allow_exactly_the_limit(
    redis_server: RedisServer, strategy_name: Strategy, tmp_path: Path
) -> None:
    redis_server.command("FLUSHDB")
    start_at = time.time() + 2.0  # every process is connected and waiting by then
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, redis_server.url, strategy_name, str(start_at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,  # not REPO, whose `.env` would reach the workers
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        for _ in range(4)
    ]
    allowed = []
    for worker in workers:
        out, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err
        allowed.append(int(out))
    assert sum(allowed) == 100
    assert redis_server.command("EXISTS", "xproc:k") == 1


# -- sliding-window counter ----------------------------------------------------------------------


async def test_sliding_counter_weighs_the_previous_bucket(kv: AsyncClient) -> None:
    limiter = RateLimiter(kv, 4, 0.4, "sliding-counter")
    assert (await limiter.hit("k", cost=4)).remaining == 0
    # Nothing counted leaves the window before the bucket ends, then the estimate fades:
    # 4 * (share of the previous bucket still in the window) + current.
    denied = await limiter.hit("k")
    assert not denied.allowed
    assert 0.4 < denied.reset_after <= 0.5  # the bucket's end, then a quarter of the next
    await asyncio.sleep(0.42)  # the next bucket: the previous one weighs about 4 * 0.95
    assert not (await limiter.hit("k")).allowed
    await asyncio.sleep(0.2)  # about half way: 4 * 0.45 = 1.8, so 2 more fit
    assert (await limiter.hit("k", cost=2)).allowed
    assert not (await limiter.hit("k")).allowed
    fields = await kv.hgetall("ratelimit:k")
    assert (fields["p400"], fields["c400"]) == ("4", "2")
    assert set(fields) == {"s400", "p400", "c400"}


async def test_sliding_counter_state_is_o1(kv: AsyncClient) -> None:
    limiter = RateLimiter(kv, 10_000, 60, "sliding-counter")
    assert (await limiter.hit("k", cost=9_999)).remaining == 1
    assert await kv.hlen("ratelimit:k") == 3
    assert 119_000 < await kv.pttl("ratelimit:k") <= 120_000  # two buckets


# -- GCRA ----------------------------------------------------------------------------------------


async def test_gcra_burst_then_one_per_interval(kv: AsyncClient) -> None:
    limiter = RateLimiter(kv, 10, 1, "gcra", burst=3)  # a token every 100 ms, 3 at most
    assert limiter.quota == 3
    results = [await limiter.hit("k") for _ in range(4)]
    assert [(r.allowed, r.remaining) for r in results] == [
        (True, 2),
        (True, 1),
        (True, 0),
        (False, 0),
    ]
    assert 0.05 < results[-1].reset_after <= 0.1
    await asyncio.sleep(0.11)
    assert (await limiter.hit("k")).allowed  # one token came back
    assert not (await limiter.hit("k")).allowed
    assert 0 < await kv.pttl("ratelimit:k") <= 300  # the state lives only while it matters


async def test_gcra_cost_above_the_burst_is_denied(kv: AsyncClient) -> None:
    limiter = RateLimiter(kv, 10, 1, "gcra", burst=3)
    assert await limiter.hit("k", cost=4) == RateLimitResult(False, 3, 0.0)
    assert (await limiter.hit("k", cost=3)).allowed


async def test_gcra_state_is_one_timestamp(kv: AsyncClient) -> None:
    await RateLimiter(kv, 5, 60, "gcra").hit("k")
    assert list(await kv.hgetall("ratelimit:k")) == ["t60000"]


@pytest.mark.parametrize(
    ("strategy", "burst"), [("fixed", 2), ("sliding", 2), ("gcra", 0), ("gcra", 1.5)]
)
def test_invalid_burst(strategy: Strategy, burst: object) -> None:
    with pytest.raises(InvalidArgumentError):
        RateLimiter(AsyncClient(), 1, 1, strategy, burst=burst)  # type: ignore[arg-type]


async def test_state_that_is_not_an_integer_raises(kv: AsyncClient, any_strategy: Strategy) -> None:
    if any_strategy not in ("sliding-counter", "gcra"):
        pytest.skip("the hash strategies")
    await kv.hset("ratelimit:k", mapping={"t60000": "x", "s60000": "x"})
    with pytest.raises(CommandError, match="rate limit state is not an integer"):
        await RateLimiter(kv, 1, 60, any_strategy).hit("k")


# -- several limits in one step ------------------------------------------------------------------

MULTI = ["sliding-counter", "gcra"]


@pytest.mark.parametrize("multi_strategy", MULTI)
async def test_multi_counts_in_every_limit_or_none(kv: AsyncClient, multi_strategy: Any) -> None:
    limiter = MultiRateLimiter(kv, [(3, 60), (5, 3600)], multi_strategy)
    first = await limiter.hit("k", cost=2)
    assert isinstance(first, MultiRateLimitResult)
    assert [r.remaining for r in first.results] == [1, 3]
    assert (first.allowed, first.remaining, first.quota, first.window) == (True, 1, 3, 60.0)
    # Fits the hourly limit (3 left) but not the per-minute one (1 left): counted in neither.
    denied = await limiter.hit("k", cost=2)
    assert not denied.allowed
    assert (denied.quota, denied.window) == (3, 60.0)
    assert [r.remaining for r in denied.results] == [1, 3]
    assert denied.reset_after > 0
    assert (await limiter.hit("k")).allowed
    assert [r.remaining for r in (await limiter.hit("k", cost=0)).results] == [0, 2]


@pytest.mark.parametrize("multi_strategy", MULTI)
async def test_multi_the_wider_limit_binds_too(kv: AsyncClient, multi_strategy: Any) -> None:
    limiter = MultiRateLimiter(kv, [(10, 0.2), (4, 3600)], multi_strategy)
    assert (await limiter.hit("k", cost=3)).allowed
    denied = await limiter.hit("k", cost=2)
    assert (denied.allowed, denied.quota, denied.window, denied.remaining) == (False, 4, 3600, 1)
    assert denied.reset_after > 1  # the hourly limit frees up last


@pytest.mark.parametrize("multi_strategy", MULTI)
async def test_multi_concurrent_hits_allow_exactly_the_tightest_limit(
    kv: AsyncClient, multi_strategy: Any
) -> None:
    limiter = MultiRateLimiter(kv, [(150, 3600), (100, 7200)], multi_strategy)
    results = await asyncio.gather(*(limiter.hit("k") for _ in range(1000)))
    allowed = [r for r in results if r.allowed]
    assert len(allowed) == 100
    assert sorted(r.remaining for r in allowed) == list(range(100))
    assert {r.quota for r in results} == {100}
    # Every allowed hit was counted in both limits.
    assert sorted(r.results[0].remaining for r in allowed) == list(range(50, 150))


@pytest.mark.parametrize(
    "limits",
    [[], [(0, 1)], [(1, 0)], [(1, 1), (2, 1)], [(1, 1, 2)]],
)
def test_multi_invalid_limits(limits: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        MultiRateLimiter(AsyncClient(), limits)


def test_multi_strategies() -> None:
    with pytest.raises(InvalidArgumentError):
        MultiRateLimiter(AsyncClient(), [(1, 1)], "fixed")  # type: ignore[arg-type]
    gcra = MultiRateLimiter(AsyncClient(), [(1, 1, 5)], "gcra")
    assert gcra.limits == [(1, 1.0)]
    assert "1 per 1.0s" in repr(gcra)
