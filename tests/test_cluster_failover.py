"""Failover (slow): a cluster primary is killed with SIGKILL under load.

200 tasks each ``incr`` their own key in a loop while one primary is SIGKILLed and its replica
takes over. Checked: every call either answers an int that counts on from the key's previous
answer, or raises an aiokv error (``KVError``); no call outlives the budget below; after the
failover every key answers again. Reported (``-s`` prints it): how many acknowledged increments
were lost. Redis replicates asynchronously, so increments a primary acknowledged but had not yet
sent to its replica when it died are gone after the takeover: the window is the replication lag,
a few milliseconds here.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from servers import RedisCluster, ServerBinary

from aiokv import AsyncClient, KVError

pytestmark = pytest.mark.slow

TASKS = 200
# Per call: socket_timeout + retry_attempts x (connect_timeout + backoff cap) + the waits on
# CLUSTERDOWN/TRYAGAIN redirections (under 6 s in all), with room to spare on a busy machine.
BUDGET = 20.0


async def test_incr_load_survives_a_primary_killed(server_binary: ServerBinary) -> None:
    with RedisCluster(server_binary, node_timeout_ms=1000) as cluster:
        async with AsyncClient(
            url=cluster.url,
            socket_timeout=2,
            connect_timeout=1,
            retry_attempts=3,
            retry_backoff_cap=0.5,
        ) as kv:
            await kv.flushdb()
            keys = [f"failover:{n}" for n in range(TASKS)]
            acked = dict.fromkeys(keys, 0)  # the highest value each key's INCR answered
            errors: Counter[str] = Counter()
            wrong: list[str] = []
            stop = asyncio.Event()

            async def worker(key: str) -> None:
                while not stop.is_set():
                    try:
                        value = await asyncio.wait_for(kv.incr(key), BUDGET)
                    except TimeoutError:
                        wrong.append(f"{key}: a call hung past {BUDGET}s")
                        return
                    except KVError as exc:
                        errors[type(exc).__name__] += 1
                        await asyncio.sleep(0.05)
                        continue
                    except Exception as exc:  # not an aiokv error: a defect
                        wrong.append(f"{key}: {exc!r}")
                        return
                    if not isinstance(value, int) or value < 1:
                        wrong.append(f"{key}: wrong reply {value!r}")
                        return
                    acked[key] = max(acked[key], value)

            workers = [asyncio.ensure_future(worker(key)) for key in keys]
            await asyncio.sleep(1.0)
            victim = cluster.primary_of(keys[0])
            before = sum(acked.values())
            await asyncio.to_thread(cluster.kill_and_wait_for_failover, victim)
            after_failover = sum(acked.values())
            await asyncio.sleep(2.0)  # the client keeps answering after the takeover
            stop.set()
            await asyncio.gather(*workers)
            assert not wrong, wrong[:5]
            assert sum(acked.values()) > after_failover, "no increment succeeded after failover"

            lost = 0
            for key in keys:
                stored = int(await kv.get(key) or 0)
                lost += max(0, acked[key] - stored)
            print(
                f"\nfailover: {before} increments acknowledged before the kill, "
                f"{sum(acked.values())} in all; errors by class: {dict(errors)}; "
                f"acknowledged increments lost: {lost}"
            )
