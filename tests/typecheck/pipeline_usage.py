"""Checked by mypy (nox -s typecheck): a pipeline's command methods chain and keep their
arguments' types; a transaction's commands are awaitable before multi()."""

from __future__ import annotations

from typing import Any

from typing_extensions import assert_type

from aiokv import AsyncClient, Pipeline, Transaction


async def chained(kv: AsyncClient) -> list[Any]:
    p = kv.pipeline()
    assert_type(p.set("a", 1).incr("n").get("a"), Pipeline)
    assert_type(p.lpop("l", 2), Pipeline)
    return await p.execute()


async def transfer(tx: Transaction) -> None:
    balance = await tx.get("acct:a")
    assert_type(balance, str | None)
    tx.multi()
    tx.set("acct:a", int(balance or 0) - 10)


async def run(kv: AsyncClient) -> list[Any]:
    async with kv.pipeline(transaction=True) as p:
        p.set("x", "1")
    return await kv.transaction(transfer, "acct:a")
