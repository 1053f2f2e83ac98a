"""Two Sentinel failovers in a row under load (slow).

200 tasks each increment their own key while the master is killed with SIGKILL, twice (the
second time the new master, so the client must follow both switches). Every call either
succeeds or raises an aiokv error, none takes longer than the budget below, replies are never
another command's, the client answers again after each failover, and the run reports how many
acknowledged increments were lost (Redis replication is asynchronous: a write acknowledged by
a master that dies before its replica copied it is gone).
"""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass, field

import pytest
from servers import SENTINEL_SERVICE, SentinelGroup, ServerBinary

from aiokv import AsyncClient, KVError

pytestmark = pytest.mark.slow

TASKS = 200
# Per call: (retry_attempts + 1) connects of connect_timeout, each after asking up to three
# sentinels (connect_timeout + socket_timeout each), plus socket_timeout for the reply and the
# backoff sleeps: 4 * (1 + 3 * 3) + 2 + 4 * 0.5 = 44 s at worst; a call past it has hung.
BUDGET = 45.0


@dataclass
class Tally:
    acked: list[int] = field(default_factory=lambda: [0] * TASKS)
    sent: list[int] = field(default_factory=lambda: [0] * TASKS)
    successes: int = 0
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    wrong: list[str] = field(default_factory=list)
    hung: int = 0


async def hammer(kv: AsyncClient, index: int, tally: Tally, stop: asyncio.Event) -> None:
    key = f"fo:{index}"
    while not stop.is_set():
        tally.sent[index] += 1
        try:
            async with asyncio.timeout(BUDGET):
                reply = await kv.incr(key)
        except TimeoutError:
            tally.hung += 1
        except KVError as exc:
            tally.errors[type(exc).__name__] += 1
        else:
            # A reply for another key or command could not fall in 1..sent (keys differ in
            # how many increments they were sent); a lost write makes a reply smaller, not
            # larger.
            if not isinstance(reply, int) or not 1 <= reply <= tally.sent[index]:
                tally.wrong.append(f"{key}: {reply!r} after {tally.sent[index]} sent")
            tally.acked[index] = reply
            tally.successes += 1
        await asyncio.sleep(0.01)


async def answers_again(tally: Tally, more: int = TASKS, within: float = 60.0) -> None:
    start = tally.successes
    async with asyncio.timeout(within):
        while tally.successes < start + more:  # noqa: ASYNC110 (a counter, bumped by many tasks)
            await asyncio.sleep(0.05)


async def test_two_failovers_in_a_row_under_load(server_binary: ServerBinary) -> None:
    with SentinelGroup(server_binary) as group:
        where = ",".join(group.sentinel_addresses)
        tally = Tally()
        stop = asyncio.Event()
        async with AsyncClient.from_url(
            f"redis+sentinel://{where}/{SENTINEL_SERVICE}/0",
            socket_timeout=2.0,
            connect_timeout=1.0,
            retry_attempts=3,
            retry_backoff_base=0.1,
            retry_backoff_cap=0.5,
        ) as kv:
            tasks = [asyncio.create_task(hammer(kv, i, tally, stop)) for i in range(TASKS)]
            try:
                await answers_again(tally)
                first = group.master()
                for round_ in (1, 2):
                    old = await asyncio.to_thread(group.kill_master)
                    new = await asyncio.to_thread(group.wait_for_new_master, old)
                    await answers_again(tally)  # the client follows the switch
                    if round_ == 1:
                        await asyncio.to_thread(group.restart_as_replica, old)
                        await asyncio.to_thread(group.wait_until_ready)
                assert new is first  # the second failover went back to the first server
            finally:
                stop.set()
                await asyncio.gather(*tasks)
        master = group.master()
        final = [master.command("GET", f"fo:{i}") for i in range(TASKS)]
        lost = sum(
            max(0, acked - int(value or 0))  # type: ignore[arg-type]
            for acked, value in zip(tally.acked, final, strict=True)
        )
        print(
            f"\nSentinel, two failovers: {tally.successes} increments acknowledged, "
            f"{sum(tally.errors.values())} raised {dict(tally.errors)}, "
            f"{lost} acknowledged increments lost, {tally.hung} calls past {BUDGET}s"
        )
        assert tally.wrong == []
        assert tally.hung == 0
        assert set(tally.errors) <= {"KVConnectionError", "OutcomeUnknownError", "KVTimeoutError"}
