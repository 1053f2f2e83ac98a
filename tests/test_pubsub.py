"""Publish/subscribe on both drivers: reply counts, Redis glob patterns, the bounded buffer;
and on a server, resubscribing after the connection drops."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from faultproxy import FaultProxy
from servers import RedisServer

from aiokv import AsyncClient, ClientClosedError, InvalidArgumentError, Message, Subscription


async def drain(sub: Subscription, count: int) -> list[Message]:
    got: list[Message] = []
    for _ in range(count):
        message = await sub.get(5)
        assert message is not None, f"only {len(got)} of {count} messages came"
        got.append(message)
    return got


async def test_publish_without_subscribers_reaches_nobody(kv: AsyncClient) -> None:
    assert await kv.publish("nobody", "hello") == 0


async def test_channel_and_pattern_messages(kv: AsyncClient) -> None:
    async with kv.subscribe("orders", patterns=["news.*", "n*"]) as sub:
        assert await kv.publish("orders", "o1") == 1
        assert await kv.publish("news.tech", "n1") == 2  # two matching patterns: two copies
        assert await kv.publish("other", "x") == 0
        first, *rest = await drain(sub, 3)
        assert first == Message("orders", None, "o1")
        assert sorted(rest, key=lambda m: str(m.pattern)) == [
            Message("news.tech", "n*", "n1"),
            Message("news.tech", "news.*", "n1"),
        ]
        assert await sub.get(0.05) is None
    assert await kv.publish("orders", "after") == 0  # unsubscribed on exit


async def test_counts_add_up_over_subscriptions(kv: AsyncClient) -> None:
    async with kv.subscribe("a", "b") as one, kv.subscribe("a", patterns=["[ab]"]) as two:
        assert await kv.publish("a", "1") == 3
        assert await kv.publish("b", "2") == 2
        assert [m.data for m in await drain(one, 2)] == ["1", "2"]
        assert {(m.pattern, m.data) for m in await drain(two, 3)} == {
            (None, "1"),
            ("[ab]", "1"),
            ("[ab]", "2"),
        }


@pytest.mark.parametrize(
    ("pattern", "channel", "matches"),
    [
        ("h?llo", "hello", True),
        ("h?llo", "hllo", False),
        ("h[^e]llo", "hallo", True),
        ("h[^e]llo", "hello", False),
        ("h[!e]llo", "h!llo", True),  # "!" is no negation in Redis globs
        ("h[a-b]llo", "hbllo", True),
        ("h[b-a]llo", "hallo", True),  # reversed ranges work
        ("news.\\*", "news.*", True),
        ("news.\\*", "news.x", False),
        ("*", "", False),  # a server's stringmatchlen: no pattern but "" matches ""
        ("", "", True),
        ("a*", "a", True),
        ("caf\u00e9*", "caf\u00e9-au-lait", True),
    ],
)
async def test_pattern_rules_are_redis_globs(
    kv: AsyncClient, pattern: str, channel: str, matches: bool
) -> None:
    async with kv.subscribe(patterns=[pattern]) as sub:
        assert await kv.publish(channel, "m") == int(matches)
        if matches:
            assert await sub.get(5) == Message(channel, pattern, "m")


async def test_data_is_text(kv: AsyncClient) -> None:
    async with kv.subscribe("t") as sub:
        await kv.publish("t", "é ✓")
        await kv.publish("t", b"raw")
        await kv.publish("t", 42)
        assert [m.data for m in await drain(sub, 3)] == ["é ✓", "raw", "42"]


async def test_a_slow_consumer_keeps_the_newest_messages(kv: AsyncClient) -> None:
    async with kv.subscribe("fast", buffer=3) as sub:
        for n in range(10):
            assert await kv.publish("fast", str(n)) == 1
        while sub.dropped < 7:  # noqa: ASYNC110 (a server's messages are still coming in)
            await asyncio.sleep(0.005)
        assert [m.data for m in await drain(sub, 3)] == ["7", "8", "9"]
        assert sub.dropped == 7
        assert await sub.get(0.05) is None


async def test_iteration(kv: AsyncClient) -> None:
    async with kv.subscribe("it") as sub:
        for n in range(3):
            await kv.publish("it", str(n))
        got = []
        async for message in sub:
            got.append(message.data)
            if len(got) == 3:
                break
        assert got == ["0", "1", "2"]


async def test_channels_are_not_prefixed(
    make_client: Callable[..., AsyncClient], driver: str
) -> None:
    async with (
        make_client(key_prefix="app:") as prefixed,
        make_client() as plain,
        prefixed.subscribe("events") as sub,
    ):
        assert await prefixed.publish("events", "x") == 1
        assert await sub.get(5) == Message("events", None, "x")
        if driver == "redis":  # two clients of one server (memory clients share nothing)
            assert await plain.publish("events", "y") == 1
            assert await sub.get(5) == Message("events", None, "y")


async def test_bad_arguments(kv: AsyncClient) -> None:
    with pytest.raises(InvalidArgumentError):
        kv.subscribe()
    with pytest.raises(InvalidArgumentError):
        kv.subscribe("a", buffer=0)
    with pytest.raises(TypeError):
        kv.publish(1, "x")  # type: ignore[arg-type]
    sub = kv.subscribe("a")
    with pytest.raises(InvalidArgumentError):
        await sub.get(0.01)


async def test_a_publisher_and_subscriber_pair(kv: AsyncClient) -> None:
    """The shape of an application test: it runs without a server on the memory driver."""
    received: list[str] = []

    async def listener(ready: asyncio.Event) -> None:
        async with kv.subscribe(patterns=["user.*"]) as sub:
            ready.set()
            async for message in sub:
                received.append(f"{message.channel}:{message.data}")
                if message.data == "stop":
                    return

    ready = asyncio.Event()
    task = asyncio.ensure_future(listener(ready))
    await ready.wait()
    for event in ("signup", "login", "stop"):
        assert await kv.publish("user.42", event) == 1
    await task
    assert received == ["user.42:signup", "user.42:login", "user.42:stop"]


async def test_redis_resubscribes_after_the_connection_drops(redis_server: RedisServer) -> None:
    async with (
        FaultProxy(redis_server.address) as proxy,
        AsyncClient(driver="redis", url=proxy.url(), retry_backoff_cap=0.05) as via_proxy,
        AsyncClient(driver="redis", url=redis_server.url) as direct,
    ):
        async with via_proxy.subscribe("ch", patterns=["p.*"]) as sub:
            assert await direct.publish("ch", "before") == 2 - 1
            assert (await sub.get(5) or Message("", None, "")).data == "before"
            proxy.drop_all()
            while sub.reconnects == 0:  # noqa: ASYNC110 (no event for a reconnection)
                await asyncio.sleep(0.01)
            assert await direct.publish("ch", "after") == 1
            assert await direct.publish("p.x", "pattern") == 1
            assert [m.data for m in await drain(sub, 2)] == ["after", "pattern"]
        assert await direct.publish("ch", "gone") == 0


async def test_closing_the_client_ends_its_subscriptions(
    make_client: Callable[..., AsyncClient],
) -> None:
    kv = make_client()
    async with kv.subscribe("ch") as sub:
        await kv.aclose()
        with pytest.raises(ClientClosedError):
            await sub.get(5)
