"""The fault proxy itself, against a real server, spoken to with raw RESP (no aiokv).

The client and the proxy share one event loop, so "nothing arrived within 0.1 s" while the
proxy holds or swallows a reply is deterministic: the proxy cannot forward what it holds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest
from faultproxy import FaultProxy, RequestParser
from servers import RedisServer, ServerBinary


@pytest.fixture(scope="module")
def server(server_binary: ServerBinary) -> Iterator[RedisServer]:
    with RedisServer(server_binary) as server:
        yield server


@pytest.fixture
async def proxy(server: RedisServer) -> AsyncIterator[FaultProxy]:
    server.command("FLUSHDB")
    async with FaultProxy(server.address) as proxy:
        yield proxy


class Conn:
    """A raw RESP connection through the proxy."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, proxy: FaultProxy) -> Conn:
        reader, writer = await asyncio.open_connection(*proxy.address)
        return cls(reader, writer)

    def send(self, *args: str | int) -> None:
        parts = [f"*{len(args)}\r\n".encode()]
        for arg in args:
            data = str(arg).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self.writer.write(b"".join(parts))

    async def reply(self, timeout: float = 5.0) -> bytes:
        """One reply, as its first line (plus the payload of a bulk string)."""
        line = await asyncio.wait_for(self.reader.readline(), timeout)
        if not line:
            raise ConnectionResetError("EOF")
        if line.startswith(b"$") and int(line[1:]) >= 0:
            line += await asyncio.wait_for(self.reader.readexactly(int(line[1:]) + 2), timeout)
        return line

    async def call(self, *args: str | int) -> bytes:
        self.send(*args)
        return await self.reply()

    async def no_reply_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self.reader.readline(), seconds)
        except asyncio.TimeoutError:
            return True
        return False

    async def broken(self) -> bool:
        """True if the connection was reset or closed by the other end."""
        try:
            data = await asyncio.wait_for(self.reader.read(100), 5.0)
        except ConnectionError:
            return True
        return data == b""

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


def test_parser_splits_requests_across_chunks() -> None:
    parser = RequestParser()
    stream = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nv\n\r\nPING\r\n"
    found = []
    for i in range(0, len(stream), 5):
        found += parser.feed(stream[i : i + 5])
    assert found == [(b"GET", b"k"), (b"SET", b"k", b"v\n"), (b"PING",)]
    assert parser.feed(b"*1\r\n$4\r\nPI") == []
    assert parser.feed(b"NG\r\n") == [(b"PING",)]


async def test_forwards_and_counts_connections(proxy: FaultProxy) -> None:
    conn = await Conn.open(proxy)
    assert await conn.call("PING") == b"+PONG\r\n"
    assert await conn.call("SET", "k", "v") == b"+OK\r\n"
    assert await conn.call("GET", "k") == b"$1\r\nv\r\n"
    assert proxy.commands == [(b"PING",), (b"SET", b"k", b"v"), (b"GET", b"k")]
    assert proxy.count("get", b"SET") == 2
    assert (proxy.opened, proxy.open, proxy.peak) == (1, 1, 1)
    await conn.close()
    assert await proxy.wait_all_closed()
    assert (proxy.opened, proxy.closed) == (1, 1)


async def test_delay_holds_each_reply_back(proxy: FaultProxy) -> None:
    conn = await Conn.open(proxy)
    proxy.delay(0.3)
    conn.send("PING")
    assert await conn.no_reply_within(0.1)
    assert await conn.reply() == b"+PONG\r\n"
    proxy.delay(0)
    assert await conn.call("PING") == b"+PONG\r\n"
    await conn.close()


async def test_hold_replies_lets_requests_through(proxy: FaultProxy, server: RedisServer) -> None:
    conn = await Conn.open(proxy)
    proxy.hold(requests=False)
    conn.send("INCR", "n")
    assert await conn.no_reply_within(0.1)
    assert server.command("GET", "n") == b"1"  # the server ran it; the reply waits
    proxy.release()
    assert await conn.reply() == b":1\r\n"
    await conn.close()


