"""Server-side sessions: a random id in the cookie, the data as JSON under ``prefix + id``.

Ids are 256 random bits from :mod:`secrets` (43 URL-safe characters), so they cannot be guessed.
Ids arriving from a client are checked for that shape before any lookup, so a forged cookie costs
no round trip and cannot name another kind of key. To prevent session fixation, give a user a new
id when they log in: ``new_id = await store.create(data)`` then ``await store.destroy(old_id)``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .._codec import TTL, ttl_to_ms
from .._exceptions import InvalidArgumentError
from .._script import Script, ScriptArg
from .json import adapter_for, dump

if TYPE_CHECKING:
    from .._client import AsyncClient
    from ..drivers.memory import MemoryDriver as Driver

__all__ = ["SessionStore"]

_ID_BYTES = 32  # 256 bits
_ID_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}\Z")
_DATA = adapter_for(dict[str, Any])


async def _replace_local(driver: Driver, keys: Sequence[str], args: Sequence[ScriptArg]) -> int:
    key = keys[0]
    ttl = await driver.pttl(key)
    if ttl == -2 or ttl == 0:  # missing, or expiring this very millisecond
        return 0
    value = args[0]
    text = value if isinstance(value, (str, bytes)) else str(value)
    await driver.set(key, text, ttl if ttl > 0 else None, False, True)
    return 1


REPLACE_KEEP_TTL = Script(
    lua="""
if redis.call('SET', KEYS[1], ARGV[1], 'XX', 'KEEPTTL') then
    return 1
end
return 0
""",
    local=_replace_local,
)
"""Overwrite the existing KEYS[1] with ARGV[1], keeping its TTL; 1 if it existed, else 0."""


class SessionStore:
    """Sessions that expire ``ttl`` after creation or the last :meth:`refresh`.

    Data is a JSON object: a mapping with string keys and JSON-compatible values (models and
    dataclasses are stored as objects, datetimes as ISO 8601 text, and come back as such).

    Args:
        kv: The client.
        ttl: Lifetime of a session: seconds or a timedelta (> 0).
        prefix: Prepended to the id to form the key (after the client's key prefix).

    Raises:
        InvalidArgumentError: for a ``ttl`` <= 0.
    """

    def __init__(
        self, kv: AsyncClient, ttl: TTL = timedelta(hours=24), prefix: str = "session:"
    ) -> None:
        ttl_ms = ttl_to_ms(ttl)
        if ttl_ms <= 0:
            raise InvalidArgumentError(f"session ttl must be > 0, got {ttl!r}")
        self._kv = kv
        self._ttl = ttl_ms / 1000
        self._ttl_ms = ttl_ms
        self.prefix = prefix

    def __repr__(self) -> str:
        return f"<SessionStore ttl={self._ttl}s prefix={self.prefix!r}>"

    async def create(self, data: Mapping[str, Any]) -> str:
        """Store ``data`` as a new session; return its id (43 URL-safe characters).

        Raises:
            pydantic_core.PydanticSerializationError: (a ``ValueError``) if ``data`` has no
                JSON form.
        """
        payload = dump(data)
        while True:
            session_id = secrets.token_urlsafe(_ID_BYTES)
            # NX: an id is never reused, even in the (2**-256) case of a collision.
            if await self._kv.set(self.prefix + session_id, payload, self._ttl, nx=True):
                return session_id

    async def get(self, session_id: str) -> dict[str, Any] | None:
        """The session's data, or None if it does not exist or has expired.

        An id that :meth:`create` could not have made gives None without a lookup. Reading does
        not extend the session; call :meth:`refresh` for that.

        Raises:
            pydantic.ValidationError: (a ``ValueError``) if the key holds something other than
                a JSON object.
        """
        if not _ID_SHAPE.match(session_id):
            return None
        raw = await self._kv.get_bytes(self.prefix + session_id)
        if raw is None:
            return None
        data: dict[str, Any] = _DATA.validate_json(raw)
        return data

    async def update(self, session_id: str, data: Mapping[str, Any]) -> bool:
        """Replace the session's data, keeping its expiry; False if it does not exist.

        Raises:
            pydantic_core.PydanticSerializationError: (a ``ValueError``) if ``data`` has no
                JSON form.
        """
        if not _ID_SHAPE.match(session_id):
            return False
        replaced = await self._kv.run_script(
            REPLACE_KEEP_TTL, [self.prefix + session_id], [dump(data)]
        )
        return bool(replaced)

    async def refresh(self, session_id: str) -> bool:
        """Restore the session's full TTL; False if it does not exist."""
        if not _ID_SHAPE.match(session_id):
            return False
        return await self._kv.expire(self.prefix + session_id, self._ttl)

    async def destroy(self, session_id: str) -> bool:
        """Delete the session; False if it did not exist."""
        if not _ID_SHAPE.match(session_id):
            return False
        return await self._kv.delete(self.prefix + session_id) > 0
