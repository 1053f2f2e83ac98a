"""The memory driver's waiting room: tasks blocked in BLPOP, BRPOP, BLMOVE, BZPOPMIN and
BZPOPMAX.

Each key has a queue of the waiters blocked on it, in the order they blocked. A command that
creates a list (LPUSH, RPUSH, LMOVE, BLMOVE, ...) or a sorted set (ZADD, ZINCRBY, ZUNIONSTORE,
...), or moves one to a key (RENAME, COPY), calls :meth:`WaitingRoom._pushed` once it has
pushed, and the waiters of that key are served at once, first blocked first served: each gets
one element, handed to it in that same step of the event loop, until the key is empty. A
waiter for the other type (a BZPOPMIN waiter when a list is pushed) is passed over and waits
on, as on a server. So a
push wakes exactly the waiters it can serve, and nobody else can take an element in between,
which is what a server does (it serves blocked clients right after the command that pushed).
In a batch or a script, serving waits until the batch ends, as a server's waits for EXEC.

A waiter sleeps on an ``anyio.Event``: no polling, on asyncio and trio alike. If it is
cancelled before it was served it takes nothing; if it is cancelled after an element was
handed to it but before it could return, it puts the element back where it came from (a
sorted set's member with its score, unless the member is there again), and that may serve
the next waiter.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import anyio

from ..._exceptions import ClientClosedError, KVError, WrongTypeError
from .sortedset import SortedSet, member_of, sort_key
from .store import Store

__all__ = ["Waiter", "WaitingRoom"]

_T = TypeVar("_T")


class Waiter:
    """One blocked pop: where it takes from and, for BLMOVE, where the element goes.

    ``left`` is the head of a list, or the lowest score of a sorted set (``zset``).
    """

    __slots__ = ("destination", "error", "event", "keys", "left", "reply", "to_left", "zset")

    def __init__(
        self,
        keys: Sequence[str],
        left: bool,
        destination: str | None,
        to_left: bool,
        zset: bool = False,
    ) -> None:
        self.keys = list(dict.fromkeys(keys))
        self.left = left
        self.destination = destination
        self.to_left = to_left
        self.zset = zset
        self.event = anyio.Event()
        # (key, element), or (key, member, score) for a sorted set, once served
        self.reply: tuple[Any, ...] | None = None
        self.error: KVError | None = None


class WaitingRoom(Store):
    """Blocked waiters by key, and the serving of them when a list is pushed to."""

    _in_batch: bool = False
    """True while a batch or a script runs: blocking pops answer at once, serving waits."""

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__(clock)
        self._blocked: dict[str, deque[Waiter]] = {}
        self._ready: dict[str, None] = {}

    def _pushed(self, key: str, reply: _T) -> _T:
        """Serve the waiters on ``key``, which was just pushed to; return ``reply``."""
        if key in self._blocked:
            if self._in_batch:
                self._ready[key] = None
            else:
                self._serve([key])
        return reply

    def _serve_ready(self) -> None:
        """Serve the keys pushed to during a batch or a script (called when it ends)."""
        ready = list(self._ready)
        self._ready.clear()
        self._serve(ready)

    def _serve(self, ready: list[str]) -> None:
        blocked = self._blocked
        while ready:
            key = ready.pop(0)
            waiters = blocked.get(key)
            if not waiters:
                continue
            for waiter in list(waiters):  # first blocked first; the served leave the queue
                value = self._lookup(key)
                kind = type(value)
                if kind is SortedSet:
                    if waiter.zset:
                        self._leave(waiter)
                        waiter.reply = self._pop_member(key, value, waiter.left)
                        waiter.event.set()
                    continue
                if kind is not deque:
                    break  # emptied, or replaced by another type: the rest wait on
                if waiter.zset:
                    continue
                if waiter.destination is not None:
                    target = self._lookup(waiter.destination)
                    if target is not None and type(target) is not deque:
                        # As a server does: the client gets WRONGTYPE, nothing moves.
                        self._leave(waiter)
                        waiter.error = WrongTypeError()
                        waiter.event.set()
                        continue
                self._leave(waiter)
                element = value.popleft() if waiter.left else value.pop()
                self._after_pop(key, value)
                if waiter.destination is not None:
                    self._push_one(waiter.destination, element, waiter.to_left)
                    if waiter.destination in blocked:
                        ready.append(waiter.destination)
                waiter.reply = (key, element)
                waiter.event.set()

    def _pop_member(self, key: str, zset: SortedSet, lowest: bool) -> tuple[str, str, float]:
        """Take the member of lowest (or highest) score out of the non-empty ``zset``."""
        size = len(zset)
        ((score, name),) = zset.remove_range(0, 1) if lowest else zset.remove_range(size - 1, size)
        self._after_pop(key, zset)
        return key, member_of(name), score

    def _after_pop(self, key: str, items: deque[str] | SortedSet) -> None:
        if not items:
            self._remove(key)
        else:
            self._touch(key)
            if self._watches:
                self.changed(key)

    def _push_one(self, key: str, element: str, left: bool) -> None:
        items: deque[str] | None = self._lookup(key)
        if items is None:
            items = deque()
            self._create(key, items)
        else:
            self._touch(key)
        if left:
            items.appendleft(element)
        else:
            items.append(element)
        if self._watches:
            self.changed(key)

    def _close_waiting(self) -> None:
        """The client is closing: every blocked pop raises ClientClosedError, as on a server."""
        waiters = {id(w): w for queue in self._blocked.values() for w in queue}
        self._blocked.clear()
        for waiter in waiters.values():
            waiter.error = ClientClosedError()
            waiter.event.set()

    def _leave(self, waiter: Waiter) -> None:
        """Take ``waiter`` out of the queue of every key it waits on."""
        blocked = self._blocked
        for key in waiter.keys:
            waiters = blocked.get(key)
            if waiters is None:
                continue
            if waiter in waiters:
                waiters.remove(waiter)
            if not waiters:
                del blocked[key]

    async def _wait(self, waiter: Waiter, seconds: float) -> tuple[Any, ...] | None:
        """Block until ``waiter`` is served or ``seconds`` pass (0: for ever).

        Returns:
            ``(key, element)`` (``(key, member, score)`` for a sorted set), or None on timeout.

        Raises:
            WrongTypeError: if a BLMOVE's destination held another type when it was served.
            ClientClosedError: if the client was closed meanwhile.
        """
        for key in waiter.keys:
            waiters = self._blocked.get(key)
            if waiters is None:
                self._blocked[key] = deque((waiter,))
            else:
                waiters.append(waiter)
        try:
            with anyio.move_on_after(seconds if seconds > 0 else None):
                await waiter.event.wait()
        except BaseException:
            if waiter.reply is not None:
                self._give_back(waiter)
            else:
                self._leave(waiter)
            raise
        if waiter.error is not None:
            raise waiter.error
        if waiter.reply is None:
            self._leave(waiter)
        return waiter.reply

    def _give_back(self, waiter: Waiter) -> None:
        """Undo the serving of a waiter that was cancelled before it could return."""
        assert waiter.reply is not None
        if waiter.zset:
            self._give_back_member(*waiter.reply)
            return
        key, element = waiter.reply
        if waiter.destination is not None:
            target = self._lookup(waiter.destination)
            if type(target) is not deque or not self._take_back(target, element, waiter):
                return  # someone took it from the destination meanwhile: it is theirs now
            self._after_pop(waiter.destination, target)
        source = self._lookup(key)
        if source is not None and type(source) is not deque:
            return  # the key now holds another type: nowhere to put it back
        self._push_one(key, element, waiter.left)
        self._pushed(key, None)

    def _give_back_member(self, key: str, member: str, score: float) -> None:
        zset = self._lookup(key)
        if zset is None:
            zset = SortedSet()
            self._create(key, zset)
        elif type(zset) is not SortedSet:
            return  # the key now holds another type: nowhere to put it back
        else:
            self._touch(key)
        name = sort_key(member)
        if name in zset.scores:
            return  # added again meanwhile: that score stands
        zset.set(name, score)
        if self._watches:
            self.changed(key)
        self._pushed(key, None)

    @staticmethod
    def _take_back(target: deque[str], element: str, waiter: Waiter) -> bool:
        """Remove ``element`` from the end of ``target`` it was pushed to (nearest first)."""
        indexes = range(len(target)) if waiter.to_left else range(len(target) - 1, -1, -1)
        for i in indexes:
            if target[i] == element:
                del target[i]
                return True
        return False
