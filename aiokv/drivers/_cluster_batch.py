"""The cluster driver's commands over several nodes: split multi-key commands, commands that
cover every primary, pipelines (grouped by node) and transactions (on the node of their slot).

Functions of the driver (:class:`~aiokv.drivers.cluster.ClusterDriver` calls them), kept apart
from its one-command path. The delivery rules are the driver's: a call that was redirected, or
whose connection failed before anything was written, or a read, is sent again alone; a write
whose connection failed after it was written fails with ``OutcomeUnknownError``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from redis import exceptions as rexc
from redis.asyncio.cluster import ClusterNode

from .._exceptions import (
    InvalidArgumentError,
    KVError,
    OutcomeUnknownError,
    TransactionAbortedError,
)
from ..commands._base import Command
from ._redis_errors import REDIRECTS, translate_error
from ._slots import batch_refusal, key_slot, refuse_in_transaction, slot_of
from .redis import _decode, _WatchFailed, _without_unsendable, _words

if TYPE_CHECKING:
    from .cluster import ClusterDriver, Target

__all__ = [
    "NotSent",
    "decoded",
    "exec_replies",
    "execute_many",
    "items_at",
    "on_every_primary",
    "run_calls",
    "spread",
]


class NotSent(Exception):
    """A connection failed before anything was written: the command did not run."""

    def __init__(self, error: rexc.RedisError) -> None:
        super().__init__(str(error))
        self.error = error


def items_at(items: Sequence[Any], where: list[int]) -> list[Any]:
    """The items at the positions ``where``, in that order."""
    return [items[index] for index in where]


async def spread(
    driver: ClusterDriver, spec: Command, args: tuple[Any, ...], keys: Sequence[str]
) -> Any:
    """Split a multi-key command by slot, run the parts at once, merge their replies."""
    assert spec.merge is not None
    positions: dict[int, list[int]] = {}
    for index, key in enumerate(keys):
        positions.setdefault(key_slot(key), []).append(index)
    items, rest = args[0], args[1:]
    parts = [((items_at(items, where), *rest), slot) for slot, where in positions.items()]
    calls = [(spec, part_args) for part_args, _ in parts]
    replies = await run_calls(driver, calls, [slot for _, slot in parts])
    for reply in replies:
        if isinstance(reply, BaseException):
            raise reply
    return spec.merge(replies, list(positions.values()), len(keys))


async def on_every_primary(driver: ClusterDriver, spec: Command, args: tuple[Any, ...]) -> Any:
    assert spec.merge is not None
    cluster = await driver._ready()
    primaries = cluster.get_primaries()
    replies = await run_calls(driver, [(spec, args)] * len(primaries), list(primaries))
    for reply in replies:
        if isinstance(reply, BaseException):
            raise reply
    return spec.merge(replies, [[] for _ in primaries], 0)


async def run_calls(
    driver: ClusterDriver,
    calls: Sequence[tuple[Command, tuple[Any, ...]]],
    targets: Sequence[Target | None],
) -> list[Any]:
    """Run independent commands, grouped by node: one write per node, nodes in parallel.

    Returns each call's decoded reply or its aiokv error, in order.
    """
    cluster = driver._cluster
    if cluster is None or cluster._initialize or driver._loop is not asyncio.get_running_loop():
        cluster = await driver._ready()
    # Grouped by the node's name: redis-py 5.0's ClusterNode is not hashable.
    groups: dict[str | None, tuple[ClusterNode | None, list[int]]] = {}
    for index, target in enumerate(targets):
        node = driver._node(cluster, target)
        name = None if node is None else node.name
        groups.setdefault(name, (node, []))[1].append(index)
    replies: list[Any] = [None] * len(calls)
    runs = [
        _run_group(driver, node, indexes, calls, targets, replies)
        for node, indexes in groups.values()
    ]
    if len(runs) == 1:
        await runs[0]
    else:
        await asyncio.gather(*runs)
    return replies


async def _run_group(
    driver: ClusterDriver,
    node: ClusterNode | None,
    indexes: list[int],
    calls: Sequence[tuple[Command, tuple[Any, ...]]],
    targets: Sequence[Target | None],
    replies: list[Any],
) -> None:
    """Run the calls at ``indexes`` on ``node``; a call that was redirected, or that may be
    sent again after a failure, is retried alone (:meth:`_on` follows redirections)."""
    retry: list[int] = []
    if node is None or len(indexes) == 1:
        retry = indexes
    else:
        words = [_words(*calls[i]) for i in indexes]
        try:
            answers = await driver._exchange_on(node, words)
        except (NotSent, InvalidArgumentError):
            # Nothing was written (connecting failed, or a command could not be encoded):
            # each is sent alone, and one that cannot be sent fails alone.
            retry = indexes
        except rexc.ConnectionError as exc:
            cluster = driver._cluster
            if cluster is not None:
                driver._stale(cluster, node)
            for i in indexes:
                if calls[i][0].readonly:
                    retry.append(i)
                else:
                    replies[i] = OutcomeUnknownError(
                        f"the connection to {node.name} of {driver._settings.masked_url} "
                        f"failed after the command was sent ({exc}); it may or may not "
                        "have been applied, so it was not sent again"
                    )
        except rexc.RedisError as exc:
            error = translate_error(exc, driver._settings, 1)
            for i in indexes:
                replies[i] = error
        else:
            for i, answer in zip(indexes, answers, strict=True):
                if isinstance(answer, REDIRECTS):
                    retry.append(i)
                else:
                    replies[i] = decoded(driver, calls[i], answer)
    for i in retry:
        spec, args = calls[i]
        try:
            answer = await driver._one(targets[i], _words(spec, args), spec.readonly)
        except KVError as exc:
            replies[i] = exc
        else:
            replies[i] = decoded(driver, calls[i], answer)


def decoded(driver: ClusterDriver, call: tuple[Command, tuple[Any, ...]], answer: Any) -> Any:
    """A reply decoded as its command's, or the aiokv error it stands for."""
    if isinstance(answer, rexc.RedisError):
        return translate_error(answer, driver._settings)
    try:
        return _decode(call[0], call[1], answer)
    except KVError as exc:
        return exc


