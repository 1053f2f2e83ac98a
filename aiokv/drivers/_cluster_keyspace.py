"""SCAN steps and RANDOMKEY on a cluster: commands that must see every primary's keys.

A step of ``kv.scan(cursor)`` walks one primary at a time, in the order of the first slot each
serves, and the cursor carries both: ``node_cursor << 14 | first_slot`` (a step that ends a
primary's walk with no key goes on to the next primary). The primary is found
again from the slot at each step, so a walk follows a failover (the promoted replica serves the
same slots and continues the walk; its keys may then be returned twice, as SCAN allows). A
walk that meets a resharding may miss keys moved meanwhile. Cursor 0 starts and ends a walk.

``randomkey`` asks the primaries in random order and returns the first key one gives.

Both need several round trips to answer, so a pipeline or a transaction cannot queue them on
a cluster (``InvalidArgumentError``), as with a ``key_prefix`` on any driver.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from redis import exceptions as rexc
from redis.asyncio.cluster import ClusterNode

from .._exceptions import KVError
from ..commands._base import Command
from ..commands.keys import RANDOMKEY, SCAN
from ._redis_errors import translate_error

if TYPE_CHECKING:
    from redis.asyncio.cluster import RedisCluster

    from .cluster import ClusterDriver

__all__ = ["SPREAD"]

_SLOT_BITS = 14
_SLOT_MASK = (1 << _SLOT_BITS) - 1
_CURSOR_LIMIT = 1 << (64 - _SLOT_BITS)


def _first_slots(cluster: RedisCluster) -> list[int]:
    """The first slot that each primary serves, in order."""
    seen: set[str] = set()
    firsts: list[int] = []
    for slot, nodes in sorted(cluster.nodes_manager.slots_cache.items()):
        if nodes and nodes[0].name not in seen:
            seen.add(nodes[0].name)
            firsts.append(slot)
    return firsts


async def _scan(
    driver: ClusterDriver, cursor: int, match: str | None, count: int | None, type_: str | None
) -> tuple[int, list[str]]:
    cluster = await driver._ready()
    firsts = _first_slots(cluster)
    if not firsts:
        return 0, []
    slot, node_cursor = cursor & _SLOT_MASK, cursor >> _SLOT_BITS
    if cursor == 0:
        slot = firsts[0]
    while True:
        args = (node_cursor, match, count, type_)
        reply = await driver._one(slot, SCAN.encode(*args), True)  # type: ignore[misc]
        if isinstance(reply, rexc.RedisError):
            raise translate_error(reply, driver._settings) from reply
        following, keys = SCAN.decode(reply)  # type: ignore[misc]
        if following:
            if following >= _CURSOR_LIMIT:
                raise KVError(
                    f"a node's SCAN cursor {following} leaves no room for the slot a cluster "
                    "walk keeps in the cursor; use kv.scan_iter() instead"
                )
            return following << _SLOT_BITS | slot, keys
        later = [first for first in firsts if first > slot]
        if keys or not later:
            return (later[0] if later else 0), keys
        # That node is done and gave nothing: go on to the next in this step, so that an
        # empty cluster answers (0, []) at once, as a server does.
        slot, node_cursor = later[0], 0


async def _randomkey(driver: ClusterDriver) -> str | None:
    cluster = await driver._ready()
    primaries: list[ClusterNode] = list(cluster.get_primaries())
    random.shuffle(primaries)
    for node in primaries:
        reply = await driver._one(node, ("RANDOMKEY",), True)
        if isinstance(reply, rexc.RedisError):
            raise translate_error(reply, driver._settings) from reply
        if reply is not None:
            return RANDOMKEY.decode(reply)  # type: ignore[misc,no-any-return]
    return None


SPREAD: dict[Command, Callable[..., Awaitable[Any]]] = {SCAN: _scan, RANDOMKEY: _randomkey}
"""The cluster driver's own runs of the specs that cover every primary: ``run(driver, *args)``."""
