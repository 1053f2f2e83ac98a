"""A TCP proxy that injects network faults between a client and a real server, for tests.

Put it in front of a server and point the client at :attr:`FaultProxy.url`::

    async with FaultProxy(server.address) as proxy:
        async with AsyncClient(url=proxy.url) as kv:
            proxy.reset_after_forward(match="INCRBY")
            await kv.incr("n")          # INCRBY runs once; its reply never arrives

Faults, each a method, each undone by :meth:`FaultProxy.heal`:

* :meth:`~FaultProxy.delay`: replies reach the client ``seconds`` late.
* :meth:`~FaultProxy.hold` / :meth:`~FaultProxy.release`: stop forwarding (requests, replies
  or both) without closing anything; held bytes wait in the proxy and the kernel, and flow on
  :meth:`~FaultProxy.release`.
* :meth:`~FaultProxy.blackhole`: swallow every byte both ways and never answer (new
  connections are accepted, then swallowed too), as a dead route does.
* :meth:`~FaultProxy.drop_all`: reset every open connection.
* :meth:`~FaultProxy.reset_new_connections`: reset the next connections as soon as they are
  accepted, before anything is forwarded (a failure while connecting).
* :meth:`~FaultProxy.reset_after_forward`: forward the next matching command to the server,
  wait for the server's reply (so the command has run, exactly once), drop that reply and reset
  the client's connection. The client sees a connection that broke after its write: the case
  where re-sending a write applies it twice.

The proxy reads the RESP requests that pass through it (to match command names and to log
them in :attr:`FaultProxy.commands`); it forwards the bytes as they came, chunk by chunk.
Connections are counted (:attr:`~FaultProxy.opened`, :attr:`~FaultProxy.closed`,
:attr:`~FaultProxy.open`, :attr:`~FaultProxy.peak`) so that tests can check for leaks.
"Reset" means an RST (``SO_LINGER`` 0, then close) to the client and a close to the server.

Everything runs on the event loop that entered the proxy; leaving the ``async with`` (or
:meth:`FaultProxy.aclose`) closes every connection and the listening socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import TracebackType

from typing_extensions import Self

__all__ = ["Command", "FaultProxy", "RequestParser"]

HOST = "127.0.0.1"
_CHUNK = 65536
# A command marked for reset whose reply has not come by then is reset anyway (a blocking
# command, a stopped server), so that no test waits forever for the fault it asked for.
_RESET_FALLBACK = 5.0
_LINGER_ZERO = struct.pack("ii", 1, 0)

Command = tuple[bytes, ...]
"""One request as the client sent it: the command name, then its arguments."""


class RequestParser:
    """Splits a stream of client bytes into RESP requests (arrays of bulk strings, or inline).

    ``feed`` takes whatever arrived and returns the requests it completed; a partial request
    waits for the next chunk.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Command]:
        """Add ``data``; return the requests now complete, in order (may be empty)."""
        self._buffer += data
        found: list[Command] = []
        while True:
            parsed = self._parse_one()
            if parsed is None:
                return found
            command, used = parsed
            del self._buffer[:used]
            if command:
                found.append(command)

    def _parse_one(self) -> tuple[Command, int] | None:
        buf = self._buffer
        end = buf.find(b"\r\n")
        if end < 0:
            return None
        if buf[:1] != b"*":  # an inline command: words on one line
            return tuple(bytes(buf[:end]).split()), end + 2
        count = int(buf[1:end])
        pos = end + 2
        parts: list[bytes] = []
        for _ in range(count):
            end = buf.find(b"\r\n", pos)
            if end < 0:
                return None
            if buf[pos : pos + 1] != b"$":
                raise ValueError(f"not a RESP request: {bytes(buf[:80])!r}")
            size = int(buf[pos + 1 : end])
            start = end + 2
            if len(buf) < start + size + 2:
                return None
            parts.append(bytes(buf[start : start + size]))
            pos = start + size + 2
        return tuple(parts), pos


