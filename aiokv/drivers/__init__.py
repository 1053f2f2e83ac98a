"""Drivers, chosen by ``KVSettings.driver``. Each is imported only when used."""

from __future__ import annotations

from .._protocol import Driver
from .._settings import KVSettings

__all__ = ["create_driver"]


def create_driver(settings: KVSettings) -> Driver:
    """Build the driver that ``settings`` names (not yet opened)."""
    if settings.driver == "memory":
        from .memory import MemoryDriver

        return MemoryDriver(settings)
    from .redis import RedisDriver

    return RedisDriver(settings)
