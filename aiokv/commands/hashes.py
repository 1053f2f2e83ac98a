"""Hash commands."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any

from .._codec import Value, encode_value
from .._exceptions import InvalidArgumentError
from ._base import Command, command, constant, text_dict, text_or_none
from ._facade import Facade

__all__ = ["HashCommands"]


def _encode_hset(key: str, mapping: Mapping[str | bytes, str | bytes]) -> tuple[Any, ...]:
    words: list[Any] = ["HSET", key]
    for pair in mapping.items():
        words += pair
    return tuple(words)


HSET = Command("HSET", encode=_encode_hset)
HGET = Command("HGET", readonly=True, decode=text_or_none)
HGETALL = Command("HGETALL", readonly=True, decode=text_dict)
HDEL = Command("HDEL", encode=lambda key, fields: ("HDEL", key, *fields))


class HashCommands(Facade):
    @command
    def hset(
        self,
        key: str,
        field: str | None = None,
        value: Value | None = None,
        *,
        mapping: Mapping[str, Value] | None = None,
    ) -> Awaitable[int]:
        """Set one field (``field``, ``value``) and/or several (``mapping``) of the hash at ``key``.

        Returns:
            The number of fields that did not exist before.

        Raises:
            InvalidArgumentError: if no field is given.
            WrongTypeError: if the key holds another type.
        """
        pairs: dict[str | bytes, str | bytes] = {}
        if field is not None:
            pairs[encode_value(field)] = encode_value(value)
        if mapping:
            for name, item in mapping.items():
                pairs[encode_value(name)] = encode_value(item)
        if not pairs:
            raise InvalidArgumentError("hset needs a field and value, or a non-empty mapping")
        return self._run[HSET](self._key(key), pairs)

    @command
    def hget(self, key: str, field: str) -> Awaitable[str | None]:
        """Return one field's value, or None if the key or field is missing."""
        return self._run[HGET](self._key(key), encode_value(field))

    @command
    def hgetall(self, key: str) -> Awaitable[dict[str, str]]:
        """Return every field and value; {} for a missing key."""
        return self._run[HGETALL](self._key(key))

    @command
    def hdel(self, key: str, *fields: str) -> Awaitable[int]:
        """Delete fields; return how many existed. The hash vanishes with its last field."""
        if not fields:
            return constant(0)
        return self._run[HDEL](self._key(key), [encode_value(f) for f in fields])
