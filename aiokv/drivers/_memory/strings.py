"""Memory handlers for the string commands (:mod:`aiokv.commands.strings`)."""

from __future__ import annotations

from ..._codec import add_checked, normalize_key, parse_int
from ..._exceptions import ValueDecodeError, WrongTypeError
from ...commands import strings as spec
from .store import HUGE_MS, Store, check_expire_ms, handles, string_value


class StringHandlers(Store):
    @handles(spec.SET)
    async def set(self, key: str, value: str | bytes, px: int | None, nx: bool, xx: bool) -> bool:
        if px is not None and px > HUGE_MS:
            check_expire_ms(px, "set")
        if not key.isascii():
            key = normalize_key(key)
        if type(value) is str and not value.isascii():  # isascii() is O(1): a flag on the str
            value = string_value(value)  # validated before any index is touched
        data = self._data
        if nx or xx:
            exists = self._lookup(key) is not None
            if (nx and exists) or (xx and not exists):
                return False
        if self._evictor is not None and key not in data:
            self._evictor.make_room(key)
        data[key] = value
        if px is not None:
            # _set_deadline inlined: SET with a TTL is the cache's hot path.
            expires = self._expires
            deadline = self._clock() + px / 1000
            old = expires.get(key)
            expires[key] = deadline
            second = int(deadline)
            if old is None or int(old) != second:
                self._refile(key, second, old)
        elif self._expires:
            self._clear_deadline(key)
        return True

    @handles(spec.SETEX)
    async def setex(self, key: str, value: str | bytes, px: int) -> None:
        await self.set(key, value, px, False, False)

    @handles(spec.GET)
    async def get(self, key: str) -> str | None:
        # The hot path: inlined lookup, no helper calls on a hit without TTL.
        value = self._data.get(key)
        if value is None:
            if key.isascii():
                return None
            # Keys are stored as a server spells them: look again under that spelling.
            spelled = normalize_key(key)
            if spelled == key:
                return None
            return await self.get(spelled)
        if self._expires:
            deadline = self._expires.get(key)
            if deadline is not None and self._clock() > deadline:
                self._remove(key)
                return None
        if self._evictor is not None:
            self._evictor.touch(key)
        if type(value) is str:
            return value
        if type(value) is bytes:
            try:
                return value.decode()
            except UnicodeDecodeError:
                raise ValueDecodeError(key) from None
        raise WrongTypeError()

    @handles(spec.GET_BYTES)
    async def get_bytes(self, key: str) -> bytes | None:
        value = self._lookup(key)
        if value is None:
            return None
        self._touch(key)
        if type(value) is bytes:
            return value
        if type(value) is str:
            return value.encode("utf-8", "surrogateescape")
        raise WrongTypeError()

    @handles(spec.INCRBY)
    async def incrby(self, key: str, amount: int) -> int:
        value = self._lookup(key)
        if value is None:
            result = add_checked(0, amount)
            self._create(key, str(result))
            return result
        if type(value) is not str and type(value) is not bytes:
            raise WrongTypeError()
        result = add_checked(parse_int(value), amount)
        self._data[key] = str(result)
        self._touch(key)
        return result