@dataclass(eq=False)
class _Link:
    """One proxied connection: the client's side, the server's side and its fault state."""

    client: asyncio.StreamWriter
    server: asyncio.StreamWriter | None = None
    parser: RequestParser = field(default_factory=RequestParser)
    doomed: bool = False  # a command was forwarded that must lose its reply
    pumps: list[asyncio.Task[None]] = field(default_factory=list)
    fallback: asyncio.TimerHandle | None = None
    finished: asyncio.Event = field(default_factory=asyncio.Event)


class FaultProxy:
    """An asyncio TCP proxy on a free loopback port, in front of ``target``.

    Args:
        target: ``(host, port)`` of the real server.

    Use it as an async context manager (or call :meth:`start` and :meth:`aclose`).
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        #: Connections accepted so far.
        self.opened = 0
        #: Connections fully closed so far (both sides).
        self.closed = 0
        #: Most connections open at the same time.
        self.peak = 0
        #: Connections reset by :meth:`reset_after_forward` (the fault actually happened).
        self.resets = 0
        #: Every request forwarded to the server, in order.
        self.commands: list[Command] = []
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._delay = 0.0
        self._requests_flow = asyncio.Event()
        self._replies_flow = asyncio.Event()
        self._requests_flow.set()
        self._replies_flow.set()
        self._blackhole = False
        self._refuse = 0
        self._resets_left = 0
        self._reset_match: frozenset[bytes] | None = None
        self._port = 0

    # -- lifetime ----------------------------------------------------------------------------

    async def start(self) -> Self:
        """Listen on a free loopback port; returns ``self``."""
        self._server = await asyncio.start_server(self._accept, HOST, 0)
        self._port = self._server.sockets[0].getsockname()[1]
        return self

    async def aclose(self) -> None:
        """Stop listening and close every connection. Safe to call more than once."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        self.heal()
        links = list(self._links)
        for link in links:
            self._reset(link)
        for link in links:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(link.finished.wait(), 5.0)
        if server is not None:
            await server.wait_closed()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def port(self) -> int:
        """The port the proxy listens on (0 before :meth:`start`)."""
        return self._port

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` of the proxy."""
        return HOST, self._port

    def url(self, db: int = 0, password: str | None = None) -> str:
        """A ``redis://`` URL that reaches the target through the proxy."""
        auth = f":{password}@" if password else ""
        return f"redis://{auth}{HOST}:{self._port}/{db}"

    @property
    def open(self) -> int:
        """Connections open now."""
        return self.opened - self.closed

    async def wait_all_closed(self, timeout: float = 5.0) -> bool:
        """Wait up to ``timeout`` seconds for every connection to close; True if they did."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.open:
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    def count(self, *names: str | bytes) -> int:
        """How many forwarded requests have one of these command names (case-insensitive)."""
        wanted = _names(names)
        return sum(1 for command in self.commands if command[0].upper() in wanted)

    # -- faults ------------------------------------------------------------------------------

    def delay(self, seconds: float) -> None:
        """Deliver every reply chunk ``seconds`` after it arrived from the server (0: undo)."""
        self._delay = seconds

    def hold(self, *, requests: bool = True, replies: bool = True) -> None:
        """Stop forwarding requests and/or replies, closing nothing, until :meth:`release`."""
        if requests:
            self._requests_flow.clear()
        if replies:
            self._replies_flow.clear()

    def release(self) -> None:
        """Forward again whatever :meth:`hold` kept back, and everything after it."""
        self._requests_flow.set()
        self._replies_flow.set()

    def blackhole(self) -> None:
        """Swallow every byte in both directions, on open and new connections, until heal()."""
        self._blackhole = True

    def drop_all(self) -> None:
        """Reset every open connection (RST to the client, close to the server)."""
        for link in list(self._links):
            self._reset(link)

    def reset_new_connections(self, n: int = 1) -> None:
        """Reset the next ``n`` accepted connections at once, before forwarding anything."""
        self._refuse = n

    def reset_after_forward(
        self, n: int = 1, match: str | bytes | Iterable[str | bytes] | None = None
    ) -> None:
        """Lose the reply of the next ``n`` matching requests, after the server ran them.

        Each time a chunk from a client completes a request whose command name is ``match``
        (a name or several, case-insensitive; None: any request), the chunk is forwarded as
        usual; when the server's reply comes, it is dropped and that connection is reset.
        :attr:`resets` counts the connections reset so.
        """
        self._resets_left = n
        if match is None:
            self._reset_match = None
        else:
            self._reset_match = _names([match] if isinstance(match, (str, bytes)) else match)

    def heal(self) -> None:
        """Undo every fault: no delay, nothing held, no black hole, no pending reset."""
        self._delay = 0.0
        self._blackhole = False
        self._refuse = 0
        self._resets_left = 0
        self._reset_match = None
        self.release()

    # -- the connections ---------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = _Link(client=writer)
        self._links.add(link)
        self.opened += 1
        self.peak = max(self.peak, self.open)
        try:
            await self._serve(link, reader)
        finally:
            self._reset(link)
            if link.fallback is not None:
                link.fallback.cancel()
            self._links.discard(link)
            self.closed += 1
            link.finished.set()

    async def _serve(self, link: _Link, client_reader: asyncio.StreamReader) -> None:
        if self._refuse > 0:
            self._refuse -= 1
            return
        if self._blackhole:
            await _drain(client_reader)  # until the client gives up (or drop_all, aclose)
            return
        try:
            server_reader, link.server = await asyncio.open_connection(*self.target)
        except OSError:
            return  # the server is down: the client sees its connection reset
        link.pumps = [
            asyncio.create_task(self._requests(link, client_reader)),
            asyncio.create_task(self._replies(link, server_reader)),
        ]
        try:
            await asyncio.wait(link.pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in link.pumps:
                pump.cancel()
            await asyncio.gather(*link.pumps, return_exceptions=True)

    async def _requests(self, link: _Link, reader: asyncio.StreamReader) -> None:
        assert link.server is not None
        while True:
            data = await _read(reader)
            if not data:
                return
            if self._blackhole:
                continue
            await self._requests_flow.wait()
            commands = link.parser.feed(data)
            if self._resets_left > 0 and any(self._matches(c) for c in commands):
                self._resets_left -= 1
                link.doomed = True
                link.fallback = asyncio.get_running_loop().call_later(
                    _RESET_FALLBACK, self._lose_reply, link
                )
            self.commands.extend(commands)
            if not await _write(link.server, data):
                return

    async def _replies(self, link: _Link, reader: asyncio.StreamReader) -> None:
        while True:
            data = await _read(reader)
            if not data:
                return
            if link.doomed:
                self._lose_reply(link)
                return
            if self._blackhole:
                continue
            await self._replies_flow.wait()
            if self._delay > 0:
                await asyncio.sleep(self._delay)
            if not await _write(link.client, data):
                return

    def _lose_reply(self, link: _Link) -> None:
        if link.fallback is not None:
            link.fallback.cancel()
        if not link.client.is_closing():
            self.resets += 1
        self._reset(link)

    def _matches(self, command: Command) -> bool:
        return self._reset_match is None or command[0].upper() in self._reset_match

    def _reset(self, link: _Link) -> None:
        """RST the client side, close the server side and stop the pumps (idempotent)."""
        if not link.client.is_closing():
            sock = link.client.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
            link.client.transport.abort()
        if link.server is not None and not link.server.is_closing():
            link.server.transport.abort()
        current = asyncio.current_task()
        for pump in link.pumps:
            if pump is not current:
                pump.cancel()


def _names(names: Iterable[str | bytes]) -> frozenset[bytes]:
    return frozenset((n.encode() if isinstance(n, str) else n).upper() for n in names)


async def _read(reader: asyncio.StreamReader) -> bytes:
    """The next chunk, or b"" at EOF or when the connection broke."""
    try:
        return await reader.read(_CHUNK)
    except OSError:
        return b""


async def _write(writer: asyncio.StreamWriter, data: bytes) -> bool:
    """Write ``data``; False if the connection is gone."""
    if writer.is_closing():
        return False
    try:
        writer.write(data)
        await writer.drain()
    except OSError:
        return False
    return True


async def _drain(reader: asyncio.StreamReader) -> None:
    """Read and discard until EOF."""
    while await _read(reader):
        pass
