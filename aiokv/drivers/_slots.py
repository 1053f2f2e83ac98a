"""Redis Cluster hash slots: which slot a key is in, and the error for keys of several slots.

A cluster splits the keyspace into 16,384 slots, ``CRC16(key) mod 16384`` (CRC-16/XMODEM, which
``binascii.crc_hqx`` computes in C). Only a key's hash tag is hashed when it has one: the text
between its first ``{`` and the first ``}`` after it, if that text is not empty. So
``{user:1}:cart`` and ``{user:1}:orders`` share a slot, which is how an application keeps the
keys of one atomic operation together.

Used by the cluster driver (routing) and by the memory driver's slot checks.
"""

from __future__ import annotations

from binascii import crc_hqx
from collections.abc import Iterable, Sequence

from .._exceptions import CrossSlotError, InvalidArgumentError
from ..commands._base import NO_KEYS, Command
from ..commands.keys import RANDOMKEY, SCAN

__all__ = [
    "SLOTS",
    "batch_refusal",
    "cross_slot_error",
    "key_slot",
    "refuse_in_transaction",
    "slot_of",
]

SLOTS = 16384


def key_slot(key: str | bytes) -> int:
    """The hash slot of ``key`` (a str is hashed as the UTF-8 bytes a server stores).

    Raises:
        InvalidArgumentError: for a str no server can store (a lone surrogate).
    """
    try:
        raw = key.encode("utf-8", "surrogateescape") if isinstance(key, str) else key
    except UnicodeEncodeError as exc:
        raise InvalidArgumentError(f"cannot send this argument: {exc}") from None
    start = raw.find(b"{")
    if start != -1:
        end = raw.find(b"}", start + 1)
        if end > start + 1:
            raw = raw[start + 1 : end]
    return crc_hqx(raw, 0) % SLOTS


def slot_of(keys: Iterable[str], what: str) -> int | None:
    """The one slot all ``keys`` share; None if there is no key.

    Raises:
        CrossSlotError: if the keys lie in several slots.
    """
    slot: int | None = None
    first = ""
    for key in keys:
        here = key_slot(key)
        if slot is None:
            slot, first = here, key
        elif here != slot:
            raise cross_slot_error(what, ((first, slot), (key, here)))
    return slot


def cross_slot_error(what: str, examples: Sequence[tuple[str, int]]) -> CrossSlotError:
    """The error for ``what`` (a command, "a transaction", "a script") meeting several slots.

    ``examples`` are two ``(key, slot)`` pairs that differ.
    """
    shown = ", ".join(f"{key!r} is in slot {slot}" for key, slot in examples[:2])
    return CrossSlotError(
        f"CROSSSLOT Keys in request don't hash to the same slot ({what}: {shown}). A cluster "
        "runs an atomic operation on one slot only: give its keys a common hash tag, the part "
        "in braces that alone is hashed, as in '{user:1}:cart' and '{user:1}:orders'"
    )


def batch_refusal(spec: Command) -> InvalidArgumentError | None:
    """The error for SCAN and RANDOMKEY, which a batch cannot run on a cluster; else None.

    Both ask every primary in turn (several round trips), so neither a pipeline nor a
    transaction can queue them there.
    """
    if spec is not SCAN and spec is not RANDOMKEY:
        return None
    return InvalidArgumentError(
        f"{spec.name} asks every primary of a cluster in turn, which a pipeline or a "
        f"transaction cannot queue: call kv.{spec.name.lower()}() on its own"
    )


def refuse_in_transaction(spec: Command) -> None:
    """Raise InvalidArgumentError for a command a cluster transaction cannot run.

    A transaction (and a WATCH session) runs on the one node that serves its slot, so besides
    SCAN and RANDOMKEY (:func:`batch_refusal`) it cannot run a command that covers every
    primary (DBSIZE, FLUSHDB): on one node it would count or empty a part of the keyspace only.
    """
    error = batch_refusal(spec)
    if error is None and spec.merge is not None and spec.keys is NO_KEYS:
        error = InvalidArgumentError(
            f"{spec.name} covers every primary of a cluster, but a transaction runs on the one "
            f"node of its slot: call kv.{spec.name.lower()}() outside the transaction"
        )
    if error is not None:
        raise error
