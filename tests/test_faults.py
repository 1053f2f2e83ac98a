"""The redis driver through a fault proxy (``faultproxy.py``) in front of a real server.

Every test here is slow (``nox -s slow``). What they hold the driver to:

* A write whose reply was lost is never re-sent: it returns its true reply or raises
  ``OutcomeUnknownError``, and the server shows it applied once. The proxy lets each write run
  on the server exactly once, then drops the reply and resets the connection; the state is then
  read directly from the server (its data, or ``INFO commandstats`` for writes that leave the
  same state when applied twice). Reads, and failures while connecting, are retried.
* ``aclose()`` fails the commands in flight with ``ClientClosedError`` and re-sends nothing.
* Thousands of cancellations through a delaying proxy: no reply read by the wrong command, no
  connection leaked. A server killed (SIGKILL) and restarted under load, a black hole and an
  exhausted pool: bounded errors of the documented kinds, then recovery, and no leak.

The server runs without persistence on database 0, so ``server.command(...)`` (a fresh
connection per call, outside aiokv) reads exactly what the client wrote.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from faultproxy import FaultProxy
from servers import RedisServer, Reply, ServerBinary
from test_redis_cancellation import KEYS, check_replies, needs_cancelling

from aiokv import (
    AsyncClient,
    ClientClosedError,
    KVConnectionError,
    KVError,
    KVTimeoutError,
    OutcomeUnknownError,
    RateLimiter,
    Script,
    SessionStore,
)
from aiokv._protocol import Driver
from aiokv._script import ScriptArg

pytestmark = pytest.mark.slow

# Every wait in this module is bounded by this, so a driver that hangs fails instead.
BOUND = 30.0


@pytest.fixture(scope="module")
def server(server_binary: ServerBinary) -> Iterator[RedisServer]:
    with RedisServer(server_binary) as server:
        yield server


@pytest.fixture
async def proxy(server: RedisServer) -> AsyncIterator[FaultProxy]:
    """A proxy in front of ``server``, over an empty database with fresh command stats."""
    server.command("FLUSHDB")
    server.command("CONFIG", "RESETSTAT")
    async with FaultProxy(server.address) as proxy:
        yield proxy


def client(proxy: FaultProxy, **overrides: Any) -> AsyncClient:
    """A client that reaches the server through ``proxy``; quick retries."""
    options: dict[str, Any] = {
        "url": proxy.url(),
        "socket_timeout": 5.0,
        "retry_attempts": 3,
        "retry_backoff_base": 0.01,
        "retry_backoff_cap": 0.05,
        **overrides,
    }
    return AsyncClient(**options)


def calls(server: RedisServer, *names: str) -> int:
    """How many times the server ran these commands since the last CONFIG RESETSTAT.

    Commands run by scripts count too.
    """
    stats = server.info("commandstats")
    total = 0
    for name in names:
        entry = stats.get(f"cmdstat_{name.lower()}", "calls=0")
        total += int(entry.split(",")[0].removeprefix("calls="))
    return total


def as_int(reply: Reply) -> int:
    if reply is None:
        return 0
    if isinstance(reply, (bytes, str, int)):
        return int(reply)
    raise AssertionError(f"not an integer reply: {reply!r}")


async def settled(proxy: FaultProxy, limit: int) -> bool:
    """Whether the proxy's open connections fall to ``limit`` within 2 s (a close reaches the
    proxy a few loop steps after the client made it)."""
    for _ in range(200):
        if proxy.open <= limit:
            return True
        await asyncio.sleep(0.01)
    return False


# -- a write whose reply is lost is applied at most once ------------------------------------------


@dataclass
class Scene:
    """What a write case works with: the client (through the proxy) and the server itself."""

    kv: AsyncClient
    server: RedisServer
    proxy: FaultProxy
    wire: tuple[str, ...]

    def direct(self, *args: str | int) -> Reply:
        """Run a command on the server directly, not through the proxy."""
        return self.server.command(*args)

    def arm(self) -> None:
        """Zero the command stats, then lose the reply of the next command named ``wire``."""
        self.server.command("CONFIG", "RESETSTAT")
        self.proxy.reset_after_forward(1, match=self.wire)

    def calls(self, *names: str) -> int:
        return calls(self.server, *(names or self.wire))


@dataclass(frozen=True)
class WriteCase:
    """A write: ``run`` sets up, calls ``scene.arm()``, then makes the write and returns its
    result; ``applied`` says from the server's state how many times the write took effect."""

    id: str
    wire: tuple[str, ...]  # the command names the write may go out as
    run: Callable[[Scene], Awaitable[object]]
    expected: object  # what ``run`` returns when the write succeeds
    applied: Callable[[Scene], int]


