"""The state every command family's methods share (the client's, or a pipeline's)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Coroutine
from typing import Any

from .._codec import normalize_key
from ._base import Command, Table, constant

__all__ = ["Facade"]


class Facade:
    """What the command mixins need: the command table and the key prefix.

    ``_run`` maps each :class:`~aiokv.commands._base.Command` to what runs it (see ``_base``).
    """

    _run: Table
    _prefix: str
    _glob_prefix: str
    _default_px: int | None

    def _key(self, key: str) -> str:
        """``key`` under the client's prefix, spelled as a server stores it."""
        full = self._prefix + key
        return full if full.isascii() else normalize_key(full)

    def _constant(self, value: Any) -> Awaitable[Any]:
        """The reply of a call that needs no round trip (``delete()`` of no keys)."""
        return constant(value)

    def _several_round_trips(self, steps: Coroutine[Any, Any, Any]) -> Awaitable[Any]:
        """A call that takes several round trips (``dbsize`` with a key prefix)."""
        return steps

    def _keys(self, keys: tuple[str, ...]) -> list[str]:
        prefix = self._prefix
        out = [prefix + k for k in keys]
        for i, full in enumerate(out):
            if not full.isascii():
                out[i] = normalize_key(full)
        return out

    async def _scan_items(
        self, spec: Command, key: str, match: str, count: int
    ) -> AsyncIterator[Any]:
        """Walk a container with HSCAN/SSCAN/ZSCAN (``spec``) from cursor 0 until it ends.

        The cursor is opaque: the server's number, or the memory driver's snapshot handle.
        """
        full_key = self._key(key)
        cursor: Any = 0
        while True:
            cursor, items = await self._run[spec](full_key, cursor, match, count)
            for item in items:
                yield item
            if cursor == 0:
                return
