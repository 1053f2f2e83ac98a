"""The Redis commands of aiokv, one module per family; each command is defined once there.

See :mod:`aiokv.commands._base` for how a command is defined and run.
"""

from __future__ import annotations

from ._base import DEFAULT, Command, Table, _Default, command
from .blocking import BlockingCommands
from .hashes import HashCommands
from .hyperloglog import HyperLogLogCommands
from .keys import KeyCommands
from .lists import ListCommands
from .pubsub import PubSubCommands
from .sets import SetCommands
from .strings import StringCommands
from .zsets import ZSetCommands
from .zsets_algebra import ZSetAlgebraCommands

__all__ = ["DEFAULT", "Command", "Commands", "Table", "_Default", "command"]


class Commands(
    StringCommands,
    KeyCommands,
    HashCommands,
    ListCommands,
    SetCommands,
    HyperLogLogCommands,
    ZSetCommands,
    ZSetAlgebraCommands,
    BlockingCommands,
    PubSubCommands,
):
    """Every command method, for :class:`~aiokv.AsyncClient` and :class:`~aiokv.Pipeline`."""
