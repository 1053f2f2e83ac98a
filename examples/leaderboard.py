"""A game leaderboard on sorted sets: scores, ranks, the top N, and a weekly board.

Each day's board is a sorted set of player -> score. ``zadd(..., gt=True)`` keeps a player's
best score (a worse game changes nothing); ``zincrby`` adds bonus points; ``zrange(rev=True)``
reads the top N and ``zrevrank`` a player's place (0 is first). Ties are broken by the
player's name (bytes order), as on a server. ``zunionstore`` sums the days into a weekly
board; ``zremrangebyrank`` keeps a board to its best N. Every read and write is one command,
so concurrent games never lose an update.

Run it with::

    python examples/leaderboard.py
"""

from __future__ import annotations

import asyncio

from aiokv import AsyncClient

# One hash tag for every board, so the weekly ZUNIONSTORE also runs on Redis Cluster.
DAYS = ["{board}:mon", "{board}:tue"]
WEEK = "{board}:week"


async def record_game(kv: AsyncClient, day: str, player: str, score: int) -> bool:
    """Keep the player's best score of the day; True if this game improved it."""
    return await kv.zadd(day, {player: score}, gt=True, ch=True) == 1


async def show_top(kv: AsyncClient, board: str, n: int) -> None:
    top = await kv.zrange(board, 0, n - 1, rev=True, withscores=True)
    print(f"top {n} of {board}:")
    for place, (player, score) in enumerate(top, start=1):
        print(f"  {place}. {player:<6} {score:g}")


async def main() -> None:
    async with AsyncClient(key_prefix="example:leaderboard:") as kv:
        monday, tuesday = DAYS
        games = [("ann", 120), ("bob", 90), ("cid", 150), ("ann", 100), ("dee", 90), ("bob", 130)]
        for player, score in games:
            improved = await record_game(kv, monday, player, score)
            print(f"monday: {player} scored {score}" + ("" if improved else " (not a best)"))
        await show_top(kv, monday, 3)

        # Ranks count from 0, best first with zrevrank.
        rank = await kv.zrevrank(monday, "ann")
        assert rank is not None
        print("ann is number", rank + 1, "with", await kv.zscore(monday, "ann"))
        print("players between 100 and 140:", await kv.zcount(monday, 100, 140))

        await kv.zadd(tuesday, {"dee": 200, "ann": 80, "eve": 110})
        print("tuesday bonus: eve now has", await kv.zincrby(tuesday, 25, "eve"))

        players = await kv.zunionstore(WEEK, *DAYS)
        print(f"weekly board: {players} players, points summed over the days")
        await show_top(kv, WEEK, 3)

        # Keep only the best three: drop every rank below them (ascending ranks 0 to -4).
        dropped = await kv.zremrangebyrank(WEEK, 0, -4)
        print("trimmed to the top 3, dropped", dropped, "->", await kv.zcard(WEEK), "left")
        print("bob on the weekly board:", await kv.zrevrank(WEEK, "bob"))  # None: dropped

        await kv.delete(*DAYS, WEEK)


if __name__ == "__main__":
    asyncio.run(main())
