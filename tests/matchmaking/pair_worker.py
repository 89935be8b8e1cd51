"""One pairing process for the multi-process test: pairs until a full pass finds nothing.

Usage: python -m tests.matchmaking.pair_worker REDIS_URL PREFIX NOW_MS GO_KEY
Prints one JSON object: {"pairs": [[room_id, ticket_a, ticket_b], ...]}.
"""

from __future__ import annotations

import asyncio
import json
import sys

from redis.asyncio import Redis

from matchmaking import MatchConfig, Matchmaker, QueueSpec
from tests.matchmaking.support import InMemoryStakes

QUEUE = QueueSpec("quiz", "KES", 10_000)
MAX_PASSES = 10_000
BATCH = 25  # small batches so the two processes interleave


async def main(redis_url: str, prefix: str, now_ms: int, go_key: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        mm = Matchmaker(redis, prefix, money=InMemoryStakes(), clock=lambda: now_ms,
                        config=MatchConfig())
        await redis.rpush(f"{go_key}:ready", "1")
        assert await redis.blpop([go_key], timeout=60), "never told to start"
        pairs: list[list[str]] = []
        for _ in range(MAX_PASSES):
            made = await mm.pair_once(QUEUE, BATCH)
            pairs.extend([m.room_id, m.tickets[0].id, m.tickets[1].id] for m in made)
            if not made:
                break
        else:
            raise AssertionError("pairing did not settle")
        print(json.dumps({"pairs": pairs}))
    finally:
        await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]))