def by_calls(scene: Scene) -> int:
    return scene.calls()


async def _incr_local(driver: Driver, keys: Sequence[str], args: Sequence[ScriptArg]) -> int:
    return await driver.incrby(keys[0], 1)


INCR_SCRIPT = Script(lua="return redis.call('INCR', KEYS[1])", local=_incr_local)

SCRIPT_WIRE = ("EVALSHA", "EVAL", "EVALSHA_RO", "EVAL_RO")


async def set_(s: Scene) -> object:
    s.arm()
    return await s.kv.set("k", "v")


async def set_nx(s: Scene) -> object:
    s.arm()
    return await s.kv.set("k", "v", nx=True)


async def set_json(s: Scene) -> object:
    s.arm()
    await s.kv.set_json("k", {"a": 1})
    return None


async def setex(s: Scene) -> object:
    s.arm()
    await s.kv.setex("k", "v", 100)
    return None


async def delete(s: Scene) -> object:
    s.direct("SET", "k", "v")
    s.arm()
    return await s.kv.delete("k")


async def expire(s: Scene) -> object:
    s.direct("SET", "k", "v")
    s.arm()
    return await s.kv.expire("k", 100)


async def persist(s: Scene) -> object:
    s.direct("SET", "k", "v", "EX", 100)
    s.arm()
    return await s.kv.persist("k")


async def incr(s: Scene) -> object:
    s.arm()
    return await s.kv.incr("n")


async def decr(s: Scene) -> object:
    s.arm()
    return await s.kv.decr("n")


async def incrby(s: Scene) -> object:
    s.arm()
    return await s.kv.incrby("n", 5)


async def decrby(s: Scene) -> object:
    s.arm()
    return await s.kv.decrby("n", 5)


async def hset(s: Scene) -> object:
    s.arm()
    return await s.kv.hset("h", "f", "v")


async def hdel(s: Scene) -> object:
    s.direct("HSET", "h", "f", "v", "g", "w")
    s.arm()
    return await s.kv.hdel("h", "f")


async def lpush(s: Scene) -> object:
    s.arm()
    return await s.kv.lpush("l", "a")


async def rpush(s: Scene) -> object:
    s.arm()
    return await s.kv.rpush("l", "a")


async def lpop(s: Scene) -> object:
    s.direct("RPUSH", "l", "a", "b", "c", "d")
    s.arm()
    return await s.kv.lpop("l")


async def lpop_count(s: Scene) -> object:
    s.direct("RPUSH", "l", "a", "b", "c", "d")
    s.arm()
    return await s.kv.lpop("l", 2)


async def rpop(s: Scene) -> object:
    s.direct("RPUSH", "l", "a", "b", "c", "d")
    s.arm()
    return await s.kv.rpop("l")


async def sadd(s: Scene) -> object:
    s.arm()
    return await s.kv.sadd("s", "a")


async def srem(s: Scene) -> object:
    s.direct("SADD", "s", "a", "b")
    s.arm()
    return await s.kv.srem("s", "a")


async def flushdb(s: Scene) -> object:
    s.direct("SET", "k", "v")
    s.arm()
    await s.kv.flushdb()
    return None


async def run_script(s: Scene) -> object:
    await s.kv.run_script(INCR_SCRIPT, ["warm"])  # the server knows the script from here on
    s.arm()
    return await s.kv.run_script(INCR_SCRIPT, ["n"])


async def delete_matching(s: Scene) -> object:
    s.direct("SET", "a:1", "v")
    s.direct("SET", "a:2", "v")
    s.arm()
    return await s.kv.delete_matching("a:*")


async def get_or_set(s: Scene) -> object:
    s.arm()
    return await s.kv.get_or_set("c", lambda: 42, 100)


def limiter(s: Scene, strategy: str) -> RateLimiter:
    return RateLimiter(s.kv, 3, 60, "sliding" if strategy == "sliding" else "fixed")


async def ratelimit_fixed(s: Scene) -> object:
    await limiter(s, "fixed").hit("warm")
    s.arm()
    return (await limiter(s, "fixed").hit("u")).allowed


