"""Pool settlement throughput: N bets graded and paid, beside the ledger's bare batch ceiling.

Set-up (not timed): a week with `--members` players drawn into pools of 100 (grants through
the ledger), `--events` events with moneyline/spread/total markets, and `--bets` bets spread
evenly over members and events, inserted set-based; each member's stakes are booked in the
ledger as one transfer (placing bets one by one is not what this measures). Then, timed:
1. settlement of every event (settle.settle_pending: grading, one ledger transfer per member
   and event, mirror rows, Redis boards pushed) — bets/s and seconds;
2. the ledger's bare batch ceiling in the same run: `Ledger.apply` of as many plain transfers
   as the settlement booked, in linked batches of the same size, no pool work — transfers/s.
Books are checked (`check_invariants`) at the end.

    python -m benchmarks.bench_pools --bets 20000 --members 1000 --events 10 [--write]
    python -m benchmarks.bench_pools --bets 1000000 --members 10000 --events 10 --write

Uses DATABASE_URL / REDIS_URL if set (a fresh database is created and dropped), else
embedded services. Every loop is bounded by the arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks.bench_quickplay import drop_database, with_fresh_database
from competitions.pools.weeks import Week
from ledger import HOUSE, Ledger, TransferRequest, transfer_id, user_account
from loadtest.report import cpu_model, replace_section
from server.app import build_state, close_state
from server.config import Settings
from server.embedded import Services, start_services
from server.features.pools import settle
from server.features.pools.board import Boards
from server.features.pools.events import Offer, upsert_event
from server.features.pools.service import PoolsService
from server.features.pools.settings import PoolsSettings

SECTION = "## Pool settlement"
MAX_BETS = 2_000_000
MAX_MEMBERS = 100_000
WEEK = Week(dt.date(2032, 3, 1))


async def run(services: Services, data_dir: Path, bets: int, members: int,
              events: int) -> dict[str, float]:
    settings = Settings(data_dir=data_dir, database_url=services.database_url,
                        redis_url=services.redis_url, jwt_secret="bench-" + "x" * 40,
                        redis_prefix=f"benchpools{uuid.uuid4().hex[:6]}", log_level="WARNING",
                        db_pool_max=8,
                        # The set-up inserts a million rows in single statements; the
                        # server's 10 s statement bound is for requests, not for this.
                        db_statement_timeout_ms=600_000, db_command_timeout_s=600.0)
    state = await build_state(settings, services)
    try:
        from rooms.clock import ManualClock

        clock = ManualClock(WEEK.start_ms - 3600_000)
        state.clock = clock
        cfg = PoolsSettings(job_interval_s=0, bet_max=10**9)
        svc = PoolsService(state, cfg, Boards(state))
        pool = state.pool
        await svc.ensure_week(WEEK)
        uids = [uuid.uuid4() for _ in range(members)]
        await pool.execute(
            "INSERT INTO users (id, phone_e164, display_name) SELECT u, '+1555' ||"
            " lpad(i::text, 9, '0'), 'p' || i FROM unnest($1::uuid[]) WITH ORDINALITY AS t(u, i)",
            uids)
        await pool.execute(
            "INSERT INTO pool_passes (week_id, user_id, source, created_ms)"
            " SELECT $1, u, 'admin', 0 FROM unnest($2::uuid[]) u", WEEK.id, uids)
        clock._now_ms = WEEK.start_ms
        assert await svc.run_draw(WEEK)
        evs = []
        for e in range(events):
            evs.append(await upsert_event(
                svc, ext_id=f"bench-{e}", sport="bench", home=f"H{e}", away=f"A{e}",
                commence_ms=WEEK.start_ms + 3600_000 * (e + 2), three_way=False, offers=[
                    Offer("moneyline", "home", None, -150), Offer("moneyline", "away", None, 130),
                    Offer("spread", "home", -3.5, -110), Offer("spread", "away", 3.5, -110),
                    Offer("total", "over", 44.5, -110), Offer("total", "under", 44.5, -110)]))
        sel_ids = [uuid.UUID(s["id"]) for ev in evs for s in ev["selections"]]
        # bets: bet i -> member i % members, event (i // members) % events, selection by i
        await pool.execute("""
            INSERT INTO pool_bets (id, member_id, week_id, pool_id, user_id, event_id,
                selection_id, market, side, line_tenths, three_way, odds, stake,
                potential_return, client_key, placed_ms)
            SELECT gen_random_uuid(), m.id, m.week_id, m.pool_id, m.user_id, s.event_id, s.id,
                s.market, s.side, s.line_tenths, false, s.odds, 1,
                1 + CASE WHEN s.odds > 0 THEN s.odds / 100 ELSE 100 / (-s.odds) END,
                'b' || g.i, 0
            FROM generate_series(0, $1 - 1) AS g(i)
            JOIN (SELECT id, week_id, pool_id, user_id, row_number() OVER (ORDER BY id) - 1 AS k
                  FROM pool_members WHERE week_id = $2) m ON m.k = g.i % $3
            JOIN (SELECT id, event_id, market, side, line_tenths, odds,
                         row_number() OVER (ORDER BY event_id, market, side) - 1 AS k
                  FROM pool_selections WHERE id = ANY($4)) s
              ON s.k = ((g.i / $3) % $5) * 6 + (g.i % 6)
        """, bets, WEEK.id, members, sel_ids, events)
        rows = await pool.fetch("SELECT member_id, user_id, sum(stake)::bigint AS s FROM pool_bets"
                                " WHERE week_id = $1 GROUP BY member_id, user_id", WEEK.id)
        async with pool.acquire() as conn, conn.transaction():
            for at in range(0, len(rows), 5000):
                chunk = rows[at:at + 5000]
                await state.ledger.apply(conn, [TransferRequest(
                    transfer_id("bench-stakes", r["member_id"]), user_account(r["user_id"]),
                    HOUSE, r["s"], WEEK.currency, code="pool_bet") for r in chunk])
            await conn.execute(
                "UPDATE pool_members m SET credits = credits - t.s, open_stake = t.s FROM"
                " unnest($1::bigint[], $2::bigint[]) t(id, s) WHERE m.id = t.id",
                [r["member_id"] for r in rows], [r["s"] for r in rows])
        clock._now_ms = WEEK.start_ms + 3600_000 * (events + 5)
        for i, ev in enumerate(evs):
            await pool.execute("UPDATE pool_events SET status = 'final', home_score = $2,"
                               " away_score = $3, result_version = 1 WHERE id = $1",
                               uuid.UUID(ev["id"]), 20 + i % 7, 21)
        before = await pool.fetchval("SELECT count(*) FROM transfers")
        t0 = time.perf_counter()
        graded = await settle.settle_pending(svc)
        settle_s = time.perf_counter() - t0
        booked = await pool.fetchval("SELECT count(*) FROM transfers") - before
        assert graded == bets, (graded, bets)
        assert await settle.settle_pending(svc) == 0  # exactly once
        # the ledger's bare batch ceiling: the same number of transfers, same batch size
        n = max(1000, int(booked))
        reqs = [TransferRequest(uuid.uuid4(), HOUSE, user_account(uids[i % members]), 1,
                                WEEK.currency, code="bench") for i in range(n)]
        t0 = time.perf_counter()
        size = cfg.settle_chunk_members
        for at in range(0, n, size):
            async with pool.acquire() as conn, conn.transaction():
                await state.ledger.apply(conn, reqs[at:at + size])
        ceiling_s = time.perf_counter() - t0
        await Ledger(pool).check_invariants()
        return {"graded": graded, "settle_s": settle_s, "booked": booked,
                "ceiling_n": n, "ceiling_s": ceiling_s}
    finally:
        await close_state(state, stop_services=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--bets", type=int, default=20_000)
    ap.add_argument("--members", type=int, default=1_000)
    ap.add_argument("--events", type=int, default=10)
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--note", default="")
    args = ap.parse_args()
    assert 1 <= args.bets <= MAX_BETS and 1 <= args.members <= MAX_MEMBERS
    assert 1 <= args.events <= 100
    with tempfile.TemporaryDirectory(prefix="mp-bench-") as tmp:
        base = start_services(os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL"),
                              Path(tmp))
        try:
            services, name = asyncio.run(with_fresh_database(base))
            try:
                r = asyncio.run(run(services, Path(tmp), args.bets, args.members, args.events))
            finally:
                asyncio.run(drop_database(base, name))
        finally:
            base.stop()
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    command = "python -m benchmarks.bench_pools " + " ".join(
        a for a in sys.argv[1:] if a != "--write")
    text = (
        f"{SECTION}\n\n"
        f"- command: `{command.strip()}`\n"
        f"- machine: {os.cpu_count()} CPUs ({cpu_model()}), Python {platform.python_version()};"
        f" load average at the end {load} (the machine is shared)\n"
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC\n"
        f"- services: {'external' if os.environ.get('DATABASE_URL') else 'embedded'} Postgres\n"
        + (f"- note: {args.note}\n" if args.note else "") + "\n"
        "| figure | value |\n|---|---|\n"
        f"| bets settled ({args.members:,} members, {args.events} events), one run |"
        f" {r['graded']:,} in {r['settle_s']:.2f} s = {r['graded'] / r['settle_s']:,.0f} bets/s |\n"
        f"| ledger transfers the settlement booked (one per member and event) |"
        f" {r['booked']:,} = {r['booked'] / r['settle_s']:,.0f} /s |\n"
        f"| ledger bare batch ceiling, same run (`apply`, linked batches of"
        f" {PoolsSettings().settle_chunk_members}) | {r['ceiling_n']:,} in {r['ceiling_s']:.2f} s"
        f" = {r['ceiling_n'] / r['ceiling_s']:,.0f} transfers/s |\n"
        f"| settlement time / bare ledger time for the same transfers |"
        f" {r['settle_s'] / r['ceiling_s']:.2f} |\n"
    )
    print(text)
    if args.write:
        replace_section(text, SECTION)


if __name__ == "__main__":
    main()
