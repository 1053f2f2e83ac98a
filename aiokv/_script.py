"""Script: one atomic step that runs on the server, written once for each driver.

A step such as "delete the lock only if it still holds my token" must not interleave with other
clients' commands. On a Redis server that is a Lua script; the memory driver cannot run Lua, so a
script also carries ``local``, the same step written in Python against the memory driver.

Why ``local`` is atomic: every memory-driver command is an ``async def`` that never suspends
(``scan_iter`` excepted), so awaiting only such commands never yields to the event loop. Nothing
else on the loop, and no cancellation, can run between two of them: the whole step is one
uninterrupted slice of the loop, as a Lua script is one uninterrupted slice of the server.

Rules for ``local``, so that this holds:
  * await only ``driver`` commands, never ``scan_iter``, ``anyio.sleep`` or other I/O;
  * keys arrive with the client's prefix already applied, as ``KEYS`` do in Lua;
  * ``args`` arrive as the caller passed them (ints stay ints), while Lua sees every ``ARGV`` as
    a string; return what the Lua side returns as redis-py parses it: ints, lists of ints, or
    None for Lua's ``false`` (strings would come back as ``bytes`` from Lua, so avoid them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from .drivers.memory import MemoryDriver as Driver

__all__ = ["Script", "ScriptArg"]

ScriptArg: TypeAlias = str | bytes | int
"""An ``ARGV`` value: Lua receives its text."""


@dataclass(frozen=True)
class Script:
    """An atomic step: ``lua`` for a Redis server, ``local`` for the memory driver.

    Attributes:
        lua: The Lua source. The redis driver runs it with EVALSHA, falling back to EVAL the
            first time a server has not seen it (NOSCRIPT). It must touch only ``KEYS``, so
            that it also runs on Redis Cluster when the keys share a slot.
        local: ``async def local(driver, keys, args)``, the same step for the memory driver,
            under the rules in this module's docstring.
    """

    lua: str
    local: Callable[[Driver, Sequence[str], Sequence[ScriptArg]], Awaitable[Any]] = field(
        repr=False
    )
    sha1: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # usedforsecurity=False: the digest names the script for EVALSHA; it is not a secret.
        digest = hashlib.sha1(self.lua.encode(), usedforsecurity=False).hexdigest()
        object.__setattr__(self, "sha1", digest)