async def test_hold_requests_keeps_them_from_the_server(
    proxy: FaultProxy, server: RedisServer
) -> None:
    conn = await Conn.open(proxy)
    assert await conn.call("PING") == b"+PONG\r\n"
    proxy.hold()
    conn.send("INCR", "n")
    assert await conn.no_reply_within(0.1)
    assert server.command("GET", "n") is None
    assert proxy.open == 1  # nothing was closed
    proxy.release()
    assert await conn.reply() == b":1\r\n"
    await conn.close()


async def test_blackhole_swallows_open_and_new_connections(proxy: FaultProxy) -> None:
    old = await Conn.open(proxy)
    assert await old.call("PING") == b"+PONG\r\n"
    proxy.blackhole()
    old.send("PING")
    new = await Conn.open(proxy)
    new.send("PING")
    assert await old.no_reply_within(0.1)
    assert await new.no_reply_within(0.1)
    assert proxy.commands == [(b"PING",)]
    proxy.heal()
    fresh = await Conn.open(proxy)
    assert await fresh.call("PING") == b"+PONG\r\n"
    for conn in (old, new, fresh):
        await conn.close()
    assert await proxy.wait_all_closed()


async def test_drop_all_resets_every_connection(proxy: FaultProxy) -> None:
    conns = [await Conn.open(proxy) for _ in range(3)]
    for conn in conns:
        assert await conn.call("PING") == b"+PONG\r\n"
    proxy.drop_all()
    for conn in conns:
        assert await conn.broken()
        await conn.close()
    assert await proxy.wait_all_closed()
    assert proxy.opened == 3


async def test_reset_after_forward_runs_the_command_once_and_loses_the_reply(
    proxy: FaultProxy, server: RedisServer
) -> None:
    conn = await Conn.open(proxy)
    proxy.reset_after_forward(match="INCR")
    assert await conn.call("PING") == b"+PONG\r\n"  # not a match: untouched
    assert await conn.call("GET", "n") == b"$-1\r\n"
    conn.send("INCR", "n")
    assert await conn.broken()
    assert server.command("GET", "n") == b"1"
    assert proxy.resets == 1
    await conn.close()
    again = await Conn.open(proxy)  # only the next match was reset
    assert await again.call("INCR", "n") == b":2\r\n"
    await again.close()


async def test_reset_after_forward_n_times_with_several_names(
    proxy: FaultProxy, server: RedisServer
) -> None:
    proxy.reset_after_forward(2, match=[b"incrby", "DECR"])
    for command in (("INCRBY", "n", 5), ("DECR", "n")):
        conn = await Conn.open(proxy)
        conn.send(*command)
        assert await conn.broken()
        await conn.close()
    conn = await Conn.open(proxy)
    assert await conn.call("INCRBY", "n", 5) == b":9\r\n"
    await conn.close()
    assert proxy.resets == 2
    assert server.command("GET", "n") == b"9"


async def test_reset_new_connections_forwards_nothing(proxy: FaultProxy) -> None:
    proxy.reset_new_connections(1)
    first = await Conn.open(proxy)
    first.send("PING")
    assert await first.broken()
    await first.close()
    second = await Conn.open(proxy)
    assert await second.call("PING") == b"+PONG\r\n"
    await second.close()
    assert proxy.commands == [(b"PING",)]


async def test_server_down_resets_the_client(server_binary: ServerBinary) -> None:
    with RedisServer(server_binary) as own:
        address = own.address
    async with FaultProxy(address) as proxy:  # nothing listens there now
        conn = await Conn.open(proxy)
        assert await conn.broken()
        await conn.close()
        assert await proxy.wait_all_closed()


async def test_aclose_closes_every_connection(server: RedisServer) -> None:
    proxy = await FaultProxy(server.address).start()
    conns = [await Conn.open(proxy) for _ in range(2)]
    assert await conns[0].call("PING") == b"+PONG\r\n"
    proxy.hold()
    conns[1].send("PING")
    await proxy.aclose()
    assert proxy.open == 0
    for conn in conns:
        assert await conn.broken()
        await conn.close()
    await proxy.aclose()  # idempotent
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(*proxy.address)
