"""Pipelines on both drivers: replies decoded as the client's methods decode them, errors in
place, argument errors recorded at queue time, and the generated typing view kept current."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import aiokv
from aiokv import AsyncClient
from aiokv.commands import _generate


def test_the_typing_view_of_pipelines_is_current() -> None:
    # Adding or changing a command method needs `python -m aiokv.commands._generate`.
    assert _generate.TARGET.read_text() == _generate.render()


async def test_replies_are_decoded_like_the_clients_methods(kv: AsyncClient) -> None:
    p = kv.pipeline()
    p.set("s", "é").get("s").get_bytes("s").incr("n").incrby("n", 5).ttl("s").type("s")
    p.hset("h", "f", 1).hget("h", "f").hgetall("h").rpush("l", "a", "b").lrange("l", 0, -1)
    p.lpop("l", 1).sadd("z", "x").smembers("z").sismember("z", "x").exists("s", "n", "q")
    p.delete().get("missing").ping()
    assert len(p) == 20
    replies = await p.execute()
    assert replies == [
        True, "é", "é".encode(), 1, 6, -1, "string",
        1, "1", {"f": "1"}, 2, ["a", "b"],
        ["a"], 1, {"x"}, True, 2,
        0, None, True,
    ]  # fmt: skip
    assert len(p) == 0
    assert await p.execute() == []
    # The same commands one by one give the same answers.
    assert await kv.get("s") == "é"
    assert await kv.hgetall("h") == {"f": "1"}


async def test_a_failing_command_does_not_stop_the_others(kv: AsyncClient) -> None:
    await kv.rpush("list", "x")
    p = kv.pipeline().set("a", "1").incr("list").incr("a")
    with pytest.raises(aiokv.WrongTypeError) as caught:
        await p.execute()
    replies: list[Any] = caught.value.replies  # type: ignore[attr-defined]
    assert replies[0] is True
    assert isinstance(replies[1], aiokv.WrongTypeError)
    assert replies[2] == 2
    assert await kv.get("a") == "2"
    replies = await kv.pipeline().incr("list").get("a").execute(raise_on_error=False)
    assert isinstance(replies[0], aiokv.WrongTypeError)
    assert replies[1] == "2"


async def test_argument_errors_are_raised_by_the_call(kv: AsyncClient) -> None:
    p = kv.pipeline().set("a", "1")
    with pytest.raises(aiokv.InvalidArgumentError):
        p.set("b", "2", ttl=-1)
    with pytest.raises(aiokv.InvalidArgumentError):
        p.lpop("l", -1)
    with pytest.raises(TypeError):
        p.set("c", [1])  # type: ignore[arg-type]
    assert len(p) == 1  # nothing queued for the refused calls
    assert await p.set("d", "4").execute() == [True, True]
    assert sorted(await kv.keys()) == ["a", "d"]


async def test_a_transaction_refused_at_queue_time_applies_nothing(kv: AsyncClient) -> None:
    p = kv.pipeline(transaction=True).set("a", "1").expire("a", float("nan")).incr("n")
    with pytest.raises(aiokv.TransactionAbortedError) as caught:
        await p.execute()
    assert [index for index, _ in caught.value.errors] == [1]
    assert await kv.exists("a", "n") == 0


async def test_an_error_inside_exec_fails_that_command_only(kv: AsyncClient) -> None:
    await kv.sadd("set", "x")
    p = kv.pipeline(transaction=True).incr("n").lpush("set", "y").incr("n")
    replies = await p.execute(raise_on_error=False)
    assert replies[0] == 1
    assert isinstance(replies[1], aiokv.WrongTypeError)
    assert replies[2] == 2
    assert await kv.get("n") == "2"


async def test_async_with_executes_on_a_clean_exit_only(kv: AsyncClient) -> None:
    async with kv.pipeline() as p:
        p.set("a", "1").get("a")
    assert p.replies == [True, "1"]

    async def abandon() -> None:
        async with kv.pipeline() as q:
            q.set("b", "1")
            raise RuntimeError("abandon")

    with pytest.raises(RuntimeError):
        await abandon()
    assert await kv.exists("b") == 0


async def test_a_pipeline_is_reusable_after_execute_and_after_an_abandoned_block(
    kv: AsyncClient,
) -> None:
    p = kv.pipeline()
    p.set("a", "1").incr("n")
    assert len(p) == 2
    assert await p.execute() == [True, 1]
    assert len(p) == 0
    p.incr("n").get("a")
    assert await p.execute() == [2, "1"]

    async def abandon() -> None:
        async with p:
            p.set("b", "1").delete()  # no key: an answer kept in place, not sent
            raise RuntimeError("abandon")

    with pytest.raises(RuntimeError):
        await abandon()
    assert len(p) == 0  # the queue was dropped
    assert await p.incr("n").execute() == [3]
    assert await kv.exists("b") == 0


async def test_commands_of_several_round_trips_are_refused_with_a_prefix(
    make_client: Callable[..., AsyncClient],
) -> None:
    async with make_client(key_prefix="app:") as kv:
        p = kv.pipeline().set("k", "v")
        with pytest.raises(aiokv.InvalidArgumentError, match="pipeline"):
            p.dbsize()
        assert await p.execute() == [True]
        tx = kv.pipeline(transaction=True).set("k", "w").flushdb()
        with pytest.raises(aiokv.TransactionAbortedError):
            await tx.execute()
        assert await kv.pipeline().get("k").execute() == ["v"]  # the prefix applies


async def test_a_pipeline_opens_a_new_client(make_client: Callable[..., AsyncClient]) -> None:
    kv = make_client()
    try:
        assert await kv.pipeline().set("k", "v").get("k").execute() == [True, "v"]
    finally:
        await kv.aclose()
    with pytest.raises(aiokv.ClientClosedError):
        await kv.pipeline().get("k").execute()


async def test_transaction_reads_then_writes(kv: AsyncClient) -> None:
    await kv.set("acct:a", 100)
    await kv.set("acct:b", 0)

    async def transfer(tx: aiokv.Transaction) -> None:
        a = int(await tx.get("acct:a") or 0)
        b = int(await tx.get("acct:b") or 0)
        tx.multi()
        tx.set("acct:a", a - 10)
        tx.set("acct:b", b + 10)

    assert await kv.transaction(transfer, "acct:a", "acct:b") == [True, True]
    assert [await kv.get("acct:a"), await kv.get("acct:b")] == ["90", "10"]


async def test_a_conflicting_write_reruns_the_function(kv: AsyncClient) -> None:
    runs = 0

    async def bump(tx: aiokv.Transaction) -> None:
        nonlocal runs
        runs += 1
        value = int(await tx.get("n") or 0)
        if runs == 1:
            await kv.set("n", 100)  # another writer, between WATCH and EXEC
        tx.multi()
        tx.set("n", value + 1)

    assert await kv.transaction(bump, "n") == [True]
    assert runs == 2
    assert await kv.get("n") == "101"

    async def always_conflicts(tx: aiokv.Transaction) -> None:
        await kv.incr("n")
        tx.multi()
        tx.set("n", 0)

    with pytest.raises(aiokv.TransactionConflictError):
        await kv.transaction(always_conflicts, "n", max_attempts=3)
    assert await kv.get("n") == "104"


async def test_walks_cannot_be_queued(kv: AsyncClient) -> None:
    p = kv.pipeline()
    for walk in (lambda: p.scan_iter(), lambda: p.keys(), lambda: p.hscan_iter("h")):
        with pytest.raises(aiokv.InvalidArgumentError, match="pipeline"):
            walk()
    assert len(p) == 0
