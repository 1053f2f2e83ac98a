"""The near cache on a cluster: a tracking connection per primary, each miss read on its key's.

The rules of :mod:`._near_cache` hold node by node, with these for the topology:

* **Where a miss is read.** On the tracking connection of the primary serving the key's slot
  (the driver's slot table), opened as that node's pooled connections are (TLS and
  authentication apply), so that node pushes the key's invalidations. An invalidation from any
  node drops its keys.
* **A lost node.** When any node's tracking connection fails, the whole near cache is emptied
  (the simplest rule that is right: which entries that node tracked is not worth recording),
  and nothing of that node's slots is kept until its connection is open again.
* **A moved slot.** A miss answered ``MOVED`` patches the slot table (which empties the cache,
  below) and is read again on the new owner's connection, at most :data:`MAX_MOVES` times;
  past that, and on ``ASK``, ``TRYAGAIN`` or ``CLUSTERDOWN``, the driver's own path reads it
  (following the redirection) and nothing is kept.
* **A new topology.** Each time the driver reloads or patches its slot table, the cache is
  emptied and the tracking connections of nodes that are no longer primaries are closed.

A limit: a slot moved by resharding while this client sends nothing to it is noticed at the
client's next redirection or reconnection. A key read as missing before the move (tracked by
the old owner, which never had it) may be served as missing until then, or until
``near_cache_ttl``. A key that existed moves with ``MIGRATE``, which deletes it on the old
owner and so invalidates it.
"""

from __future__ import annotations

import asyncio

from redis import exceptions as rexc

from .._exceptions import InvalidArgumentError
from ..commands._base import Table
from ._cluster_mux import NodeConnections
from ._near_cache import NearCache
from ._near_tracking import TrackingConnection
from ._slots import key_slot
from .cluster import ClusterDriver

__all__ = ["MAX_MOVES", "ClusterNearCache"]

MAX_MOVES = 3
"""How many ``MOVED`` replies a miss follows on the tracking connections."""


class ClusterNearCache(NearCache):
    """The near cache of a cluster: one tracking connection per primary (see above)."""

    def __init__(self, driver: ClusterDriver, inner: Table) -> None:
        super().__init__(driver._settings, inner)
        self.driver = driver
        driver.on_topology = self.topology_changed

    async def tracker_for(self, key: str) -> TrackingConnection | None:
        driver = self.driver
        cluster = driver._cluster
        loop = driver._loop
        if (
            cluster is None
            or loop is None
            or cluster._initialize
            or loop is not asyncio.get_running_loop()
        ):
            return None  # the driver (re)loads its topology on its own path first
        try:
            node = driver._node(cluster, key_slot(key))
        except InvalidArgumentError:
            return None
        if node is None:  # a slot without a primary (mid-failover)
            return None
        return await self.tracking(node.name, lambda: NodeConnections(node, loop), node.name)

    async def redirected(self, redirect: rexc.RedisError, attempt: int) -> bool:
        cluster = self.driver._cluster
        if not isinstance(redirect, rexc.MovedError) or cluster is None or attempt > MAX_MOVES:
            return False
        await self.driver._follow(cluster, redirect, attempt)  # patches the table, then flushes
        return True

    def topology_changed(self) -> None:
        """Empty the cache; close the tracking connections of nodes no longer primaries."""
        cluster = self.driver._cluster
        if cluster is not None:
            primaries = {node.name for node in cluster.get_primaries()}
            for name, tracker in list(self.trackers.items()):
                if name not in primaries:
                    tracker.close()
        self.flush(counted=bool(self.held or self.filling))
