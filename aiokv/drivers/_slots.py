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

__all__ = ["SLOTS", "cross_slot_error", "key_slot", "slot_of"]

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
