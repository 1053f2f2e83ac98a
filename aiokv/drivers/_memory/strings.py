"""Memory handlers for the string commands (:mod:`aiokv.commands.strings`)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from ..._codec import add_checked, normalize_key, parse_int
from ..._exceptions import (
    CommandError,
    InvalidArgumentError,
    OutOfMemoryError,
    ValueDecodeError,
    WrongTypeError,
)
from ...commands import strings as spec
from . import longdouble
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

    # -- SET's options, multi-key reads and writes --------------------------------------------

    @handles(spec.SET_OPTS)
    async def set_opts(
        self,
        key: str,
        value: str | bytes,
        px: int | None,
        pxat: int | None,
        keepttl: bool,
        nx: bool,
        xx: bool,
    ) -> bool:
        return self._set_with(key, value, px, pxat, keepttl, nx, xx, False)[0]

    @handles(spec.SET_GET)
    async def set_get(
        self,
        key: str,
        value: str | bytes,
        px: int | None,
        pxat: int | None,
        keepttl: bool,
        nx: bool,
        xx: bool,
    ) -> str | None:
        return self._set_with(key, value, px, pxat, keepttl, nx, xx, True)[1]

    def _set_with(
        self,
        key: str,
        value: str | bytes,
        px: int | None,
        pxat: int | None,
        keepttl: bool,
        nx: bool,
        xx: bool,
        get: bool,
    ) -> tuple[bool, str | None]:
        """SET with every option; returns (written, previous text if ``get``)."""
        if px is not None and px > HUGE_MS:
            check_expire_ms(px, "set")
        if type(value) is str and not value.isascii():
            value = string_value(value)
        current = self._lookup(key)
        old = None
        if get and current is not None:
            old = _text_of(current)  # WRONGTYPE here: nothing is written
        if (nx and current is not None) or (xx and current is None):
            return False, old
        ms_left = 0.0 if pxat is None else pxat - wall_ms()
        if pxat is not None and ms_left <= 0:
            # Already past: the key is written and expires at once (nothing to see of it).
            if current is not None:
                self._remove(key)
            return True, old
        if current is None:
            self._create(key, value)
        else:
            self._data[key] = value
        if px is not None:
            self._set_deadline(key, px)
        elif pxat is not None:
            expire_in(self, key, ms_left)
        elif not keepttl and self._expires:
            self._clear_deadline(key)
        return True, old

    @handles(spec.MGET)
    async def mget(self, keys: Sequence[str]) -> list[str | None]:
        found: list[str | None] = []
        for key in keys:
            value = self._lookup(key)
            if type(value) is str:
                found.append(value)
            elif type(value) is bytes:
                found.append(value.decode("utf-8", "surrogateescape"))
            else:  # a miss, or another type: MGET answers nil for both
                found.append(None)
                continue
            self._touch(key)
        return found

    @handles(spec.MSET)
    async def mset(self, pairs: Sequence[tuple[str, str | bytes]]) -> bool:
        self._write_strings([key for key, _ in pairs], [_canonical(value) for _, value in pairs])
        return True

    @handles(spec.MSETNX)
    async def msetnx(self, pairs: Sequence[tuple[str, str | bytes]]) -> bool:
        keys = [key for key, _ in pairs]
        stored = [_canonical(value) for _, value in pairs]
        if any(self._lookup(key) is not None for key in keys):
            return False
        self._write_strings(keys, stored)
        return True

    def _write_strings(self, keys: Sequence[str], values: Sequence[str | bytes]) -> None:
        """Store several strings with no TTL, new keys first.

        Under a key bound, new keys are created first; if one cannot be (an out-of-memory
        refusal), the keys created so far are removed again and nothing else has changed.
        """
        data = self._data
        for key in keys:
            self._lookup(key)  # an expired key is dropped: it is written as a new key
        if self._evictor is not None:
            created: list[str] = []
            try:
                for key, value in zip(keys, values, strict=True):
                    if key not in data:
                        self._create(key, value)
                        created.append(key)
            except OutOfMemoryError:
                for key in created:
                    if key in data:
                        self._remove(key)
                raise
        for key, value in zip(keys, values, strict=True):
            if key not in data:
                self._create(key, value)  # only if an eviction just took it
            else:
                data[key] = value
            if self._expires:
                self._clear_deadline(key)

    # -- reads that write ---------------------------------------------------------------------

    @handles(spec.GETDEL)
    async def getdel(self, key: str) -> str | None:
        value = self._lookup(key)
        if value is None:
            return None
        found = _text_of(value)
        self._remove(key)
        return found

    @handles(spec.GETEX)
    async def getex(self, key: str, px: int | None, pxat: int | None, persist: bool) -> str | None:
        value = self._lookup(key)
        if value is None:
            return None  # before the expire time is checked, as on a server
        found = _text_of(value)
        if px is not None:
            if px > HUGE_MS:
                check_expire_ms(px, "getex")
            self._set_deadline(key, px)
        elif pxat is not None:
            ms_left = pxat - wall_ms()
            if ms_left <= 0:
                self._remove(key)
            else:
                expire_in(self, key, ms_left)
        elif persist:
            self._clear_deadline(key)
        self._touch(key)
        return found

    @handles(spec.GETEX_PLAIN)
    async def getex_plain(self, key: str) -> str | None:
        value = self._lookup(key)
        if value is None:
            return None
        found = _text_of(value)
        self._touch(key)
        return found

    # -- numbers and byte ranges --------------------------------------------------------------

    @handles(spec.INCRBYFLOAT)
    async def incrbyfloat(self, key: str, amount: str) -> float:
        value = self._lookup(key)
        if value is not None and type(value) is not str and type(value) is not bytes:
            raise WrongTypeError()
        result = _add_float_text(value, amount)
        if value is None:
            self._create(key, result)
        else:
            self._data[key] = result
            self._touch(key)
        return float(result)

    @handles(spec.APPEND)
    async def append(self, key: str, value: str | bytes) -> int:
        value = _canonical(value)
        current = self._lookup(key)
        if current is None:
            self._create(key, value)
            return _byte_length(value)
        if type(current) is str and type(value) is str:
            joined: str | bytes = current + value
        elif type(current) is str or type(current) is bytes:
            joined = _bytes_of(current) + _bytes_of(value)
        else:
            raise WrongTypeError()
        length = _byte_length(joined)
        if length > MAX_STRING:
            raise CommandError(TOO_LONG)
        self._data[key] = joined
        self._touch(key)
        return length

    @handles(spec.STRLEN)
    async def strlen(self, key: str) -> int:
        value = self._lookup(key)
        if value is None:
            return 0
        if type(value) is not str and type(value) is not bytes:
            raise WrongTypeError()
        self._touch(key)
        return _byte_length(value)

    @handles(spec.GETRANGE)
    async def getrange(self, key: str, start: int, end: int) -> str:
        value = self._lookup(key)
        if value is None:
            return ""
        if type(value) is str and value.isascii():
            raw: str | bytes = value  # one byte per character: slice the text itself
        elif type(value) is str or type(value) is bytes:
            raw = _bytes_of(value)
        else:
            raise WrongTypeError()
        self._touch(key)
        size = len(raw)
        # Redis's getrangeCommand, step by step (its quirks included).
        if start < 0 and end < 0 and start > end:
            return ""
        if start < 0:
            start += size
        if end < 0:
            end += size
        start = max(start, 0)
        end = max(end, 0)
        if end >= size:
            end = size - 1
        if start > end or size == 0:
            return ""
        piece = raw[start : end + 1]
        return piece if type(piece) is str else piece.decode("utf-8", "surrogateescape")  # type: ignore[union-attr]

    @handles(spec.SETRANGE)
    async def setrange(self, key: str, offset: int, value: str | bytes) -> int:
        patch = _bytes_of(_canonical(value))
        current = self._lookup(key)
        if current is None:
            if not patch:
                return 0
            if offset + len(patch) > MAX_STRING:
                raise CommandError(TOO_LONG)
            self._create(key, _stored(bytes(offset) + patch))
            return offset + len(patch)
        if type(current) is not str and type(current) is not bytes:
            raise WrongTypeError()
        old = _bytes_of(current)
        if not patch:
            return len(old)
        if offset + len(patch) > MAX_STRING:
            raise CommandError(TOO_LONG)
        if offset > len(old):
            old += bytes(offset - len(old))
        new = old[:offset] + patch + old[offset + len(patch) :]
        self._data[key] = _stored(new)
        self._touch(key)
        return len(new)


MAX_STRING = 512 * 1024 * 1024  # proto-max-bulk-len's default
TOO_LONG = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"


def wall_ms() -> float:
    """Now on the wall clock, in ms: absolute expire times are converted at the command."""
    return time.time() * 1000


def expire_in(store: Store, key: str, ms: float) -> None:
    """Set the deadline of ``key`` ``ms`` (a float: no rounding) from now."""
    set_deadline_at(store, key, store._clock() + ms / 1000)


def set_deadline_at(store: Store, key: str, deadline: float) -> None:
    """Set the deadline of ``key`` to ``deadline`` on the store's clock (a TTL carried over)."""
    expires = store._expires
    old = expires.get(key)
    expires[key] = deadline
    second = int(deadline)
    if old is None or int(old) != second:
        store._refile(key, second, old)