async def ratelimit_sliding(s: Scene) -> object:
    await limiter(s, "sliding").hit("warm")
    s.arm()
    return (await limiter(s, "sliding").hit("u")).allowed


async def ratelimit_reset(s: Scene) -> object:
    s.direct("SET", "ratelimit:u", 2)
    s.arm()
    return await limiter(s, "fixed").reset("u")


async def warm_lock(s: Scene) -> None:
    lock = s.kv.lock("warm")
    await lock.acquire()
    await lock.extend()
    await lock.release()


async def lock_acquire(s: Scene) -> object:
    await warm_lock(s)
    s.arm()
    lock = s.kv.lock("job")
    await lock.acquire()
    return lock.held


async def lock_release(s: Scene) -> object:
    await warm_lock(s)
    lock = s.kv.lock("job")
    await lock.acquire()
    s.arm()
    await lock.release()
    return lock.held


async def lock_extend(s: Scene) -> object:
    await warm_lock(s)
    lock = s.kv.lock("job", ttl=5)
    await lock.acquire()
    s.arm()
    await lock.extend(100)
    return lock.held


async def session_create(s: Scene) -> object:
    s.arm()
    return len(await SessionStore(s.kv, ttl=100).create({"a": 1}))


async def session_update(s: Scene) -> object:
    store = SessionStore(s.kv, ttl=100)
    session_id = await store.create({"a": 1})
    await store.update(session_id, {"a": 2})
    s.arm()
    return await store.update(session_id, {"a": 3})


async def session_refresh(s: Scene) -> object:
    store = SessionStore(s.kv, ttl=100)
    session_id = await store.create({"a": 1})
    s.arm()
    return await store.refresh(session_id)


async def session_destroy(s: Scene) -> object:
    store = SessionStore(s.kv, ttl=100)
    session_id = await store.create({"a": 1})
    s.arm()
    return await store.destroy(session_id)


def counter(key: str, step: int) -> Callable[[Scene], int]:
    return lambda s: as_int(s.direct("GET", key)) // step


def popped(per_call: int) -> Callable[[Scene], int]:
    return lambda s: (4 - as_int(s.direct("LLEN", "l"))) // per_call


def llen(key: str) -> Callable[[Scene], int]:
    return lambda s: as_int(s.direct("LLEN", key))


def sessions(s: Scene) -> int:
    found = s.direct("KEYS", "session:*")
    assert isinstance(found, list)
    return len(found)


def lock_sets(s: Scene) -> int:
    # One ACQUIRE runs one SET (a repeat finds its own token and extends instead); a cleanup
    # RELEASE after an unknown outcome runs none.
    return s.calls("SET")


EXPIRE_WIRE = ("EXPIRE", "PEXPIRE")
SET_WIRE = ("SET", "SETEX", "PSETEX")
DEL_WIRE = ("DEL", "UNLINK")
INCR_WIRE = ("INCR", "INCRBY", "DECR", "DECRBY")

