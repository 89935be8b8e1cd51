"""The key proof: two OS processes pairing one queue at once never seat a ticket twice."""

from __future__ import annotations

import asyncio
import json
import random
import sys
from itertools import combinations

from redis.asyncio import Redis

from matchmaking import MatchConfig, QueueSpec, Ticket
from tests import support
from tests.matchmaking.support import ManualClock, make_matchmaker

TICKETS = 4_000
QUIZ = QueueSpec("quiz", "KES", 10_000)


def compatible(a: Ticket, b: Ticket, now_ms: int, cfg: MatchConfig) -> bool:
    gap = abs(a.rating - b.rating)
    return (
        a.user_id != b.user_id
        and gap <= cfg.window_for(now_ms - a.created_ms)
        and gap <= cfg.window_for(now_ms - b.created_ms)
    )


async def test_two_processes_pair_4000_tickets_without_seating_any_twice(
    redis: Redis, prefix: str, clock: ManualClock, test_services: support.TestServices
) -> None:
    mm, _ = make_matchmaker(redis, clock=clock, prefix=prefix)
    rng = random.Random(20261121)
    tickets: dict[str, Ticket] = {}
    for chunk in range(TICKETS // 100):
        batch = await asyncio.gather(*(
            mm.join(f"user{chunk * 100 + i}", "quiz", 10_000, "KES", rng.randint(700, 1300))
            for i in range(100)
        ))
        tickets.update((t.id, t) for t in batch)
        clock.advance(1_500)  # joins spread over 60 s: windows from ±50 to ±400
    assert len(tickets) == TICKETS

    go_key = f"{prefix}:go"
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.matchmaking.pair_worker",
            test_services.redis_url, prefix, str(clock.now_ms), go_key,
            cwd=support.REPO, stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    for _ in workers:
        assert await redis.blpop([f"{go_key}:ready"], timeout=60)
    await redis.rpush(go_key, "go", "go")
    outputs = await asyncio.wait_for(asyncio.gather(*(w.communicate() for w in workers)), 120)
    assert [w.returncode for w in workers] == [0, 0]
    per_process = [json.loads(out)["pairs"] for out, _ in outputs]

    assert all(per_process), "both processes should have made pairings"
    seated = [tid for pairs in per_process for _, a, b in pairs for tid in (a, b)]
    assert len(seated) == len(set(seated)), "a ticket was seated twice"
    rooms = [room for pairs in per_process for room, _, _ in pairs]
    assert len(rooms) == len(set(rooms))
    cfg = mm.config
    for pairs in per_process:
        for _, a, b in pairs:
            assert compatible(tickets[a], tickets[b], clock.now_ms, cfg)
    left = [t for tid, t in tickets.items() if tid not in set(seated)]
    assert await mm.queue_length(QUIZ) == len(left) == TICKETS - len(seated)
    for a, b in combinations(left, 2):
        assert not compatible(a, b, clock.now_ms, cfg), "a compatible pair was left waiting"
    assert len(seated) >= TICKETS * 0.95
