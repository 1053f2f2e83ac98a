"""A lock shared by every process using one store: ``async with kv.lock("rebuild-index"):``.

Semantics:
  * Acquire is ``SET lock:<name> <token> NX PX <ttl>``: the key exists while someone holds the
    lock, and its value is a random token that only the holder knows. It runs as a script that
    also succeeds when the key already holds this token, so a SET that the driver retries after
    a dropped connection (the first one ran, its reply was lost) is not taken for a refusal.
  * Release and extend compare the token and act in one atomic step (a Script), so a holder whose
    lock expired can never delete or prolong the lock of whoever took it next.
  * The TTL bounds how long a crashed holder blocks others. A holder whose work outlives the TTL
    loses the lock: call :meth:`Lock.extend` during long work; leaving ``async with`` then raises
    :class:`~aiokv.LockNotOwnedError`, because another process may have run in the meantime.
  * Waiting polls with jittered exponential backoff (2 ms doubling to 100 ms), so it is fair
    enough for a handful of contenders, not a queue.
  * It excludes tasks and processes alike. It is not reentrant.
"""

from __future__ import annotations

import contextlib
import random
import secrets
from collections.abc import Sequence
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING

import anyio

from .._codec import TTL, ttl_to_ms
from .._exceptions import InvalidArgumentError, KVError, LockError, LockNotOwnedError
from .._script import Script, ScriptArg

if TYPE_CHECKING:
    from typing_extensions import Self

    from .._client import AsyncClient
    from ..drivers.memory import MemoryDriver as Driver

__all__ = ["LOCK_PREFIX", "Lock"]

LOCK_PREFIX = "lock:"
"""Prefix of the key that holds a lock: the lock "reports" lives at ``lock:reports``."""

_FIRST_DELAY = 0.002
_MAX_DELAY = 0.1


async def _acquire_local(driver: Driver, keys: Sequence[str], args: Sequence[ScriptArg]) -> int:
    token, ms = str(args[0]), int(args[1])
    if await driver.set(keys[0], token, ms, True, False):
        return 1
    if await driver.get_bytes(keys[0]) == token.encode():
        await driver.pexpire(keys[0], ms)
        return 1
    return 0


async def _release_local(driver: Driver, keys: Sequence[str], args: Sequence[ScriptArg]) -> int:
    if await driver.get_bytes(keys[0]) == str(args[0]).encode():
        return await driver.delete(keys)
    return 0


async def _extend_local(driver: Driver, keys: Sequence[str], args: Sequence[ScriptArg]) -> int:
    if await driver.get_bytes(keys[0]) == str(args[0]).encode():
        return int(await driver.pexpire(keys[0], int(args[1])))
    return 0


ACQUIRE = Script(
    lua="""
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
    return 1
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return 1
end
return 0
""",
    local=_acquire_local,
)
"""SET KEYS[1] to the token ARGV[1] for ARGV[2] ms if free (or already ours); 1 if held now."""

RELEASE = Script(
    lua="""
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
""",
    local=_release_local,
)
"""Delete KEYS[1] if it holds the token ARGV[1]; 1 if deleted, else 0."""

EXTEND = Script(
    lua="""
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
""",
    local=_extend_local,
)
"""Set the TTL of KEYS[1] to ARGV[2] ms if it holds the token ARGV[1]; 1 if done, else 0."""


