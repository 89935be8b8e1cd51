"""Websocket gateway benchmark: connections per process, memory per connection, ping round trips.

    python -m loadtest.bench_gateway [--connections 2000] [--pingers 100] [--seconds 5] [--write]

Run from the repository root with DATABASE_URL and REDIS_URL pointing at running
servers (defaults: postgresql://postgres@127.0.0.1:5432/test, redis://127.0.0.1:6379/0).
It creates a scratch database, starts one `matchpot serve` process on 127.0.0.1
(per-connection rate limit raised so the limit is not what is measured), opens
the connections from this process with the bare `websockets` client (msgpack,
no compression), and drops the database and its Redis keys afterwards. Client
and server share the machine's cores, so the figures are a floor.

`--write` replaces the "## Websocket gateway" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import msgpack
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect

from loadtest.report import cpu_model, replace_section
from server.auth.tokens import issue_access_token

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "benchmarks.md"
SECRET = "bench-secret-" + "z" * 32
OPEN_CONCURRENCY = 50


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _open(url: str, token: str) -> tuple[ClientConnection, float]:
    started = time.perf_counter()
    ws = await connect(url, compression=None, open_timeout=30)
    await ws.send(msgpack.packb({"t": "hello", "token": token}))
    welcome = msgpack.unpackb(await ws.recv())
    assert welcome["t"] == "welcome", welcome
    return ws, time.perf_counter() - started


async def _pinger(ws: ClientConnection, until: float, latencies: list[float]) -> None:
    rid = 0
    while time.perf_counter() < until:
        rid += 1
        started = time.perf_counter()
        await ws.send(msgpack.packb({"t": "ping", "rid": rid}))
        while msgpack.unpackb(await ws.recv()).get("rid") != rid:
            pass
        latencies.append(time.perf_counter() - started)


async def run(args: argparse.Namespace) -> str:
    admin_url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    db_name = f"mp_bench_ws_{uuid.uuid4().hex[:8]}"
    prefix = f"mpbench{uuid.uuid4().hex[:6]}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{db_name}"')
    db_url = admin_url.rpartition("/")[0] + "/" + db_name
    port = _free_port()
    data_dir = tempfile.mkdtemp(prefix="mp-bench-ws-")
    env = dict(
        os.environ, DATABASE_URL=db_url, REDIS_URL=redis_url, MATCHPOT_REDIS_PREFIX=prefix,
        MATCHPOT_JWT_SECRET=SECRET, MATCHPOT_LOG_LEVEL="WARNING", MATCHPOT_DATA_DIR=data_dir,
        MATCHPOT_WS_RATE_PER_S="100000", MATCHPOT_WS_RATE_BURST="100000",
        MATCHPOT_WS_IDLE_TIMEOUT_S="600",
    )
    proc = subprocess.Popen(  # noqa: ASYNC220  (started once, before any load is measured)
        [sys.executable, "-m", "server", "serve", "--port", str(port)], env=env, cwd=REPO,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    sockets: list[ClientConnection] = []
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(600):
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("server did not become ready")
        pool = await asyncpg.create_pool(db_url, min_size=1, max_size=4)
        rows = await pool.fetch(
            "INSERT INTO users (phone_e164, display_name)"
            " SELECT '+2547' || lpad(g::text, 8, '0'), 'Bench ' || g"
            " FROM generate_series(1, $1) g RETURNING id", args.connections,
        )
        await pool.close()
        tokens = [issue_access_token(SECRET, str(r["id"]), "player", 3600) for r in rows]
        url = f"ws://127.0.0.1:{port}/ws"
        rss_before = _rss_kib(proc.pid)
        gate = asyncio.Semaphore(OPEN_CONCURRENCY)
        open_latencies: list[float] = []

        async def open_one(token: str) -> None:
            async with gate:
                ws, took = await _open(url, token)
                sockets.append(ws)
                open_latencies.append(took)

        started = time.perf_counter()
        await asyncio.gather(*(open_one(t) for t in tokens))
        open_s = time.perf_counter() - started
        await asyncio.sleep(1)
        rss_after = _rss_kib(proc.pid)
        latencies: list[float] = []
        until = time.perf_counter() + args.seconds
        await asyncio.gather(*(_pinger(ws, until, latencies) for ws in sockets[: args.pingers]))
        ping_rate = len(latencies) / args.seconds
    finally:
        for ws in sockets:
            with contextlib.suppress(Exception):
                await ws.close()
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(30)
        await admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        await admin.close()
        redis = Redis.from_url(redis_url)
        keys = [k async for k in redis.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()

    n = args.connections
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = "python -m loadtest.bench_gateway " + " ".join(sys.argv[1:])
    return "\n".join([
        "## Websocket gateway",
        "",
        f"- command: `{command.strip()}` (DATABASE_URL / REDIS_URL: local servers)",
        f"- machine: {os.cpu_count()} CPUs (nproc), {cpu_model()};"
        f" Python {platform.python_version()}",
        f"- date: {now}",
        "- one `matchpot serve` process (uvloop, websockets-sansio); the clients run in the",
        "  benchmark process on the same 2 cores, msgpack frames, no compression",
        "",
        "| figure | value |",
        "|---|---|",
        f"| connections opened (connect + hello + welcome, {OPEN_CONCURRENCY} at a time) "
        f"| {n:,} in {open_s:.2f} s = {n / open_s:,.0f} /s |",
        f"| open latency p50 / p99 | {1000 * statistics.median(open_latencies):.1f} ms / "
        f"{1000 * _pct(open_latencies, 0.99):.1f} ms |",
        f"| server RSS, before / with {n:,} connections | {rss_before / 1024:.0f} MiB / "
        f"{rss_after / 1024:.0f} MiB ({(rss_after - rss_before) / n:.0f} KiB per connection) |",
        f"| ping round trips, {args.pingers} connections in a loop for {args.seconds:g} s "
        f"| {ping_rate:,.0f} /s |",
        f"| ping round trip p50 / p99 | {1000 * statistics.median(latencies):.2f} ms / "
        f"{1000 * _pct(latencies, 0.99):.2f} ms |",
        "",
    ])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--connections", type=int, default=2000)
    ap.add_argument("--pingers", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    assert 1 <= args.pingers <= args.connections <= 15_000
    text = asyncio.run(run(args))
    print(text)
    if args.write:
        replace_section(text, "## Websocket gateway")


if __name__ == "__main__":
    main()
