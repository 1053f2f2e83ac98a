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
    NoSuchKeyError,
    NotAnIntegerError,
    OutcomeUnknownError,
    OutOfMemoryError,
    PermissionDeniedError,
    TLSError,
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
from .patterns.queue import Job, Queue
from .patterns.ratelimit import (
    MultiRateLimiter,
    MultiRateLimitResult,
    RateLimiter,
    RateLimitResult,
)
from .patterns.sessions import SessionStore
from .pubsub import Message, Subscription

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
    "Job",
    "KVConnectionError",
    "KVError",
    "KVSettings",
    "KVTimeoutError",
    "Lock",
    "LockError",
    "LockNotOwnedError",
    "MultiRateLimitResult",
    "MultiRateLimiter",
    "NoSuchKeyError",
    "Message",
    "NotAnIntegerError",
    "OutOfMemoryError",
    "OutcomeUnknownError",
    "Pipeline",
    "PermissionDeniedError",
    "Queue",
    "RateLimitResult",
    "RateLimiter",
    "Script",
    "SessionStore",
    "TLSError",
    "Subscription",
    "Value",
    "Transaction",
    "TransactionAbortedError",
    "TransactionConflictError",
    "ValueDecodeError",
    "WrongTypeError",
    "__version__",
    "cached",
]
