"""The ceiling to compare the server with: a bare `websockets` msgpack echo server on one core.

    python -m loadtest.echo_ceiling [--levels 500,1000,2000,4000,8000] [--step-s 15] [--write]

The echo server (a subprocess on CPU 0, uvloop, `websockets` — the same stack
the Matchpot server uses under uvicorn) decodes each msgpack frame and sends it
back. The client is capacity.py's: one process on CPU 1, connections sending
one frame a second each (as duel players do), measuring p50/p99 round trip at
each level; then a saturation run where 200 connections send as fast as replies
come back, for the echo rate in frames per second. Every loop is bounded by
count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import random
import signal
import subprocess
import sys
import time

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from loadtest.capacity import (
    REPO,
    ProcStat,
    free_port,
    machine,
    pack,
    pct,
    pin_to,
    raise_open_files,
    replace_live_duels,
    unpack,
)

MAX_CONNECTIONS = 10_000
SATURATION_CONNECTIONS = 200
SATURATION_S = 10.0
CONNECT_BATCH = 200


async def echo(ws: ServerConnection) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for data in ws:
            await ws.send(pack(unpack(data)))


async def run_server(port: int) -> None:
    async with serve(echo, "127.0.0.1", port, max_size=2**16, ping_interval=None):
        await asyncio.Event().wait()


async def paced(ws: ClientConnection, stop: asyncio.Event, rtts: list[float],
                rng: random.Random) -> None:
    """One frame a second, waiting for its echo each time."""
    await asyncio.sleep(rng.random())
    next_t = time.monotonic()
    n = 0
    while not stop.is_set():
        n += 1
        next_t += 1.0
        sent = time.perf_counter()
        await ws.send(pack({"t": "ping", "rid": n}))
        await ws.recv()
        rtts.append((time.perf_counter() - sent) * 1000)
        await asyncio.sleep(max(0.0, next_t - time.monotonic()))


async def flood(ws: ClientConnection, stop: asyncio.Event, count: list[int]) -> None:
    n = 0
    while not stop.is_set():
        n += 1
        await ws.send(pack({"t": "ping", "rid": n}))
        await ws.recv()
        count[0] += 1


async def measure(port: int, levels: list[int], step_s: float, server: ProcStat) -> list[str]:
    url = f"ws://127.0.0.1:{port}/"
    rng = random.Random(7)
    conns: list[ClientConnection] = []
    rows = []
    for level in levels:
        while len(conns) < level:
            n = min(CONNECT_BATCH, level - len(conns))
            conns += await asyncio.gather(*(
                connect(url, ping_interval=None, open_timeout=30) for _ in range(n)))
        stop = asyncio.Event()
        rtts: list[float] = []
        tasks = [asyncio.create_task(paced(c, stop, rtts, random.Random(rng.getrandbits(32))))
                 for c in conns]
        await asyncio.sleep(3)
        rtts.clear()
        cpu0, own0, t0 = server.cpu_s(), time.process_time(), time.monotonic()
        await asyncio.sleep(step_s)
        elapsed = time.monotonic() - t0
        srv_cpu = 100 * (server.cpu_s() - cpu0) / elapsed
        own_cpu = 100 * (time.process_time() - own0) / elapsed
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        row = (f"| {level} | {len(rtts) / elapsed:.0f} | {pct(rtts, 0.5):.1f} "
               f"| {pct(rtts, 0.99):.1f} | {srv_cpu:.0f}% | {own_cpu:.0f}% |")
        print(row, flush=True)
        rows.append(row)
    stop = asyncio.Event()
    count = [0]
    tasks = [asyncio.create_task(flood(c, stop, count))
             for c in conns[:SATURATION_CONNECTIONS]]
    await asyncio.sleep(2)
    count[0] = 0
    cpu0, t0 = server.cpu_s(), time.monotonic()
    await asyncio.sleep(SATURATION_S)
    elapsed = time.monotonic() - t0
    rate = count[0] / elapsed
    srv_cpu = 100 * (server.cpu_s() - cpu0) / elapsed
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)
    rows.append(f"\nSaturation ({SATURATION_CONNECTIONS} connections sending as fast as echoes "
                f"return, {SATURATION_S:.0f} s): **{rate:,.0f} echoes/s** with the echo server "
                f"at {srv_cpu:.0f}% of its core.")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="500,1000,2000,4000,8000")
    parser.add_argument("--step-s", type=float, default=15.0)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # the subprocess itself
    args = parser.parse_args()
    import uvloop

    raise_open_files()
    if args.serve:
        uvloop.run(run_server(args.serve))
        return 0
    levels = sorted({int(x) for x in args.levels.split(",")})
    if not levels or levels[0] < 1 or levels[-1] > MAX_CONNECTIONS:
        parser.error(f"levels must be 1..{MAX_CONNECTIONS} connections")
    pin_to(1)
    port = free_port()

    def prepare() -> None:
        pin_to(0)
        raise_open_files()

    proc = subprocess.Popen([sys.executable, "-m", "loadtest.echo_ceiling", "--serve", str(port)],
                            cwd=REPO, preexec_fn=prepare)
    try:
        time.sleep(1.5)
        rows = uvloop.run(measure(port, levels, args.step_s, ProcStat(proc.pid)))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    command = "python -m loadtest.echo_ceiling " + " ".join(sys.argv[1:])
    table = "\n".join(r for r in rows if r.startswith("|"))
    tail = "\n".join(r for r in rows if not r.startswith("|"))
    text = (
        f"### Echo ceiling (`loadtest/echo_ceiling.py`)\n\n"
        f"`{command}` — {dt.date.today().isoformat()}, {machine()}; echo server pinned to "
        f"CPU 0, client to CPU 1; each connection sends one msgpack frame a second.\n\n"
        f"| connections | echoes/s | rtt p50 ms | rtt p99 ms | echo server CPU | client CPU |\n"
        f"|---|---|---|---|---|---|\n{table}\n{tail}\n"
    )
    print(text)
    if args.write:
        replace_live_duels(echo=text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
