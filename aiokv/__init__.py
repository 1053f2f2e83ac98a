"""aiokv: an asyncio key-value client for Redis-compatible storage.

The memory driver (the default) answers as Redis 7 does; the redis driver runs on redis.asyncio.
"""

from ._client import DEFAULT, AsyncClient
from ._codec import TTL, Value
from ._exceptions import (
    ArgumentTypeError,
    ClientClosedError,
    CommandError,
    CrossSlotError,
    DriverUnavailableError,
    IntegerOverflowError,
    InvalidArgumentError,
    KVConnectionError,
    KVError,
    KVTimeoutError,
    LockError,
    LockNotOwnedError,
    NotAnIntegerError,
    OutcomeUnknownError,
    OutOfMemoryError,
    PermissionDeniedError,
    TransactionAbortedError,
    TransactionConflictError,
    ValueDecodeError,
    WrongTypeError,
)
from ._pipeline import Pipeline, Transaction
from ._script import Script
from ._settings import EvictionPolicy, KVSettings
from .patterns.cached import cached
from .patterns.lock import Lock
from .patterns.ratelimit import RateLimiter, RateLimitResult
from .patterns.sessions import SessionStore

__version__ = "0.1.0"

__all__ = [
    "DEFAULT",
    "TTL",
    "ArgumentTypeError",
    "AsyncClient",
    "ClientClosedError",
    "CommandError",
    "CrossSlotError",
    "DriverUnavailableError",
    "EvictionPolicy",
    "IntegerOverflowError",
    "InvalidArgumentError",
    "KVConnectionError",
    "KVError",
    "KVSettings",
    "KVTimeoutError",
    "Lock",
    "LockError",
    "LockNotOwnedError",
    "NotAnIntegerError",
    "OutOfMemoryError",
    "OutcomeUnknownError",
    "Pipeline",
    "PermissionDeniedError",
    "RateLimitResult",
    "RateLimiter",
    "Script",
    "SessionStore",
    "Value",
    "Transaction",
    "TransactionAbortedError",
    "TransactionConflictError",
    "ValueDecodeError",
    "WrongTypeError",
    "__version__",
    "cached",
]