def _canonical(value: str | bytes) -> str | bytes:
    """A value as stored: non-ASCII text as a server would hold it (see ``string_value``)."""
    if type(value) is str and not value.isascii():
        return string_value(value)
    return value


def _bytes_of(value: str | bytes) -> bytes:
    if type(value) is bytes:
        return value
    return value.encode("utf-8", "surrogateescape")  # type: ignore[union-attr]


def _byte_length(value: str | bytes) -> int:
    if type(value) is str and value.isascii():
        return len(value)
    return len(_bytes_of(value))


def _stored(raw: bytes) -> str | bytes:
    """Bytes built by a command, kept as text when they are UTF-8 (GET's fast path)."""
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw


def _text_of(value: object) -> str:
    """A string value as reply text (surrogate escapes for bytes that are not UTF-8).

    Raises:
        WrongTypeError: if ``value`` is a hash, list or set.
    """
    if type(value) is str:
        return value
    if type(value) is bytes:
        return value.decode("utf-8", "surrogateescape")
    raise WrongTypeError()


def _add_float_text(current: str | bytes | None, amount: str) -> str:
    """INCRBYFLOAT: the text Redis stores for ``current`` (None: missing) plus ``amount``.

    Raises:
        InvalidArgumentError: "ERR value is not a valid float" if either text is not a float Redis
            reads; "ERR increment would produce NaN or Infinity" for an infinite operand or sum.
    """
    step = longdouble.parse(amount)
    base = longdouble.parse(current) if current is not None else longdouble.parse("0")
    if step is None or base is None:
        raise InvalidArgumentError("ERR value is not a valid float")
    total = longdouble.add(base, step)
    if isinstance(step, float) or isinstance(base, float) or isinstance(total, float):
        raise CommandError("ERR increment would produce NaN or Infinity")
    return longdouble.human(total)
