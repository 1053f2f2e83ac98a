"""The aiokv error tree.

Every error aiokv raises on purpose is a :class:`KVError`; both drivers raise the same class for
the same mistake, so user code never depends on the driver in use::

    KVError
    ├── CommandError                  the store refused a command
    │   ├── WrongTypeError            (TypeError)   key holds another kind of value
    │   ├── NotAnIntegerError         (ValueError)  value or argument is not a 64-bit integer
    │   │   └── IntegerOverflowError                increment or decrement would overflow
    │   ├── InvalidArgumentError      (ValueError)  e.g. an expire time <= 0
    │   │   └── ArgumentTypeError         (TypeError)   e.g. a str where seconds are expected
    │   ├── NoSuchKeyError            (LookupError) the command needs a key that does not exist
    │   ├── OutOfMemoryError                        memory limit reached under `noeviction`
    │   ├── PermissionDeniedError                   the ACL user may not run the command (NOPERM)
    │   ├── CrossSlotError                          atomic operation on keys of several slots
    │   └── TransactionAbortedError                 a command was refused while queueing (EXECABORT)
    ├── ValueDecodeError              (ValueError)  a stored value is not UTF-8 text
    ├── KVConnectionError             (ConnectionError) the server cannot be reached
    │   ├── OutcomeUnknownError                     dropped after a write was sent: may have run
    │   └── TLSError                                certificate or hostname check failed
    ├── TransactionConflictError                    a watched key kept changing; retries used up
    ├── KVTimeoutError                (TimeoutError) a command or a pool wait took too long
    ├── ClientClosedError             (RuntimeError) the client was used after aclose()
    ├── DriverUnavailableError        (RuntimeError) the driver cannot run here
    └── LockError                                   a lock could not be acquired or released
        └── LockNotOwnedError                       release by someone who does not hold it
"""

from __future__ import annotations

__all__ = [
    "ArgumentTypeError",
    "ClientClosedError",
    "CommandError",
    "CrossSlotError",
    "DriverUnavailableError",
    "IntegerOverflowError",
    "InvalidArgumentError",
    "KVConnectionError",
    "KVError",
    "KVTimeoutError",
    "LockError",
    "LockNotOwnedError",
    "NoSuchKeyError",
    "NotAnIntegerError",
    "OutOfMemoryError",
    "OutcomeUnknownError",
    "PermissionDeniedError",
    "TLSError",
    "TransactionAbortedError",
    "TransactionConflictError",
    "ValueDecodeError",
    "WrongTypeError",
]


class KVError(Exception):
    """Root of every error aiokv raises on purpose."""


class CommandError(KVError):
    """The store refused a command; the message is the server's (or the memory driver's) reply."""


class WrongTypeError(CommandError, TypeError):
    """The key holds another kind of value (Redis's WRONGTYPE)."""

    def __init__(
        self, message: str = "WRONGTYPE Operation against a key holding the wrong kind of value"
    ) -> None:
        super().__init__(message)


class NotAnIntegerError(CommandError, ValueError):
    """The stored value or an argument is not a 64-bit signed integer."""

    def __init__(self, message: str = "ERR value is not an integer or out of range") -> None:
        super().__init__(message)


class IntegerOverflowError(NotAnIntegerError):
    """An increment or decrement would leave the 64-bit signed range; the value is unchanged."""

    def __init__(self, message: str = "ERR increment or decrement would overflow") -> None:
        super().__init__(message)


class InvalidArgumentError(CommandError, ValueError):
    """An argument is out of range for the command, such as an expire time <= 0."""


class ArgumentTypeError(InvalidArgumentError, TypeError):
    """An argument has a type the command cannot take (a str TTL, a bool count)."""


class NoSuchKeyError(CommandError, LookupError):
    """The command needs a key that does not exist (RENAME of a missing key)."""

    def __init__(self, message: str = "ERR no such key") -> None:
        super().__init__(message)


class OutOfMemoryError(CommandError):
    """The store is full under ``noeviction`` (or no volatile key to evict): raise the limit."""

    def __init__(
        self, message: str = "OOM command not allowed when used memory > 'maxmemory'."
    ) -> None:
        super().__init__(message)


class PermissionDeniedError(CommandError):
    """The connection's ACL user may not run this command or touch this key (Redis's NOPERM)."""


class CrossSlotError(CommandError):
    """An atomic operation names keys of several cluster hash slots (Redis's CROSSSLOT).

    A cluster runs a transaction, a script or a multi-key command such as ``sinterstore``
    on one node only, so all its keys must hash to one slot. Put the part of the key that
    must match in braces, a hash tag: ``{user:1}:cart`` and ``{user:1}:orders`` share a slot.
    Raised by the cluster driver before anything is sent, and by the memory driver with
    ``memory_cluster_slots=True``.
    """


class TransactionAbortedError(CommandError):
    """A transaction applied nothing: one of its commands was refused while queueing (EXECABORT).

    ``errors`` holds ``(index, error)`` for each command that was refused.
    """

    def __init__(self, message: str, errors: list[tuple[int, BaseException]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class ValueDecodeError(KVError, ValueError):
    """A stored value is not UTF-8 text; read it with ``get_bytes()`` instead."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"value at {key!r} is not UTF-8 text; read it with get_bytes()")


class KVConnectionError(KVError, ConnectionError):
    """The server could not be reached, or dropped the connection past the retry budget.

    ``outcome_unknown`` is False when the command cannot have run (it was never written, or it
    is a read); see :class:`OutcomeUnknownError` for the other case.
    """

    outcome_unknown: bool = False


class OutcomeUnknownError(KVConnectionError):
    """The connection failed after a write was sent: it may or may not have been applied.

    aiokv never re-sends such a command (that could apply it twice). Read the state back, or
    retry only if the write is idempotent for your data. ``outcome_unknown`` is True.
    """

    outcome_unknown = True


class TLSError(KVConnectionError):
    """The TLS handshake failed: the server's certificate is not trusted, names another host,
    or the server refused the client's certificate. Not retried: fix the TLS settings."""


class KVTimeoutError(KVError, TimeoutError):
    """A command, a connect or a wait for a pooled connection took longer than its timeout."""


class ClientClosedError(KVError, RuntimeError):
    """The client was used after ``aclose()``; create a new client instead."""

    def __init__(self) -> None:
        super().__init__(
            "this AsyncClient is closed; create a new AsyncClient (or use `async with`)"
        )


class TransactionConflictError(KVError):
    """A watched key changed before EXEC every time, up to the retry bound: nothing was applied."""


class DriverUnavailableError(KVError, RuntimeError):
    """The configured driver cannot run in this environment (missing package, wrong event loop)."""


class LockError(KVError):
    """A lock could not be acquired in time, or could not be released."""


class LockNotOwnedError(LockError):
    """The lock expired or is held by another owner, so this holder cannot release or extend it."""
