"""Set commands."""

from __future__ import annotations

import builtins
from collections.abc import Awaitable

from .._codec import Value, encode_value
from ._base import Command, command, text_set
from ._facade import Facade
from .lists import values

__all__ = ["SetCommands"]

SADD = Command("SADD", encode=lambda key, items: ("SADD", key, *items))
SREM = Command("SREM", encode=lambda key, items: ("SREM", key, *items))
SMEMBERS = Command("SMEMBERS", readonly=True, decode=text_set)
SISMEMBER = Command("SISMEMBER", readonly=True, decode=bool)
SCARD = Command("SCARD", readonly=True)


class SetCommands(Facade):
    @command
    def sadd(self, key: str, *members: Value) -> Awaitable[int]:
        """Add members; return how many were new."""
        return self._run[SADD](self._key(key), values(members, "sadd"))

    @command
    def srem(self, key: str, *members: Value) -> Awaitable[int]:
        """Remove members; return how many were there. The set vanishes with its last member."""
        return self._run[SREM](self._key(key), values(members, "srem"))

    @command
    def smembers(self, key: str) -> Awaitable[builtins.set[str]]:
        """All members; an empty set for a missing key."""
        return self._run[SMEMBERS](self._key(key))

    @command
    def sismember(self, key: str, member: Value) -> Awaitable[bool]:
        """True if ``member`` is in the set at ``key``."""
        return self._run[SISMEMBER](self._key(key), encode_value(member))

    @command
    def scard(self, key: str) -> Awaitable[int]:
        """Number of members; 0 for a missing key."""
        return self._run[SCARD](self._key(key))
