"""Pipelines, MULTI/EXEC and optimistic (WATCH) transactions, on both drivers.

"Another client" is the test's own client used outside the transaction: on a server its
commands go through another pooled connection, and on the memory driver through the store
that ``tx`` watches, which is all a second client could reach in one process.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import json
import os
import random
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from docsnippets import doc_snippet
from servers import RedisServer

import aiokv
from aiokv import AsyncClient
from aiokv._pipeline import Transaction

ROOT = Path(__file__).resolve().parent.parent

# -- pipelines ------------------------------------------------------------------------------


async def test_pipeline_replies_in_order(kv: AsyncClient) -> None:
    p = kv.pipeline()
    assert p.set("a", 1).incr("a").get("a") is p
    assert len(p) == 3
    assert await p.execute() == [True, 2, "2"]
    assert len(p) == 0
    assert await p.execute() == []  # the queue was emptied
    p.set("a", 5).incr("a").get("a")  # and the pipeline can be used again
    assert await p.execute() == [True, 6, "6"]


@pytest.mark.one_slot
@pytest.mark.parametrize("transaction", [False, True])
async def test_a_failing_command_fails_alone(kv: AsyncClient, transaction: bool) -> None:
    # WRONGTYPE happens when the command runs: in MULTI/EXEC as in a plain pipeline, only that
    # command fails and the others apply.
    await kv.rpush("list", "x")
    p = kv.pipeline(transaction=transaction)
    p.set("a", "1").incr("list").incr("a")
    replies = await p.execute(raise_on_error=False)
    assert replies[0] is True
    assert isinstance(replies[1], aiokv.WrongTypeError)
    assert replies[2] == 2
    assert await kv.get("a") == "2"


@pytest.mark.one_slot
@pytest.mark.parametrize("transaction", [False, True])
async def test_the_first_error_is_raised_with_every_reply(
    kv: AsyncClient, transaction: bool
) -> None:
    await kv.set("text", "abc")
    p = kv.pipeline(transaction=transaction)
    p.incr("n").incr("text").lpush("text", "x").incr("n")
    with pytest.raises(aiokv.NotAnIntegerError) as caught:
        await p.execute()
    replies = caught.value.replies  # type: ignore[attr-defined]
    assert replies[0] == 1
    assert replies[1] is caught.value
    assert isinstance(replies[2], aiokv.WrongTypeError)
    assert replies[3] == 2
    assert await kv.get("n") == "2"  # every command ran before the error was raised


async def test_refused_command_aborts_a_transaction(kv: AsyncClient) -> None:
    # An argument refused when queued: a server answers EXECABORT, and nothing applies.
    p = kv.pipeline(transaction=True)
    p.set("a", "1").expire("a", float("nan")).incr("n")
    with pytest.raises(aiokv.TransactionAbortedError) as caught:
        await p.execute()
    assert isinstance(caught.value.__cause__, aiokv.InvalidArgumentError)
    assert await kv.exists("a", "n") == 0
    p.pfcount().set("a", "2")  # no key: refused when queued, as a server's arity check
    with pytest.raises(aiokv.TransactionAbortedError):
        await p.execute(raise_on_error=False)  # an abort is raised whatever raise_on_error
    assert await kv.exists("a") == 0


async def test_refused_command_raises_at_the_call_in_a_plain_pipeline(kv: AsyncClient) -> None:
    p = kv.pipeline()
    p.set("a", "1")
    with pytest.raises(aiokv.InvalidArgumentError):
        p.expire("a", float("nan"))
    p.incr("n")
    replies = await p.execute(raise_on_error=False)
    assert replies == [True, 1]
    assert await kv.get("a") == "1"


async def test_async_with_executes_on_clean_exit(kv: AsyncClient) -> None:
    async with kv.pipeline(transaction=True) as p:
        p.set("a", "1").incr("a")
    assert p.replies == [True, 2]
    assert await kv.get("a") == "2"


async def test_async_with_sends_nothing_on_exception(kv: AsyncClient) -> None:
    p = kv.pipeline()

    async def fail_inside() -> None:
        async with p:
            p.set("a", "1")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await fail_inside()
    assert await kv.exists("a") == 0
    assert len(p) == 0


@pytest.mark.one_slot
async def test_transaction_pipeline_is_atomic(kv: AsyncClient) -> None:
    # Readers running alongside never see one key written without the other.
    await kv.set("x", 0)
    await kv.set("y", 0)
    stop = asyncio.Event()
    torn: list[tuple[str | None, str | None]] = []

    async def writer() -> None:
        for i in range(1, 101):
            p = kv.pipeline(transaction=True)
            p.set("x", i).set("y", i)
            await p.execute()
        stop.set()

    async def reader() -> None:
        while not stop.is_set():
            p = kv.pipeline(transaction=True)
            x, y = await p.get("x").get("y").execute()
            if x != y:
                torn.append((x, y))
            await asyncio.sleep(0)

    await asyncio.gather(writer(), reader(), reader())
    assert torn == []


# -- kv.transaction ---------------------------------------------------------------------------


async def test_transaction_reads_then_writes(kv: AsyncClient) -> None:
    await kv.set("balance", 10)

    async def spend(tx: Transaction) -> None:
        balance = int(await tx.get("balance") or 0)
        tx.multi()
        tx.set("balance", balance - 3).get("balance")

    assert await kv.transaction(spend, "balance") == [True, "7"]


async def test_a_change_between_watch_and_exec_runs_func_again(kv: AsyncClient) -> None:
    await kv.set("n", 1)
    seen: list[str | None] = []

    async def double(tx: Transaction) -> None:
        value = await tx.get("n")
        seen.append(value)
        if len(seen) == 1:
            await kv.incr("n")  # another client, between WATCH and EXEC
        tx.multi()
        tx.set("n", int(value or 0) * 2)

    assert await kv.transaction(double, "n") == [True]
    assert seen == ["1", "2"]
    assert await kv.get("n") == "4"  # the retry read the other client's write


@pytest.mark.one_slot
async def test_conflicts_past_max_attempts_apply_nothing(kv: AsyncClient) -> None:
    await kv.set("n", 0)
    attempts = 0

    async def always_raced(tx: Transaction) -> None:
        nonlocal attempts
        attempts += 1
        await tx.get("n")
        await kv.incr("n")
        tx.multi()
        tx.set("written", "yes")

    with pytest.raises(aiokv.TransactionConflictError):
        await kv.transaction(always_raced, "n", max_attempts=3)
    assert attempts == 3
    assert await kv.exists("written") == 0
    assert await kv.get("n") == "3"


async def test_max_attempts_must_be_positive(kv: AsyncClient) -> None:
    async def nothing(tx: Transaction) -> None:
        pass

    with pytest.raises(aiokv.InvalidArgumentError):
        await kv.transaction(nothing, "n", max_attempts=0)


@pytest.mark.one_slot
async def test_deleting_a_watched_key_is_a_change(kv: AsyncClient) -> None:
    await kv.set("k", "v")
    attempts = 0

    async def func(tx: Transaction) -> None:
        nonlocal attempts
        attempts += 1
        await tx.get("k")
        if attempts == 1:
            await kv.delete("k")
        tx.multi()
        tx.set("out", attempts)

    await kv.transaction(func, "k")
    assert attempts == 2
    assert await kv.get("out") == "2"


@pytest.mark.one_slot
async def test_expiry_of_a_watched_key_is_a_change(kv: AsyncClient) -> None:
    # The key is watched while alive and expires before EXEC, with no command touching it.
    for _ in range(5):
        await kv.set("k", "v", ttl=0.2)
        seen: list[str | None] = []

        async def func(tx: Transaction, seen: list[str | None] = seen) -> None:
            seen.append(await tx.get("k"))
            if len(seen) == 1:
                await asyncio.sleep(0.4)  # waits for the expiry; nothing is timed
            tx.multi()
            tx.set("out", len(seen))

        await kv.transaction(func, "k")
        if seen[0] is None:
            continue  # the machine stalled past the TTL before WATCH: try again
        assert seen == ["v", None]
        assert await kv.get("out") == "2"
        return
    pytest.fail("the key never lived until WATCH")


async def test_writes_to_other_keys_are_no_conflict(kv: AsyncClient) -> None:
    attempts = 0

    async def func(tx: Transaction) -> None:
        nonlocal attempts
        attempts += 1
        await tx.get("watched")
        await kv.set("other", "x")
        tx.multi()
        tx.set("watched", "y")

    assert await kv.transaction(func, "watched") == [True]
    assert attempts == 1


async def test_func_may_queue_nothing(kv: AsyncClient) -> None:
    async def look(tx: Transaction) -> None:
        await tx.get("k")

    assert await kv.transaction(look, "k") == []


async def test_an_exception_in_func_applies_nothing_and_leaves_no_watch(
    make_client: Callable[..., AsyncClient],
) -> None:
    # One connection in the pool: a connection kept by the failed transaction would make every
    # later command wait for pool_timeout, and a WATCH left on it would abort the next EXEC.
    async with make_client(max_connections=1, pool_timeout=5) as kv:
        await kv.flushdb()
        await kv.set("a", 1)

        async def fails(tx: Transaction) -> None:
            await tx.get("a")
            tx.multi()
            tx.set("written", "yes")
            raise LookupError("func failed")

        with pytest.raises(LookupError):
            await kv.transaction(fails, "a")
        assert await kv.exists("written") == 0
        await kv.set("a", 2)  # a change to the key the failed transaction watched

        async def writes(tx: Transaction) -> None:
            tx.multi()
            tx.set("b", "ok")

        assert await kv.transaction(writes, "b", max_attempts=1) == [True]
        p = kv.pipeline(transaction=True)
        assert await p.set("c", "ok").execute() == [True]
        assert await kv.get("a") == "2"


async def test_a_refused_command_in_a_transaction_aborts_it(kv: AsyncClient) -> None:
    async def refused(tx: Transaction) -> None:
        await tx.get("a")
        tx.multi()
        tx.set("a", "1").expire("a", float("inf"))

    with pytest.raises(aiokv.TransactionAbortedError):
        await kv.transaction(refused, "a")
    assert await kv.exists("a") == 0


@pytest.mark.one_slot
async def test_a_failing_command_in_a_transaction_fails_alone(kv: AsyncClient) -> None:
    await kv.rpush("list", "x")

    async def func(tx: Transaction) -> None:
        tx.multi()
        tx.set("a", "1").incr("list").incr("a")

    with pytest.raises(aiokv.WrongTypeError) as caught:
        await kv.transaction(func, "a")
    assert caught.value.replies[2] == 2  # type: ignore[attr-defined]
    assert await kv.get("a") == "2"


async def test_multi_twice_is_refused(kv: AsyncClient) -> None:
    async def func(tx: Transaction) -> None:
        tx.multi()
        tx.multi()

    with pytest.raises(aiokv.InvalidArgumentError):
        await kv.transaction(func, "a")


# -- the invariant: transfers keep the total -------------------------------------------------

ACCOUNTS = [f"account:{i}" for i in range(10)]
START = 100


async def _transfer(
    kv: AsyncClient, rng: random.Random, yield_between: bool, runs: list[int] | None = None
) -> list[tuple[str, int]]:
    """One transfer between two random accounts; [] when the source cannot pay.

    ``runs[0]`` counts the runs of the transaction's function (retries included).
    """
    source, target = rng.sample(ACCOUNTS, 2)
    amount = rng.randint(1, 60)

    async def move(tx: Transaction) -> None:
        if runs is not None:
            runs[0] += 1
        balance = int(await tx.get(source) or 0)
        if yield_between:
            await asyncio.sleep(0)  # let the other tasks in between the read and the write
        if balance < amount:
            return
        tx.multi()
        tx.decrby(source, amount).incrby(target, amount)

    try:
        replies = await kv.transaction(move, source, target, max_attempts=1000)
    except aiokv.TransactionConflictError:
        return []
    return [(source, -amount), (target, amount)] if replies else []


async def _open_accounts(kv: AsyncClient) -> None:
    p = kv.pipeline(transaction=True)
    for account in ACCOUNTS:
        p.set(account, START)
    await p.execute()


def _check_balances(balances: list[int], moves: list[tuple[str, int]]) -> None:
    expected = dict.fromkeys(ACCOUNTS, START)
    for account, delta in moves:
        expected[account] += delta
    assert sum(balances) == START * len(ACCOUNTS)
    assert min(balances) >= 0
    assert balances == [expected[account] for account in ACCOUNTS]  # no update was lost


@pytest.mark.one_slot
async def test_concurrent_transfers_keep_the_total(kv: AsyncClient) -> None:
    await _open_accounts(kv)
    runs = [0]

    async def worker(seed: int) -> list[tuple[str, int]]:
        rng = random.Random(seed)
        moves: list[tuple[str, int]] = []
        for _ in range(10):
            moves += await _transfer(kv, rng, yield_between=True, runs=runs)
        return moves

    results = await asyncio.gather(*(worker(seed) for seed in range(50)))
    moves = [move for result in results for move in result]
    balances = [int(await kv.get(account) or 0) for account in ACCOUNTS]
    _check_balances(balances, moves)
    assert moves, "no transfer went through"
    assert runs[0] > 500, "no transaction ever had to run again: the test proves nothing"


_WORKER = textwrap.dedent(
    """
    import asyncio, json, random, sys
    sys.path[:0] = [sys.argv[3], sys.argv[4]]
    from aiokv import AsyncClient
    from test_transactions import _transfer

    async def main(url, seed):
        async with AsyncClient(driver="redis", url=url, max_connections=8) as kv:
            runs = [0]
            async def worker(n):
                rng = random.Random(seed * 1000 + n)
                moves = []
                for _ in range(15):
                    moves += await _transfer(kv, rng, yield_between=False, runs=runs)
                return moves
            results = await asyncio.gather(*(worker(n) for n in range(12)))
        moves = [move for result in results for move in result]
        print(json.dumps({"moves": moves, "runs": runs[0]}))

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


