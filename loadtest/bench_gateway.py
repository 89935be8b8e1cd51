"""Websocket gateway benchmark: connections per process, memory per connection, ping round trips.

    python -m loadtest.bench_gateway [--connections 2000] [--pingers 100] [--seconds 5] [--write]
    python -m loadtest.bench_gateway --connections 19000 --heartbeat-s 30 --rest-s 60 [--write]

Run from the repository root with DATABASE_URL and REDIS_URL pointing at running
servers (defaults: postgresql://postgres@127.0.0.1:5432/test, redis://127.0.0.1:6379/0).
It creates a scratch database and imports no server code: a first `matchpot
serve` at log level INFO lets the players log in over HTTP (loadtest/players.py),
then the measured `matchpot serve` process starts on 127.0.0.1 at WARNING
(per-connection rate limit raised so the limit is not what is measured). The
connections are opened from this process with the bare `websockets` client
speaking msgpack through `matchpot_client.wire` (no compression); the database
and its Redis keys are dropped afterwards. Client and server share the
machine's cores, so the figures are a floor.

With `--heartbeat-s H --rest-s R` (idle sockets), the server keeps its default
idle timeout (60 s), runs pinned to CPU 0 (this process to CPU 1, both with the
open-files limit raised to 20,000), and every connection but the `--pingers`
ones sends one `ping` each H seconds from the moment it is welcomed; once all
are open, the server's CPU and RSS are measured for R seconds of that rest.

`--write` replaces the "## Websocket gateway" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
from matchpot_client import wire
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect

from loadtest import serve
from loadtest.capacity import ProcStat, pin_to, raise_open_files
from loadtest.players import create_players
from loadtest.report import cpu_model, replace_section

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "benchmarks.md"
SECRET = "bench-secret-" + "z" * 32
OPEN_CONCURRENCY = 50


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
    await ws.send(wire.encode(wire.hello(token), "msgpack"))
    wire.welcome_of(wire.decode(await ws.recv()))
    return ws, time.perf_counter() - started


async def _pinger(ws: ClientConnection, until: float, latencies: list[float]) -> None:
    rids = wire.RequestIds()
    while time.perf_counter() < until:
        rid = rids.next()
        started = time.perf_counter()
        await ws.send(wire.encode(wire.frame("ping", rid), "msgpack"))
        while wire.reply_rid(wire.decode(await ws.recv())) != rid:
            pass
        latencies.append(time.perf_counter() - started)


async def _heartbeat(ws: ClientConnection, every_s: float, stop: asyncio.Event,
                     rtts: list[float], offset_s: float) -> None:
    """One `ping` every `every_s` (first after `offset_s`), each awaited: an idle player."""
    rids = wire.RequestIds()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(stop.wait(), offset_s)
    while not stop.is_set():
        rid = rids.next()
        started = time.perf_counter()
        try:
            await ws.send(wire.encode(wire.frame("ping", rid), "msgpack"))
            while wire.reply_rid(wire.decode(await ws.recv())) != rid:
                pass
        except Exception:
            rtts.append(float("inf"))  # the socket was closed: counted as a failure
            return
        rtts.append(time.perf_counter() - started)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)


def _pinned_server() -> None:
    pin_to(0)
    raise_open_files()


async def run(args: argparse.Namespace) -> str:
    admin_url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    db_name = f"mp_bench_ws_{uuid.uuid4().hex[:8]}"
    prefix = f"mpbench{uuid.uuid4().hex[:6]}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{db_name}"')
    db_url = admin_url.rpartition("/")[0] + "/" + db_name
    port = serve.free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="mp-bench-ws-"))
    env = dict(
        os.environ, **serve.SETUP_ENV, DATABASE_URL=db_url, REDIS_URL=redis_url,
        MATCHPOT_REDIS_PREFIX=prefix, MATCHPOT_JWT_SECRET=SECRET, MATCHPOT_DATA_DIR=str(data_dir),
    )
    idle = args.heartbeat_s > 0
    bench_env = dict(
        env, MATCHPOT_LOG_LEVEL="WARNING", MATCHPOT_WS_RATE_PER_S="100000",
        MATCHPOT_WS_RATE_BURST="100000",
        MATCHPOT_WS_IDLE_TIMEOUT_S="60" if idle else "600",
        MATCHPOT_WS_MAX_CONNECTIONS=str(args.connections + 500),
    )
    sockets: list[ClientConnection] = []
    stop = asyncio.Event()
    beats: list[asyncio.Task[None]] = []
    beat_rtts: list[float] = []
    rest: dict[str, float] = {}
    proc = serve.start(env, data_dir / "setup-server.log", port)  # players log in (INFO)
    try:
        await asyncio.to_thread(serve.wait_ready, port, proc)
        players = await create_players(
            f"http://127.0.0.1:{port}", data_dir / "setup-server.log", args.connections, 0,
            "+254792", data_dir / "users.jsonl")
        tokens = [p.token for p in players]
        await asyncio.to_thread(serve.stop, proc)
        proc = serve.start(bench_env, data_dir / "server.log", port,
                           preexec_fn=_pinned_server if idle else None)  # the measured one
        await asyncio.to_thread(serve.wait_ready, port, proc)
        url = f"ws://127.0.0.1:{port}/ws"
        rss_before = _rss_kib(proc.pid)
        gate = asyncio.Semaphore(OPEN_CONCURRENCY)
        open_latencies: list[float] = []
        pingers: list[ClientConnection] = []
        rng = random.Random(7)

        async def open_one(k: int, token: str) -> None:
            async with gate:
                ws, took = await _open(url, token)
                sockets.append(ws)
                open_latencies.append(took)
            if k >= len(tokens) - args.pingers:
                pingers.append(ws)  # opened last: they ping in a loop below
            elif idle:
                beats.append(asyncio.create_task(_heartbeat(
                    ws, args.heartbeat_s, stop, beat_rtts, rng.uniform(0, args.heartbeat_s))))

        started = time.perf_counter()
        await asyncio.gather(*(open_one(k, t) for k, t in enumerate(tokens)))
        open_s = time.perf_counter() - started
        await asyncio.sleep(1)
        rss_after = _rss_kib(proc.pid)
        latencies: list[float] = []
        until = time.perf_counter() + args.seconds
        await asyncio.gather(*(_pinger(ws, until, latencies) for ws in pingers))
        ping_rate = len(latencies) / args.seconds
        if idle and args.rest_s > 0:
            server = ProcStat(proc.pid)
            beat_rtts.clear()
            cpu0, t0 = server.cpu_s(), time.monotonic()
            for ws in pingers:  # keep them alive too, without measuring
                beats.append(asyncio.create_task(_heartbeat(
                    ws, args.heartbeat_s, stop, [], rng.uniform(0, args.heartbeat_s))))
            await asyncio.sleep(args.rest_s)
            rest = {
                "cpu_pct": 100 * (server.cpu_s() - cpu0) / (time.monotonic() - t0),
                "rss_kib": _rss_kib(proc.pid), "open": server.open_files(),
                "beats": len(beat_rtts),
                "failed": sum(1 for r in beat_rtts if r == float("inf")),
                "p50_ms": 1000 * statistics.median(beat_rtts) if beat_rtts else float("nan"),
                "p99_ms": 1000 * _pct(beat_rtts, 0.99) if beat_rtts else float("nan"),
            }
    finally:
        stop.set()
        await asyncio.gather(*beats, return_exceptions=True)
        for ws in sockets:
            with contextlib.suppress(Exception):
                await ws.close()
        await asyncio.to_thread(serve.stop, proc, 30)
        await admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        await admin.close()
        redis = Redis.from_url(redis_url)
        keys = [k async for k in redis.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
        shutil.rmtree(data_dir, ignore_errors=True)

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
        ("  benchmark process, pinned to CPU 1 (the server to CPU 0), msgpack frames, no"
         " compression; uvicorn also pings every socket each 20 s (`ws_ping_interval_s`)"
         if idle else
         "  benchmark process on the same 2 cores, msgpack frames, no compression"),
        f"- load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}",
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
        *([
            f"| at rest for {args.rest_s:g} s, every connection sending one `ping` each "
            f"{args.heartbeat_s:g} s (idle timeout 60 s): server CPU | "
            f"{rest['cpu_pct']:.1f}% of its core (pinned to CPU 0) |",
            f"| at rest: server RSS, open files | {rest['rss_kib'] / 1024:.0f} MiB "
            f"({(rest['rss_kib'] - rss_before) / n:.1f} KiB per connection), "
            f"{rest['open']:,.0f} open files |",
            f"| at rest: heartbeat pings answered, p50 / p99 | "
            f"{rest['beats'] - rest['failed']:,.0f} ({rest['failed']:.0f} failed), "
            f"{rest['p50_ms']:.2f} ms / {rest['p99_ms']:.2f} ms |",
        ] if rest else []),
        "",
    ])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--connections", type=int, default=2000)
    ap.add_argument("--pingers", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--heartbeat-s", type=float, default=0.0,
                    help="idle mode: each connection pings every this many seconds")
    ap.add_argument("--rest-s", type=float, default=0.0, help="idle mode: seconds measured")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    assert 1 <= args.pingers <= args.connections <= 19_500
    assert 0 <= args.heartbeat_s <= 55 and 0 <= args.rest_s <= 600
    if args.heartbeat_s:
        pin_to(1)
        raise_open_files()
    text = asyncio.run(run(args))
    print(text)
    if args.write:
        replace_section(text, "## Websocket gateway")


if __name__ == "__main__":
    main()
