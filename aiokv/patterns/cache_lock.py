"""``get_or_set(lock=True)``: one computation of a key across every process using the store.

The process that takes the lock (a :class:`~aiokv.Lock` on ``"cache:" + key``, so its key is
``lock:cache:<key>``, held for ``lock_timeout``) computes and stores the value, frees the lock,
then publishes the value's JSON on the channel ``aiokv:cache:<key prefix><key>``. The others
wait for that message rather than poll:

1. subscribe to the channel;
2. read the key: a value stored before they subscribed is found here;
3. if the lock is still held, its holder frees it and publishes only after this point, so the
   message reaches them: wait for it, up to what is left of ``lock_timeout``;
4. otherwise (the holder failed, or its value was not to be cached) try the lock again.

Past ``lock_timeout`` in all, a waiter computes anyway: a crashed or slow holder delays the
others by that bound at most. The holder's lock also expires after ``lock_timeout``, so a
computation that outlives it may run twice. Within one process, single-flight already makes one
caller per key reach this code.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import anyio

from .._exceptions import KVError, LockError
from .cache_entry import now_ms
from .lock import LOCK_PREFIX, Lock

if TYPE_CHECKING:
    from .cache import _Call

__all__ = ["channel_for", "lock_name_for", "locked_fill"]

_VALUE = "1"
_NO_VALUE = "0"


def lock_name_for(key: str) -> str:
    """The name of the lock guarding the computation of ``key`` (its key: ``lock:cache:<key>``)."""
    return "cache:" + key


def channel_for(prefix: str, key: str) -> str:
    """The channel announcing a computed value (channels are not prefixed: the prefix is added)."""
    return f"aiokv:cache:{prefix}{key}"


async def locked_fill(call: _Call, *, wait: bool = True) -> Any:
    """Compute and store the value under the lock, or wait for the process that holds it.

    With ``wait=False`` (a background refresh), return None at once if the lock is held.

    Raises:
        Exception: whatever the factory raises, or a store error (as ``get_or_set`` does).
    """
    kv = call.kv
    lock_ms = call.options.lock_ms
    deadline = anyio.current_time() + lock_ms / 1000
    channel = channel_for(kv.settings.key_prefix, call.key)
    lock_key = LOCK_PREFIX + lock_name_for(call.key)
    while True:
        lock = Lock(kv, lock_name_for(call.key), ttl=lock_ms / 1000, blocking_timeout=0)
        try:
            await lock.acquire()
        except LockError:
            if not wait:
                return None
        else:
            return await _compute_holding(call, lock, channel)
        async with kv.subscribe(channel) as subscription:
            entry = await call.read()
            if entry is not None and entry.fresh(now_ms()):
                return entry.value
            if await kv.exists(lock_key):
                left = deadline - anyio.current_time()
                message = None if left <= 0 else await subscription.get(timeout=left)
                if message is None:
                    break  # waited long enough: compute anyway
                if message.data.startswith(_VALUE):
                    return call.adapter.validate_json(message.data[len(_VALUE) :])
            # The holder failed, or did not cache its value: try the lock again.
        if anyio.current_time() >= deadline:
            break
    value, data = await call.compute()
    await call.store(value, data)
    return value


async def _compute_holding(call: _Call, lock: Lock, channel: str) -> Any:
    kv = call.kv
    try:
        value, data = await call.compute()
        await call.store(value, data)
    except BaseException:
        # Cancelled or failed: free the lock and tell the waiters at once, so that one of them
        # takes over instead of waiting for lock_timeout.
        with anyio.CancelScope(shield=True), contextlib.suppress(KVError):
            await lock.release()
            await kv.publish(channel, _NO_VALUE)
        raise
    # Freed before publishing: a waiter that saw the lock held is then sure to get the message.
    with anyio.CancelScope(shield=True), contextlib.suppress(KVError):
        await lock.release()  # LockNotOwnedError (a KVError): it outlived lock_timeout
    with contextlib.suppress(KVError):
        await kv.publish(channel, _VALUE.encode() + data)
    return value