@pytest.mark.slow
async def test_transfers_from_four_processes_keep_the_total(redis_server: RedisServer) -> None:
    async with AsyncClient(driver="redis", url=redis_server.url) as kv:
        await kv.flushdb()
        await _open_accounts(kv)
        args = [str(ROOT), str(ROOT / "tests")]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(args)}
        workers = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                _WORKER,
                redis_server.url,
                str(seed),
                *args,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
            )
            for seed in range(4)
        ]
        moves: list[tuple[str, int]] = []
        runs = 0
        try:
            for process in workers:
                out, err = await asyncio.wait_for(process.communicate(), timeout=300)
                assert process.returncode == 0, err.decode()
                report = json.loads(out)
                moves += [(account, delta) for account, delta in report["moves"]]
                runs += report["runs"]
        finally:
            for process in workers:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
        balances = [int(await kv.get(account) or 0) for account in ACCOUNTS]
    _check_balances(balances, moves)
    assert moves, "no transfer went through"
    assert runs > 4 * 12 * 15, "no transaction ever had to run again: the test proves nothing"


async def test_a_refused_watch_raises(redis_server: RedisServer) -> None:
    # A server that refuses WATCH (an ACL user without it) gives no optimistic check: running
    # the transaction anyway could lose updates, so the refusal is raised and func never runs.
    redis_server.command("ACL", "SETUSER", "nowatch", "on", ">pw", "~*", "+@all", "-watch")
    host, port = redis_server.address
    ran = False

    async def func(tx: Transaction) -> None:
        nonlocal ran
        ran = True
        tx.multi()
        tx.set("k", "v")

    try:
        async with AsyncClient(driver="redis", url=f"redis://nowatch:pw@{host}:{port}") as kv:
            with pytest.raises(aiokv.CommandError, match="NOPERM"):
                await kv.transaction(func, "k")
            assert not ran
            assert await kv.exists("k") == 0
            assert await kv.ping()  # the connection went back to the pool
    finally:
        redis_server.command("ACL", "DELUSER", "nowatch")


async def test_a_transaction_without_keys_is_a_plain_multi_exec(kv: AsyncClient) -> None:
    async def func(tx: Transaction) -> None:
        await tx.get("k")
        tx.multi()
        tx.set("k", "v")

    assert await kv.transaction(func) == [True]


# The README's "Batches and transactions" block, run on both drivers.


@pytest.mark.one_slot
async def test_readme_block_runs(kv: AsyncClient) -> None:
    code = compile(
        doc_snippet("transactions"), "README.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    )
    result = eval(code, {"kv": kv, "__name__": "readme"})
    if inspect.isawaitable(result):
        await result
    assert await kv.get("visits") == "4"  # the aborted transaction applied nothing
    assert await kv.get("bob") == "30"