class Lock:
    """A distributed lock, held by a random token for at most ``ttl``; get one from ``kv.lock``.

    Use it with ``async with``, or call :meth:`acquire` and :meth:`release`. One ``Lock`` object
    is one holder: create one per task (``kv.lock(name)``) rather than sharing it.

    Args:
        kv: The client.
        name: The lock's name; the key is ``"lock:" + name`` (under the client's key prefix).
        ttl: Seconds or a timedelta after which an unreleased lock frees itself (> 0).
        blocking_timeout: Seconds to wait for the lock: None waits as long as it takes, 0 tries
            once.

    Raises:
        InvalidArgumentError: for a ``ttl`` <= 0 or a negative ``blocking_timeout``.
    """

    def __init__(
        self,
        kv: AsyncClient,
        name: str,
        *,
        ttl: TTL = 10,
        blocking_timeout: float | timedelta | None = None,
    ) -> None:
        ttl_ms = ttl_to_ms(ttl)
        if ttl_ms <= 0:
            raise InvalidArgumentError(f"lock ttl must be > 0, got {ttl!r}")
        if isinstance(blocking_timeout, timedelta):
            blocking_timeout = blocking_timeout.total_seconds()
        if blocking_timeout is not None and blocking_timeout < 0:
            raise InvalidArgumentError(f"blocking_timeout must be >= 0, got {blocking_timeout!r}")
        self._kv = kv
        self.name = name
        self.key = LOCK_PREFIX + name
        self._ttl_ms = ttl_ms
        self._blocking_timeout = blocking_timeout
        self._token: str | None = None

    def __repr__(self) -> str:
        state = "held" if self._token is not None else "not held"
        return f"<Lock {self.name!r} ttl={self._ttl_ms / 1000}s {state}>"

    @property
    def held(self) -> bool:
        """True between a successful :meth:`acquire` and :meth:`release`.

        The TTL may have run out since: only the store knows, and :meth:`extend` asks it.
        """
        return self._token is not None

    async def acquire(self) -> None:
        """Take the lock, waiting up to ``blocking_timeout``.

        Raises:
            LockError: if the lock is still held by another owner when the wait ends, or this
                object already holds it.
        """
        if self._token is not None:
            raise LockError(
                f"this Lock already holds {self.name!r}; it is not reentrant "
                "(create one Lock per task with kv.lock(name))"
            )
        token = secrets.token_hex(16)
        timeout = self._blocking_timeout
        deadline = None if timeout is None else anyio.current_time() + timeout
        delay = _FIRST_DELAY
        while not await self._try_acquire(token):
            pause = delay * (0.5 + random.random() / 2)
            if deadline is not None:
                left = deadline - anyio.current_time()
                if left <= 0:
                    raise LockError(
                        f"lock {self.name!r} is held by another owner: gave up after {timeout}s"
                    )
                pause = min(pause, left)
            await anyio.sleep(pause)
            delay = min(delay * 2, _MAX_DELAY)
        self._token = token

    async def _try_acquire(self, token: str) -> bool:
        try:
            return bool(await self._kv.run_script(ACQUIRE, [self.key], [token, self._ttl_ms]))
        except BaseException:
            # Cancelled (or cut off) after the server may have run the SET: undo it if it did,
            # rather than block everyone until the TTL runs out.
            with anyio.CancelScope(shield=True):
                with contextlib.suppress(KVError):
                    await self._kv.run_script(RELEASE, [self.key], [token])
            raise

    async def release(self) -> None:
        """Free the lock.

        Raises:
            LockNotOwnedError: if this object does not hold it, or its TTL ran out (so another
                owner may have held it since).
        """
        token, self._token = self._token, None
        if token is None:
            raise LockNotOwnedError(f"lock {self.name!r} is not held by this Lock")
        if not await self._kv.run_script(RELEASE, [self.key], [token]):
            raise LockNotOwnedError(self._lost_message())

    async def extend(self, ttl: TTL | None = None) -> None:
        """Reset the time left on the lock to ``ttl`` (default: the lock's own ``ttl``).

        Raises:
            LockNotOwnedError: if this object does not hold the lock or its TTL ran out.
            InvalidArgumentError: for a ``ttl`` <= 0.
        """
        ms = self._ttl_ms if ttl is None else ttl_to_ms(ttl)
        if ms <= 0:
            raise InvalidArgumentError(f"lock ttl must be > 0, got {ttl!r}")
        token = self._token
        if token is None:
            raise LockNotOwnedError(f"lock {self.name!r} is not held by this Lock")
        if not await self._kv.run_script(EXTEND, [self.key], [token, ms]):
            self._token = None
            raise LockNotOwnedError(self._lost_message())

    def _lost_message(self) -> str:
        return (
            f"lock {self.name!r} expired before it was released (ttl={self._ttl_ms / 1000}s), "
            "so another owner may have held it meanwhile: raise the ttl or call extend()"
        )

    async def __aenter__(self) -> Self:
        await self.acquire()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Shielded: a cancelled body must still free the lock, not leave it until the TTL.
        with anyio.CancelScope(shield=True):
            if exc is None:
                await self.release()
                return
            # Report the body's exception, not a failed release: the lock frees itself by its TTL.
            with contextlib.suppress(KVError):
                await self.release()