WRITES = [
    WriteCase("set", SET_WIRE, set_, True, by_calls),
    WriteCase("set-nx", SET_WIRE, set_nx, True, by_calls),
    WriteCase("set_json", SET_WIRE, set_json, None, by_calls),
    WriteCase("setex", SET_WIRE, setex, None, by_calls),
    WriteCase("delete", DEL_WIRE, delete, 1, by_calls),
    WriteCase("expire", EXPIRE_WIRE, expire, True, by_calls),
    WriteCase("persist", ("PERSIST",), persist, True, by_calls),
    WriteCase("incr", INCR_WIRE, incr, 1, counter("n", 1)),
    WriteCase("decr", INCR_WIRE, decr, -1, counter("n", -1)),
    WriteCase("incrby", INCR_WIRE, incrby, 5, counter("n", 5)),
    WriteCase("decrby", INCR_WIRE, decrby, -5, counter("n", -5)),
    WriteCase("hset", ("HSET", "HMSET"), hset, 1, by_calls),
    WriteCase("hdel", ("HDEL",), hdel, 1, by_calls),
    WriteCase("lpush", ("LPUSH",), lpush, 1, llen("l")),
    WriteCase("rpush", ("RPUSH",), rpush, 1, llen("l")),
    WriteCase("lpop", ("LPOP",), lpop, "a", popped(1)),
    WriteCase("lpop-count", ("LPOP",), lpop_count, ["a", "b"], popped(2)),
    WriteCase("rpop", ("RPOP",), rpop, "d", popped(1)),
    WriteCase("sadd", ("SADD",), sadd, 1, by_calls),
    WriteCase("srem", ("SREM",), srem, 1, by_calls),
    WriteCase("flushdb", ("FLUSHDB", "FLUSHALL"), flushdb, None, by_calls),
    WriteCase("run_script", SCRIPT_WIRE, run_script, 1, counter("n", 1)),
    WriteCase("delete_matching", DEL_WIRE, delete_matching, 2, by_calls),
    WriteCase("get_or_set", SET_WIRE, get_or_set, 42, by_calls),
    WriteCase("ratelimit-fixed-hit", SCRIPT_WIRE, ratelimit_fixed, True, counter("ratelimit:u", 1)),
    WriteCase("ratelimit-sliding-hit", SCRIPT_WIRE, ratelimit_sliding, True, llen("ratelimit:u")),
    WriteCase("ratelimit-reset", DEL_WIRE, ratelimit_reset, True, by_calls),
    WriteCase("lock-acquire", SCRIPT_WIRE, lock_acquire, True, lock_sets),
    WriteCase("lock-release", SCRIPT_WIRE, lock_release, False, by_calls),
    WriteCase("lock-extend", SCRIPT_WIRE, lock_extend, True, by_calls),
    WriteCase("session-create", SET_WIRE, session_create, 43, sessions),
    WriteCase("session-update", SCRIPT_WIRE, session_update, True, by_calls),
    WriteCase("session-refresh", EXPIRE_WIRE, session_refresh, True, by_calls),
    WriteCase("session-destroy", DEL_WIRE, session_destroy, True, by_calls),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in WRITES])
async def test_write_whose_reply_is_lost_is_applied_at_most_once(
    case: WriteCase, server: RedisServer, proxy: FaultProxy
) -> None:
    problems: list[str] = []
    async with client(proxy) as kv:
        scene = Scene(kv, server, proxy, case.wire)
        try:
            result = await asyncio.wait_for(case.run(scene), BOUND)
        except OutcomeUnknownError:
            pass
        except KVError as exc:
            problems.append(f"raised {exc!r}")
        else:
            if result != case.expected:
                problems.append(f"returned {result!r} instead of {case.expected!r}")
        applied = case.applied(scene)
    assert proxy.resets == 1, "the proxy did not lose a reply: the test tested nothing"
    if applied != 1:  # the proxy let it run once, so a second time means it was re-sent
        problems.insert(0, f"applied {applied} times")
    assert not problems, f"{case.id}: " + "; ".join(problems)


# -- what may be retried: reads, and a connection that failed before the command was written ------


@dataclass(frozen=True)
class ReadCase:
    id: str
    wire: tuple[str, ...]
    call: Callable[[AsyncClient], Awaitable[object]]
    expected: object


READS = [
    ReadCase("get", ("GET",), lambda kv: kv.get("k"), "v"),
    ReadCase("get_bytes", ("GET",), lambda kv: kv.get_bytes("k"), b"v"),
    ReadCase("get_json", ("GET",), lambda kv: kv.get_json("j"), {"a": 1}),
    ReadCase("exists", ("EXISTS",), lambda kv: kv.exists("k", "h"), 2),
    ReadCase("ttl", ("TTL",), lambda kv: kv.ttl("t"), 100),
    ReadCase("pttl", ("PTTL",), lambda kv: kv.pttl("k"), -1),
    ReadCase("type", ("TYPE",), lambda kv: kv.type("h"), "hash"),
    ReadCase("hget", ("HGET",), lambda kv: kv.hget("h", "f"), "v"),
    ReadCase("hgetall", ("HGETALL",), lambda kv: kv.hgetall("h"), {"f": "v"}),
    ReadCase("llen", ("LLEN",), lambda kv: kv.llen("l"), 2),
    ReadCase("lrange", ("LRANGE",), lambda kv: kv.lrange("l", 0, -1), ["a", "b"]),
    ReadCase("smembers", ("SMEMBERS",), lambda kv: kv.smembers("s"), {"x"}),
    ReadCase("sismember", ("SISMEMBER",), lambda kv: kv.sismember("s", "x"), True),
    ReadCase("scard", ("SCARD",), lambda kv: kv.scard("s"), 1),
    ReadCase("keys", ("SCAN",), lambda kv: kv.keys("[hl]"), ["h", "l"]),
    ReadCase("dbsize", ("DBSIZE",), lambda kv: kv.dbsize(), 6),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in READS])
