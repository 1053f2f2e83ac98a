"""Typed values as JSON: pydantic's serializer on the way in, its validator on the way out.

JSON rather than pickle, always: unpickling runs code chosen by whoever wrote the bytes, so a
pickled cache hands anyone who can write to the store the keys to every process that reads it.

Validation is pydantic's lax mode, so what the serializer wrote comes back as it went in: a model,
a dataclass, ``list[Model]``, ``datetime`` (stored as ISO 8601 text) and so on.
"""

from __future__ import annotations

import functools
from typing import Any, Final

import pydantic_core
from pydantic import TypeAdapter

__all__ = ["MISS", "ANY", "adapter_for", "dump"]

ANY: Final[Any] = Any
"""The type to validate into when none is given: plain JSON data (dict, list, str, ...)."""


class _Miss:
    def __repr__(self) -> str:
        return "MISS"


MISS: Final = _Miss()
"""Returned by readers for a missing key, so a stored JSON ``null`` can come back as None."""


def dump(value: object) -> bytes:
    """Return ``value`` as JSON (UTF-8), fields by alias so that validation reads them back.

    Raises:
        pydantic_core.PydanticSerializationError: (a ``ValueError``) if ``value`` has no JSON
            form, such as an arbitrary object.
    """
    return pydantic_core.to_json(value)


@functools.lru_cache(maxsize=512)
def _cached_adapter(tp: Any) -> TypeAdapter[Any]:
    return TypeAdapter(tp)


def adapter_for(tp: Any) -> TypeAdapter[Any]:
    """A (cached) TypeAdapter for ``tp``: building one compiles a validator, which is slow.

    Raises:
        pydantic.PydanticSchemaGenerationError: if pydantic cannot validate ``tp``.
    """
    try:
        hash(tp)
    except TypeError:
        return TypeAdapter(tp)
    return _cached_adapter(tp)
