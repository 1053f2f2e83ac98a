"""Drivers, chosen by ``KVSettings.driver``. Each is imported only when used."""

from __future__ import annotations

from .._protocol import Driver
from .._settings import KVSettings

__all__ = ["create_driver"]


def create_driver(settings: KVSettings) -> Driver:
    """Build the driver that ``settings`` names (not yet opened)."""
    if settings.driver == "memory":
        if settings.memory_cluster_slots:
            from ._memory.slots import SlotCheckingMemoryDriver

            return SlotCheckingMemoryDriver(settings)
        from .memory import MemoryDriver

        return MemoryDriver(settings)
    if settings.driver == "cluster":
        from .cluster import ClusterDriver

        return ClusterDriver(settings)
    from .redis import RedisDriver

    return RedisDriver(settings)