async def test_read_whose_reply_is_lost_is_retried(
    case: ReadCase, server: RedisServer, proxy: FaultProxy
) -> None:
    server.command("SET", "k", "v")
    server.command("SET", "j", '{"a":1}')
    server.command("SET", "t", "x", "EX", 100)
    server.command("HSET", "h", "f", "v")
    server.command("RPUSH", "l", "a", "b")
    server.command("SADD", "s", "x")
    async with client(proxy) as kv:
        proxy.reset_after_forward(1, match=case.wire)
        result = await asyncio.wait_for(case.call(kv), BOUND)
    if isinstance(result, list) and case.id == "keys":
        result = sorted(result)
    assert result == case.expected
    assert proxy.resets == 1
    assert proxy.count(*case.wire) >= 2  # sent again after the reset


async def test_failure_while_connecting_is_retried(server: RedisServer, proxy: FaultProxy) -> None:
    async with client(proxy) as kv:
        proxy.reset_new_connections(2)  # within the retry budget of 3
        assert await asyncio.wait_for(kv.incr("n"), BOUND) == 1
    assert server.command("GET", "n") == b"1"
    assert proxy.opened >= 3


@pytest.mark.parametrize("position", [1, 2, 3])
async def test_rate_limiter_never_counts_a_hit_twice(
    position: int, server: RedisServer, proxy: FaultProxy
) -> None:
    # Limit 3; the reply of hit number ``position`` is lost. Every hit ran once on the server,
    # so the first three are allowed (or of unknown outcome) and the next three denied. A hit
    # re-sent after its reply was lost counts twice and denies one of the first three.
    outcomes: list[str] = []
    async with client(proxy) as kv:
        limits = RateLimiter(kv, 3, 60)
        await limits.hit("warm")
        for n in range(1, 7):
            if n == position:
                proxy.reset_after_forward(1, match=SCRIPT_WIRE)
            try:
                allowed = (await asyncio.wait_for(limits.hit("u"), BOUND)).allowed
            except OutcomeUnknownError:
                outcomes.append("unknown")
            else:
                outcomes.append("allowed" if allowed else "denied")
    assert proxy.resets == 1
    assert "denied" not in outcomes[:3], f"hits 1-3 of a limit of 3: {outcomes}"
    assert outcomes[3:] == ["denied"] * 3, outcomes
    assert server.command("GET", "ratelimit:u") == b"3"


# -- aclose() with commands in flight -------------------------------------------------------------


async def test_aclose_fails_commands_in_flight_and_sends_nothing_after(
    server: RedisServer, proxy: FaultProxy
) -> None:
    kv = client(proxy, max_connections=8)
    try:
        await asyncio.gather(*(kv.ping() for _ in range(8)))  # eight connections open
        before = len(proxy.commands)
        proxy.hold(requests=False)  # the commands reach the server; their replies wait
        in_flight: list[asyncio.Future[object]] = []
        in_flight += [asyncio.ensure_future(kv.incr(f"n{i}")) for i in range(4)]
        in_flight += [asyncio.ensure_future(kv.get(f"k{i}")) for i in range(4)]
        for _ in range(int(BOUND / 0.01)):
            if len(proxy.commands) - before >= 8:
                break
            await asyncio.sleep(0.01)
        assert len(proxy.commands) - before == 8, proxy.commands[before:]
    finally:
        await kv.aclose()
    after = len(proxy.commands)
    # aclose() has returned: the commands in flight have failed, or do so in a few loop steps.
    done, pending = await asyncio.wait(in_flight, timeout=2.0)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=BOUND)
    proxy.release()
    await asyncio.sleep(0.3)  # anything sent late would reach the server now
    problems = [f"{len(pending)} of 8 commands still running 2 s after aclose()"] if pending else []
    problems += [
        f"a command in flight ended with {task.exception() or task.result()!r}"
        for task in done
        if not isinstance(task.exception(), ClientClosedError)
    ]
    if proxy.commands[after:]:
        problems.append(f"sent after aclose() returned: {proxy.commands[after:]}")
    counters = [server.command("GET", f"n{i}") for i in range(4)]
    if counters != [b"1"] * 4:
        problems.append(f"counters on the server: {counters}")
    assert not problems, "\n".join(problems)
    assert await proxy.wait_all_closed()


