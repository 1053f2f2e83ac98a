"""Auto-pipelining on a cluster: one :class:`~._redis_mux.Mux` per node.

The commands that concurrent tasks send to one node in the same event-loop step go out in one
write on that node's shared connections; commands for other nodes go out on theirs. Each node's
connections are made as its own pool makes them (TLS, authentication and every option apply),
and each lane fails exactly the commands it carried when its node dies.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Container

from redis.asyncio.cluster import ClusterNode
from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from .._settings import KVSettings
from ._redis_mux import Mux
from ._redis_pool import running_loop

__all__ = ["NodeMuxes", "close_at_loop_shutdown"]


class NodeConnections:
    """New connections to one node, for its :class:`Mux` (see :class:`~._redis_mux.Connections`)."""

    def __init__(self, node: ClusterNode, loop: asyncio.AbstractEventLoop) -> None:
        self.node = node
        self.loop = loop

    def make_connection(self) -> Connection:
        # No retries inside redis-py, as in the node's own pool: the driver decides.
        options = {**self.node.connection_kwargs, "retry": Retry(NoBackoff(), 0)}
        return self.node.connection_class(**options)


class NodeMuxes(dict[str, Mux]):
    """The multiplexed connections of every node (by ``host:port``) on one event loop."""

    def __init__(self, settings: KVSettings, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.loop = loop
        self._size = settings.multiplexed_connections
        self._timeout = settings.socket_timeout

    def of(self, node: ClusterNode) -> Mux:
        """The mux of ``node``, made (unconnected) on first use."""
        mux = self.get(node.name)
        if mux is None:
            connections = NodeConnections(node, self.loop)
            mux = self[node.name] = Mux(connections, self._size, self._timeout, node.name)
        return mux

    def prune(self, live: Container[str]) -> None:
        """Close the idle muxes of nodes the topology no longer names (busy ones stay: their
        commands' replies are still due, and a closed lane would fail them)."""
        for name, mux in list(self.items()):
            if name not in live and not any(lane.waiting or lane.queued for lane in mux.lanes):
                del self[name]
                mux.close()

    def close(self, shut_down: bool = False) -> None:
        """Fail every command in flight with ClientClosedError and close every connection."""
        muxes = list(self.values())
        self.clear()
        for mux in muxes:
            mux.close(shut_down)


async def close_at_loop_shutdown(muxes: NodeMuxes) -> AsyncGenerator[None, None]:
    """Close ``muxes`` when the client is closed, or when their loop shuts down first.

    As :func:`~._redis_pool.close_at_loop_shutdown` does for a standalone pool: asyncio closes
    every suspended async generator before it closes the loop, which lets the sockets be
    closed in their own loop. It refers to the muxes only, not to the driver.
    """
    try:
        yield
    finally:
        if running_loop() is muxes.loop:
            muxes.close(shut_down=True)
