"""How ``get_or_set`` stores a value that may be served stale, and the last values it keeps.

A value cached with ``stale_ttl=`` or ``stale_if_error=`` is stored in an envelope, one key::

    {"aiokv.fresh_until":1717171717171,"value":<the value's JSON>}

``fresh_until`` is a wall-clock time in Unix milliseconds, so every process reading the key
agrees on it (within their clocks' skew); the key's own TTL is the fresh TTL plus the longer of
the two stale windows, after which the server drops it. The value's JSON is the envelope's last
field, so it is read back by slicing, not by parsing the envelope and serialising the value
again. Values cached without those options are stored as plain JSON, as before.

:class:`LastValues` keeps, per client, the last value seen for keys read or written with
``stale_if_error=``: when the server itself is out of reach, that is the only copy left.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any, NamedTuple

from pydantic import TypeAdapter, ValidationError

__all__ = ["Entry", "LastValues", "now_ms", "unwrap", "wrap"]

_HEAD = b'{"aiokv.fresh_until":'
_VALUE = b',"value":'


def now_ms() -> int:
    """Wall-clock time in Unix milliseconds (shared by every process, unlike a monotonic one)."""
    return time.time_ns() // 1_000_000


def wrap(data: bytes, fresh_until: int) -> bytes:
    """The envelope of the JSON ``data``, fresh until ``fresh_until`` (Unix ms)."""
    return b"%s%d%s%s}" % (_HEAD, fresh_until, _VALUE, data)


def unwrap(raw: bytes) -> tuple[bytes, int | None]:
    """``(value JSON, fresh_until)`` of stored bytes; ``fresh_until`` None for plain JSON."""
    if not raw.startswith(_HEAD):
        return raw, None
    end = raw.find(_VALUE, len(_HEAD))
    digits = raw[len(_HEAD) : end]
    if end < 0 or not digits.isdigit() or not raw.endswith(b"}"):
        return raw, None  # a user's own JSON that merely starts alike
    return raw[end + len(_VALUE) : -1], int(digits)


class Entry(NamedTuple):
    """A cached value as read: the value, its JSON, and when it stops being fresh."""

    value: Any
    data: bytes
    fresh_until: int | None
    """Unix ms; None for a value stored without stale options (fresh until it expires)."""

    def fresh(self, now: int) -> bool:
        return self.fresh_until is None or now < self.fresh_until


def decode(raw: bytes | None, adapter: TypeAdapter[Any]) -> Entry | None:
    """The entry in ``raw`` validated by ``adapter``; None for a miss or a value that no longer
    validates (the model changed in a deploy: recompute rather than fail until it expires)."""
    if raw is None:
        return None
    data, fresh_until = unwrap(raw)
    try:
        return Entry(adapter.validate_json(data), data, fresh_until)
    except ValidationError:
        return None


class LastValues:
    """The last value seen per key, for ``stale_if_error``: at most ``size`` keys, oldest out."""

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._values: OrderedDict[str, tuple[bytes, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._values)

    def remember(self, key: str, data: bytes, until: int) -> None:
        """Keep ``data`` (the value's JSON) for ``key`` until ``until`` (Unix ms)."""
        values = self._values
        values[key] = (data, until)
        values.move_to_end(key)
        if len(values) > self._size:
            values.popitem(last=False)

    def recall(self, key: str, now: int) -> bytes | None:
        """The JSON kept for ``key`` if it may still be served at ``now``; else None."""
        kept = self._values.get(key)
        if kept is None:
            return None
        if now >= kept[1]:
            del self._values[key]
            return None
        return kept[0]