# -- a cancellation storm through a delaying proxy ----------------------------------------------


@needs_cancelling
async def test_cancellation_storm_reads_no_wrong_reply_and_leaks_no_connection(
    server: RedisServer, proxy: FaultProxy
) -> None:
    rng = random.Random(21)
    wrong: list[str] = []
    cancelled = 0
    for i in range(KEYS):
        server.command("SET", f"k{i}", f"v{i}")

    async def worker(seconds: float) -> None:
        nonlocal cancelled
        try:
            async with asyncio.timeout(seconds):  # type: ignore[attr-defined,unused-ignore]
                await check_replies(kv, rng, wrong)
        except TimeoutError:
            cancelled += 1

    started = time.monotonic()
    async with client(proxy, max_connections=8) as kv:
        for r in range(250):
            if time.monotonic() - started > 60:
                break
            proxy.delay((0, 0.0005, 0.002)[r % 3])
            tasks = [asyncio.ensure_future(worker(rng.random() * 0.01)) for _ in range(16)]
            done, pending = await asyncio.wait(tasks, timeout=BOUND)
            for task in pending:
                task.cancel()
            assert not pending, f"round {r}: {len(pending)} tasks ignored their timeout"
            for task in done:
                task.result()
            if r % 25 == 0:
                assert await settled(proxy, 8), f"round {r}: {proxy.open} connections open"
        proxy.delay(0)
        for i in range(KEYS):
            value = await kv.get(f"k{i}")
            if value != f"v{i}":
                wrong.append(f"at the end: get k{i} -> {value!r}")
        assert await settled(proxy, 8), f"{proxy.open} connections open for max_connections=8"
    assert cancelled >= 3000, f"only {cancelled} cancellations"
    assert wrong == []
    assert await proxy.wait_all_closed(), f"{proxy.open} connections left open after aclose()"


# -- kill -9 and restart under load ----------------------------------------------------------------


async def test_kill_9_and_restart_under_load(server_binary: ServerBinary) -> None:
    # A connection per worker: what is tested is the crash, not the wait for a connection
    # (test_pool_smaller_than_the_load_serves_every_task has that).
    own = RedisServer(server_binary)
    try:
        own.start()
        async with FaultProxy(own.address) as proxy:
            await kill_and_restart_under_load(own, proxy)
    finally:
        own.stop()


async def kill_and_restart_under_load(own: RedisServer, proxy: FaultProxy) -> None:
    wrong: list[str] = []
    errors: list[BaseException] = []
    successes: dict[int, int] = {}  # worker -> successful rounds
    stop = asyncio.Event()

    async def worker(w: int, kv: AsyncClient) -> None:
        seq = 0
        while not stop.is_set():
            seq += 1
            try:
                await kv.set(f"w{w}", f"{w}:{seq}")
                value = await kv.get(f"w{w}")
            except (KVConnectionError, KVTimeoutError) as exc:
                errors.append(exc)
                await asyncio.sleep(0.01)
                continue
            owner, _, number = (value or f"{w}:0").partition(":")
            if owner != str(w) or not 0 <= int(number) <= seq:
                wrong.append(f"worker {w} at {seq}: get -> {value!r}")
            successes[w] = successes.get(w, 0) + 1

    async with client(proxy, max_connections=16, socket_timeout=2.0) as kv:
        workers = [asyncio.ensure_future(worker(w, kv)) for w in range(16)]
        try:
            for cycle in range(3):
                await asyncio.sleep(0.5)
                own.kill()  # SIGKILL: no shutdown, connections cut mid-command
                await asyncio.sleep(0.2)
                await asyncio.to_thread(own.start)  # same port, empty
                before = dict(successes)
                for _ in range(int(BOUND / 0.05)):
                    if all(successes.get(w, 0) > before.get(w, 0) for w in range(16)):
                        break
                    await asyncio.sleep(0.05)
                stalled = [w for w in range(16) if successes.get(w, 0) <= before.get(w, 0)]
                assert not stalled, f"cycle {cycle}: workers {stalled} made no progress"
        finally:
            stop.set()
            await asyncio.wait(workers, timeout=BOUND)
        for task in workers:
            task.result()
        assert await settled(proxy, 16), f"{proxy.open} connections open for max_connections=16"
    assert wrong == []
    assert await proxy.wait_all_closed()
    for _ in range(200):  # a close reaches the server a moment after the proxy made it
        if int(own.info("clients")["connected_clients"]) == 1:  # the INFO connection itself
            break
        await asyncio.sleep(0.01)
    assert int(own.info("clients")["connected_clients"]) == 1


