"""The memory driver with cluster slot checks (``memory_cluster_slots=True``).

A Redis Cluster runs an atomic operation on one node, so it refuses one whose keys hash to
several slots (``CROSSSLOT``). This driver refuses the same operations with the same
:class:`~aiokv.CrossSlotError`, so code tested on a laptop meets the error there, not first in
production:

* a multi-key command that is atomic on a cluster (``sinterstore``, ``smove``, ``lmove``...);
  the commands a cluster client splits by slot (``delete``, ``exists``, ``mget``, ``mset``...:
  ``Command.merge`` is set) are allowed, as the cluster driver allows them;
* a transaction (``pipeline(transaction=True)``, ``transaction()``): its watched and queued
  keys must share one slot, and it cannot hold a command that covers every primary (DBSIZE,
  FLUSHDB, SCAN, RANDOMKEY: ``InvalidArgumentError``); in a plain pipeline each command is
  checked alone;
* a script: its keys must share one slot.

Everything else behaves exactly as the plain memory driver.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ..._pipeline import WatchSession
from ..._script import Script, ScriptArg
from ..._settings import KVSettings
from ...commands._base import FIRST_KEY, NO_KEYS, Command
from .._slots import cross_slot_error, key_slot, refuse_in_transaction, slot_of
from ..memory import MemoryDriver, MemoryWatch

__all__ = ["SlotCheckingMemoryDriver"]


def _checked(
    spec: Command, handler: Callable[..., Awaitable[Any]]
) -> Callable[..., Awaitable[Any]]:
    keys_of = spec.keys
    name = spec.name

    def run(*args: Any) -> Awaitable[Any]:
        # Not a coroutine itself: the check raises when the command is called, and the
        # handler's coroutine is handed back as it is.
        slot_of(keys_of(args), name)
        return handler(*args)

    return run


class SlotCheckingMemoryDriver(MemoryDriver):
    """The memory driver refusing cross-slot atomic operations, as a cluster does."""

    def __init__(self, settings: KVSettings) -> None:
        super().__init__(settings)
        for spec, handler in list(self.table.items()):
            if spec.merge is None and spec.keys not in (FIRST_KEY, NO_KEYS):
                self.table[spec] = _checked(spec, handler)
        self._handlers = dict(self.table)

    async def execute_many(
        self, calls: Sequence[tuple[Command, tuple[Any, ...]]], atomic: bool
    ) -> list[Any]:
        if atomic:
            for spec, _ in calls:
                refuse_in_transaction(spec)
            slot_of(_keys_of(calls), "a transaction")
        return await super().execute_many(calls, atomic)

    async def watch(self, keys: Sequence[str]) -> WatchSession:
        slot = slot_of(keys, "a transaction (WATCH)")
        return SlotCheckingWatch(self, self.start_watch(keys), keys, slot)

    async def run_script(
        self, script: Script, keys: Sequence[str], args: Sequence[ScriptArg]
    ) -> Any:
        slot_of(keys, "a script")
        return await super().run_script(script, keys, args)


def _keys_of(calls: Sequence[tuple[Command, tuple[Any, ...]]]) -> list[str]:
    return [key for spec, args in calls for key in spec.keys(args)]


class SlotCheckingWatch(MemoryWatch):
    """A watch whose commands and queued transaction must stay on the watched keys' slot."""

    def __init__(
        self, driver: MemoryDriver, watch: Any, keys: Sequence[str], slot: int | None
    ) -> None:
        super().__init__(driver, watch)
        self._first = keys[0] if keys else ""
        self._slot = slot
        self.table = _WatchTable(self, driver.table)

    def check(self, keys: Sequence[str]) -> None:
        """Raise CrossSlotError for a key outside the watched slot."""
        for key in keys:
            slot = key_slot(key)
            if self._slot is None:
                self._slot, self._first = slot, key
            elif slot != self._slot:
                raise cross_slot_error(
                    "a transaction (keys of one slot, the watched keys')",
                    ((self._first, self._slot), (key, slot)),
                )

    async def exec(self, calls: Sequence[tuple[Command, tuple[Any, ...]]]) -> list[Any] | None:
        for spec, _ in calls:
            refuse_in_transaction(spec)
        self.check(_keys_of(calls))
        return await super().exec(calls)


class _WatchTable(dict[Command, Callable[..., Awaitable[Any]]]):
    """The driver's table, with each command's keys checked against the watched slot."""

    def __init__(
        self, session: SlotCheckingWatch, table: dict[Command, Callable[..., Awaitable[Any]]]
    ) -> None:
        super().__init__()
        self._session = session
        self._table = table

    def __missing__(self, spec: Command) -> Callable[..., Awaitable[Any]]:
        session, table, keys_of = self._session, self._table, spec.keys

        def run(*args: Any) -> Awaitable[Any]:
            refuse_in_transaction(spec)
            session.check(keys_of(args))
            return table[spec](*args)

        self[spec] = run
        return run
