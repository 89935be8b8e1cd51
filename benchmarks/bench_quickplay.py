"""Quick-games benchmark: fair draws per second and bets committed per second.

    python -m benchmarks.bench_quickplay [--players 50] [--bets 2000] [--concurrency 32] [--write]

Run from the repository root. Uses DATABASE_URL / REDIS_URL if set, else starts
embedded Postgres/Redis in a temporary directory; a fresh database is created
and dropped. Figures:

- draws: `fair.draw_int` (HMAC-SHA256 + rejection sampling), one core;
- bets: `place_bet` (seed lock, limits, draw, ledger.apply of stake and payout,
  bet row, one transaction) from `--concurrency` tasks over distinct players.

`--write` replaces the "## Quick games" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

from ledger import TransferRequest
from loadtest.report import cpu_model, replace_section
from rooms.games.quick import fair
from server.app import build_state, close_state
from server.auth.users import get_or_create_user_by_phone
from server.config import Settings
from server.embedded import Services, start_services
from server.features.quickplay.service import place_bet

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "benchmarks.md"
SECTION = "## Quick games"
MAX_BETS = 100_000
MAX_DRAWS = 2_000_000


def bench_draws(n: int) -> float:
    seed = b"\x07" * 32
    started = time.perf_counter()
    for nonce in range(n):
        fair.draw_int(fair.DrawInput(seed, "bench", nonce), 1000)
    return n / (time.perf_counter() - started)


async def bench_bets(services: Services, data_dir: Path, players: int, bets: int,
                     concurrency: int) -> tuple[float, list[float]]:
    settings = Settings(data_dir=data_dir, database_url=services.database_url,
                        redis_url=services.redis_url, jwt_secret="bench-" + "x" * 40,
                        quick_daily_max_minor=10**12, log_level="WARNING")
    state = await build_state(settings, services)
    try:
        users = []
        for i in range(players):
            u = await get_or_create_user_by_phone(state.pool, f"+2547{i:08d}")
            await state.ledger.transfer(TransferRequest(
                uuid.uuid4(), "world", f"user:{u.id}", 10**9, "KES", code="deposit"))
            users.append(u.id)
        latencies: list[float] = []
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(bets):
            queue.put_nowait(i)

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                t0 = time.perf_counter()
                await place_bet(state, users[i % players], "wheel", 1_000, {}, channel="ws",
                                idem_key=f"bench-{i}")
                latencies.append(time.perf_counter() - t0)

        started = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(concurrency)])
        elapsed = time.perf_counter() - started
        return bets / elapsed, latencies
    finally:
        await close_state(state, stop_services=False)


async def with_fresh_database(services: Services) -> tuple[Services, str]:
    name = f"mp_bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(services.database_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    head = services.database_url.partition("?")[0].rpartition("/")[0]
    return Services(f"{head}/{name}", services.redis_url), name


async def drop_database(services: Services, name: str) -> None:
    conn = await asyncpg.connect(services.database_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--players", type=int, default=50)
    ap.add_argument("--bets", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--draws", type=int, default=200_000)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    assert 1 <= args.bets <= MAX_BETS and 1 <= args.draws <= MAX_DRAWS
    assert 1 <= args.players <= 10_000 and 1 <= args.concurrency <= 256

    draws_per_s = bench_draws(args.draws)
    with tempfile.TemporaryDirectory(prefix="mp-bench-") as tmp:
        base = start_services(os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL"),
                              Path(tmp))
        try:
            services, name = asyncio.run(with_fresh_database(base))
            try:
                bets_per_s, lat = asyncio.run(bench_bets(services, Path(tmp), args.players,
                                                         args.bets, args.concurrency))
            finally:
                asyncio.run(drop_database(base, name))
        finally:
            base.stop()
    lat.sort()
    p50 = statistics.median(lat) * 1000
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
    command = "python -m benchmarks.bench_quickplay " + " ".join(sys.argv[1:])
    text = (
        f"{SECTION}\n\n"
        f"- command: `{command.strip()}`\n"
        f"- machine: {os.cpu_count()} CPUs ({cpu_model()}), Python {platform.python_version()}\n"
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC\n"
        f"- services: {'external' if os.environ.get('DATABASE_URL') else 'embedded'} Postgres\n\n"
        "| figure | value |\n|---|---|\n"
        f"| fair draws (HMAC-SHA256, n=1000), one core | {draws_per_s:,.0f} /s |\n"
        f"| wheel bets committed ({args.bets} bets, {args.players} players,"
        f" {args.concurrency} tasks) | {bets_per_s:,.0f} /s |\n"
        f"| bet latency p50 / p99 | {p50:.1f} ms / {p99:.1f} ms |\n"
    )
    print(text)
    if args.write:
        replace_section(text, SECTION)


if __name__ == "__main__":
    main()
