"""How a command is defined once: a :class:`Command` spec plus a typed facade method.

A command's facade method (in the family's module: ``strings.py``, ``hashes.py``, ...) checks and
converts the Python arguments, then hands them to ``self._run[SPEC](...)``. What that returns
depends on who holds the command table ``_run``:

* an open client: the driver's table. The memory driver maps each spec to its handler, an
  ``async def`` that never suspends, so ``await kv.get(k)`` runs exactly one coroutine over
  dict work (the speed the benchmarks hold us to). The redis driver maps each spec to its
  ``execute``, which encodes the arguments (``Command.encode``), runs one round trip and reads
  the reply (``Command.decode``);
* a pipeline: a table whose entries queue the call and return the pipeline, for chaining.

So a command is written in two places: its spec and facade method here, and its memory handler
in ``aiokv/drivers/_memory/<family>.py``. A new topology (a cluster, a pipeline) is one table.

The rule for facade methods: a command method is a plain function that validates its arguments
and returns the table entry's awaitable without awaiting it (one coroutine, not two). Only
methods that must await more than once (``keys``, ``flushdb`` with a prefix) are ``async def``.
Argument errors are therefore raised when the method is called; the store is touched, and a
lazily opened client opens, when the result is awaited.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

__all__ = [
    "ALL_KEYS",
    "DEFAULT",
    "FIRST_KEY",
    "IN_ORDER",
    "NO_KEYS",
    "SAME",
    "SUM",
    "Command",
    "Merge",
    "Table",
    "command",
]


class _Default(enum.Enum):
    DEFAULT = "DEFAULT"

    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Final = _Default.DEFAULT
"""Marks an omitted ``ttl``: the client's ``default_ttl`` applies (``ttl=None`` means no expiry)."""


def FIRST_KEY(args: tuple[Any, ...]) -> Sequence[str]:
    """The command's only key is its first argument."""
    return (args[0],)


def ALL_KEYS(args: tuple[Any, ...]) -> Sequence[str]:
    """The first argument is the sequence of keys."""
    return args[0]  # type: ignore[no-any-return]


def NO_KEYS(args: tuple[Any, ...]) -> Sequence[str]:
    """The command names no key (PING, DBSIZE)."""
    return ()


Merge = Callable[[list[Any], list[list[int]], int], Any]
"""How the parts of a command split by cluster slot give one reply: ``merge(replies, positions,
size)``, with each part's decoded reply and the positions (in the key list) of its keys."""


def SUM(replies: list[Any], positions: list[list[int]], size: int) -> Any:
    """DEL, EXISTS, UNLINK, TOUCH, DBSIZE: the parts' counts added up."""
    return sum(replies)


def IN_ORDER(replies: list[Any], positions: list[list[int]], size: int) -> Any:
    """MGET: each part's list of values put back at its keys' positions."""
    merged: list[Any] = [None] * size
    for reply, where in zip(replies, positions, strict=True):
        for index, value in zip(where, reply, strict=True):
            merged[index] = value
    return merged


def SAME(replies: list[Any], positions: list[list[int]], size: int) -> Any:
    """MSET, FLUSHDB: every part answers the same (OK)."""
    return replies[0]


@dataclass(frozen=True, eq=False)
class Command:
    """One Redis command as a topology sees it.

    Attributes:
        name: The Redis command (``"GET"``); several specs may share one (``get``/``get_bytes``).
        readonly: True when running it twice cannot change the state or the reply: the redis
            driver then re-sends it after a lost connection. Everything else is sent at most
            once (see :class:`~aiokv.OutcomeUnknownError`).
        encode: Facade arguments to the words sent (``("SET", key, value, "PX", 100)``);
            ``None`` sends ``(name, *args)``.
        decode: The server's reply to the Python value the facade returns; ``None`` keeps it.
        keys: The keys among the facade arguments (watching, routing).
        merge: For a command a cluster may split by slot (DEL, EXISTS, MGET, MSET...), how the
            parts' replies merge (:data:`SUM`, :data:`IN_ORDER`, :data:`SAME`); ``None`` for
            an atomic command, whose keys must then share a slot (else ``CrossSlotError``).
            A split command takes its per-key items as its first argument (a sequence, one
            item per key that ``keys`` gives, in order); each part gets the items of one slot
            and the other arguments unchanged. Not atomic across slots. With ``NO_KEYS``, a
            merge sends the command to every primary (DBSIZE, FLUSHDB).
    """

    name: str
    readonly: bool = False
    encode: Callable[..., tuple[Any, ...]] | None = None
    decode: Callable[[Any], Any] | None = None
    keys: Callable[[tuple[Any, ...]], Sequence[str]] = FIRST_KEY
    merge: Merge | None = None

    def __repr__(self) -> str:
        return f"<Command {self.name}>"


Table = dict[Command, Callable[..., Awaitable[Any]]]
"""What runs each command: a driver's handlers, or a pipeline's queue."""

_Method = TypeVar("_Method", bound=Callable[..., Any])


def command(method: _Method) -> _Method:
    """Mark a command method as a coroutine function for introspection.

    Command methods return the table's awaitable instead of wrapping it (see the module
    docstring); the mark makes ``inspect.iscoroutinefunction`` and so ``unittest.mock``'s autospec
    and ``AsyncMock(spec=AsyncClient)`` treat them as the coroutine methods they behave as, and
    lets :class:`~aiokv.Pipeline` find them.
    """
    if sys.version_info >= (3, 12):
        inspect.markcoroutinefunction(method)
    else:
        method._is_coroutine = asyncio.coroutines._is_coroutine  # type: ignore[attr-defined]
    method.__aiokv_command__ = True  # type: ignore[attr-defined]
    return method


async def constant(value: Any) -> Any:
    """An awaitable of ``value``, for calls that need no round trip (``delete()`` of no keys)."""
    return value


def text(raw: bytes) -> str:
    """A server's bytes as text; bytes that are not UTF-8 survive as surrogate escapes."""
    return raw.decode("utf-8", "surrogateescape")


def text_or_none(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", "surrogateescape")


def text_list(raw: list[bytes]) -> list[str]:
    return [item.decode("utf-8", "surrogateescape") for item in raw]


def text_list_or_none(raw: list[bytes] | None) -> list[str] | None:
    return None if raw is None else [item.decode("utf-8", "surrogateescape") for item in raw]


def text_set(raw: list[bytes] | set[bytes]) -> set[str]:
    return {item.decode("utf-8", "surrogateescape") for item in raw}


def text_dict(raw: dict[bytes, bytes] | list[bytes]) -> dict[str, str]:
    if isinstance(raw, dict):
        return {text(k): text(v) for k, v in raw.items()}
    return {text(raw[i]): text(raw[i + 1]) for i in range(0, len(raw), 2)}


def strict_text(raw: bytes | None) -> str | None:
    """GET's reply: text, or UnicodeDecodeError (the driver names the key in ValueDecodeError)."""
    return None if raw is None else raw.decode()


def float_or_none(raw: bytes | float | None) -> float | None:
    return None if raw is None else float(raw)


def as_float(raw: bytes | float) -> float:
    return float(raw)