# -- a black hole ----------------------------------------------------------------------------------


async def test_black_hole_times_out_then_recovers(server: RedisServer, proxy: FaultProxy) -> None:
    timeout = 0.5
    async with client(
        proxy, max_connections=4, socket_timeout=timeout, connect_timeout=timeout
    ) as kv:
        await asyncio.gather(*(kv.set(f"k{i}", "v") for i in range(8)))
        proxy.blackhole()

        async def timed(call: Awaitable[object]) -> tuple[float, object]:
            started = time.monotonic()
            try:
                result: object = await asyncio.wait_for(call, BOUND)
            except KVError as exc:
                result = exc
            return time.monotonic() - started, result

        outcomes = await asyncio.gather(
            *(timed(kv.get(f"k{i}")) for i in range(4)),
            *(timed(kv.incr(f"n{i}")) for i in range(4)),
        )
        for elapsed, result in outcomes:
            assert isinstance(result, KVTimeoutError), result
            assert "REDIS_SOCKET_TIMEOUT" in str(result) or "REDIS_CONNECT_TIMEOUT" in str(result)
            # Each ends after about one socket_timeout (not retried); the margin is for a busy
            # machine, the point is that none waits for the black hole to end.
            assert elapsed < timeout * 8, f"took {elapsed:.1f}s for socket_timeout={timeout}"
        proxy.heal()
        values = await asyncio.wait_for(
            asyncio.gather(*(kv.get(f"k{i % 8}") for i in range(40))), BOUND
        )
        assert values == ["v"] * 40
        assert await settled(proxy, 4), f"{proxy.open} connections open for max_connections=4"
    assert await proxy.wait_all_closed()


# -- an exhausted pool ---------------------------------------------------------------------------


async def test_exhausted_pool_waits_pool_timeout_then_raises(
    server: RedisServer, proxy: FaultProxy
) -> None:
    # The pool's behaviour: plain commands use it only with auto-pipelining off.
    async with client(proxy, max_connections=2, pool_timeout=0.3, auto_pipeline=False) as kv:
        await asyncio.gather(kv.set("k", "v"), kv.ping())
        proxy.delay(1.5)  # the two connections stay busy well past pool_timeout
        finished: list[object] = []

        async def get() -> None:
            try:
                finished.append(await kv.get("k"))
            except KVError as exc:
                finished.append(exc)

        await asyncio.wait_for(asyncio.gather(*(get() for _ in range(8))), BOUND)
        # The six that found no connection gave up first, each after pool_timeout.
        assert all(isinstance(result, KVTimeoutError) for result in finished[:6]), finished
        assert all("REDIS_POOL_TIMEOUT" in str(result) for result in finished[:6])
        assert finished[6:] == ["v", "v"]
        assert proxy.peak == 2
        proxy.delay(0)
        assert await asyncio.gather(*(kv.get("k") for _ in range(50))) == ["v"] * 50
        assert proxy.opened == 2  # the waits cost no connection
    assert await proxy.wait_all_closed()


async def test_pool_smaller_than_the_load_serves_every_task(
    server: RedisServer, proxy: FaultProxy
) -> None:
    # Sixteen tasks, each running commands back to back on a pool of eight: a task waiting for
    # a connection must get one, not lose it every time to a task that releases a connection
    # and takes it again in the same event-loop step.
    served = [0] * 16
    errors: list[KVError] = []
    stop = asyncio.Event()

    async def worker(w: int, kv: AsyncClient) -> None:
        while not stop.is_set():
            try:
                await kv.set(f"w{w}", "x")
                await kv.get(f"w{w}")
            except KVError as exc:
                errors.append(exc)
                await asyncio.sleep(0.01)
            else:
                served[w] += 1

    async with client(proxy, max_connections=8, pool_timeout=1.0) as kv:
        workers = [asyncio.ensure_future(worker(w, kv)) for w in range(16)]
        await asyncio.sleep(2.5)
        stop.set()
        await asyncio.wait(workers, timeout=BOUND)
        for task in workers:
            task.result()
        assert proxy.peak <= 8
    assert not errors, (
        f"{len(errors)} errors, first: {errors[0]!r}; commands per task: {sorted(served)}"
    )
    assert min(served) > 0
    assert await proxy.wait_all_closed()