async def execute_many(
    driver: ClusterDriver, calls: Sequence[tuple[Command, tuple[Any, ...]]], atomic: bool
) -> list[Any]:
    if atomic:
        for spec, _ in calls:
            refuse_in_transaction(spec)
        slot = slot_of((key for spec, args in calls for key in spec.keys(args)), "a transaction")
        try:
            return await _transaction(driver, slot, calls)
        except InvalidArgumentError as exc:  # a command that cannot be sent: it fails alone
            replies = await _without_unsendable(
                exc, calls, lambda rest: _transaction(driver, slot, rest)
            )
        assert replies is not None  # only a watch answers None
        return replies
    # Each call on its own slot; split commands are split, then merged back in place.
    flat: list[tuple[Command, tuple[Any, ...]]] = []
    targets: list[Target | None] = []
    plan: list[Any] = []  # per call: an index into flat, a merge plan, or an error
    cluster = await driver._ready()
    for spec, args in calls:
        keys = spec.keys(args)
        slots = {key_slot(key) for key in keys}
        refused = batch_refusal(spec)
        if refused is not None:
            plan.append(refused)
        elif len(slots) <= 1 and (keys or spec.merge is None):
            plan.append(len(flat))
            flat.append((spec, args))
            targets.append(slots.pop() if slots else None)
        elif spec.merge is None:
            try:
                slot_of(keys, spec.name)
            except KVError as exc:
                plan.append(exc)
        else:
            if keys:
                positions: dict[int, list[int]] = {}
                for index, key in enumerate(keys):
                    positions.setdefault(key_slot(key), []).append(index)
                part_targets: list[Target] = list(positions)
                part_args = [(items_at(args[0], where), *args[1:]) for where in positions.values()]
                where_list = list(positions.values())
            else:
                part_targets = list(cluster.get_primaries())
                part_args = [args] * len(part_targets)
                where_list = [[] for _ in part_targets]
            plan.append((spec, len(flat), len(part_args), where_list, len(keys)))
            flat.extend((spec, a) for a in part_args)
            targets.extend(part_targets)
    answers = await run_calls(driver, flat, targets)
    out: list[Any] = []
    for entry in plan:
        if isinstance(entry, int):
            out.append(answers[entry])
        elif isinstance(entry, BaseException):
            out.append(entry)
        else:
            spec, start, count, where_list, size = entry
            parts = answers[start : start + count]
            failed = next((part for part in parts if isinstance(part, BaseException)), None)
            out.append(failed if failed is not None else spec.merge(parts, where_list, size))
    return out


async def _transaction(
    driver: ClusterDriver, slot: int | None, calls: Sequence[tuple[Command, tuple[Any, ...]]]
) -> list[Any]:
    words = [("MULTI",), *(_words(spec, args) for spec, args in calls), ("EXEC",)]
    replies = await driver._on(slot, words, False)
    return exec_replies(driver, calls, replies)


def exec_replies(
    driver: ClusterDriver, calls: Sequence[tuple[Command, tuple[Any, ...]]], replies: list[Any]
) -> list[Any]:
    """Read MULTI, QUEUED..., EXEC: a command refused while queueing aborts the whole."""
    refused: list[tuple[int, BaseException]] = [
        (i, translate_error(reply, driver._settings))
        for i, reply in enumerate(replies[1:-1])
        if isinstance(reply, rexc.RedisError)
    ]
    result = replies[-1]
    if refused or isinstance(result, rexc.RedisError):
        first = refused[0][1] if refused else translate_error(result, driver._settings)
        raise TransactionAbortedError(
            f"EXECABORT Transaction discarded because of previous errors: {first}", refused
        ) from first
    if result is None:
        raise _WatchFailed()
    return [decoded(driver, call, answer) for call, answer in zip(calls, result, strict=True)]
