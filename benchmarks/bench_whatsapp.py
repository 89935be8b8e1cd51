"""WhatsApp channel benchmark: command parsing, webhook intake and replies end to end.

    python -m benchmarks.bench_whatsapp [--users 200] [--messages 2000] [--concurrency 32] [--write]

Run from the repository root. Uses DATABASE_URL / REDIS_URL if set, else starts
embedded Postgres/Redis in a temporary directory; a fresh database is created
and dropped. Everything listens on 127.0.0.1 only. Figures:

- parses: `commands.parse` over a mix of typed commands (with typos), one core;
- webhooks: signed POSTs of one text message each ("balance"), `--concurrency`
  at a time, to the real app under uvicorn: verified, stored, answered 200;
- replies: from the first POST until a local stand-in for the Graph API has
  received every reply (inbound worker: user lookup, window, ledger balance,
  send with intent recorded). Pair rate off, throughput budget 10,000/s, so the
  figure is the server's, not WhatsApp's limits.

`--write` replaces the "## WhatsApp channel" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from benchmarks.bench_quickplay import drop_database, with_fresh_database
from loadtest.report import cpu_model, replace_section
from server.app import create_app
from server.channels.whatsapp.commands import parse
from server.channels.whatsapp.webhook import signature_of
from server.config import Settings
from server.embedded import Services, start_services

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "benchmarks.md"
SECTION = "## WhatsApp channel"
SECRET = "bench-app-secret"
NUMBER_ID = "1000000001"
MAX_MESSAGES = 50_000
DEADLINE_S = 300.0
TEXTS = ("balance", "Balnce", "deposit 500", "wheel 50", "color red 50", "pick3 123 50",
         "histroy", "what is this", "yes 50", "STPO")


def bench_parse(n: int) -> float:
    started = time.perf_counter()
    for text in itertools.islice(itertools.cycle(TEXTS), n):
        parse(text)
    return n / (time.perf_counter() - started)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def serve(app: object, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",  # type: ignore[arg-type]
                                           access_log=False, lifespan="on"))
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 60
    while not server.started:
        assert not task.done() and time.monotonic() < deadline, "server did not start"
        await asyncio.sleep(0.02)
    return server, task


def webhook(wa_id: str, wamid: str, text: str) -> bytes:
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp", "metadata": {"phone_number_id": NUMBER_ID},
            "contacts": [{"profile": {"name": "Bench"}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": wamid, "timestamp": str(int(time.time())),
                          "type": "text", "text": {"body": text}}]}}]}]}).encode()


async def bench_webhooks(services: Services, data_dir: Path, users: int, messages: int,
                         concurrency: int) -> tuple[float, float]:
    received = 0
    all_in = asyncio.Event()

    async def graph(request: Request) -> JSONResponse:
        nonlocal received
        await request.body()
        received += 1
        if received >= messages:
            all_in.set()
        return JSONResponse({"messages": [{"id": f"wamid.BENCH{received}"}]})

    api_port, app_port = free_port(), free_port()
    api_server, api_task = await serve(
        Starlette(routes=[Route("/{v}/{n}/messages", graph, methods=["POST"])]), api_port)
    settings = Settings(
        data_dir=data_dir, database_url=services.database_url, redis_url=services.redis_url,
        jwt_secret="bench-" + "x" * 40, log_level="WARNING", whatsapp_enabled=True,
        whatsapp_app_secret=SECRET, whatsapp_verify_token="bench", whatsapp_access_token="t",
        whatsapp_phone_number_id=NUMBER_ID, whatsapp_api_base=f"http://127.0.0.1:{api_port}",
        whatsapp_pair_interval_s=0, whatsapp_rate_per_s=10_000, port=app_port,
    )
    app_server, app_task = await serve(create_app(settings, services), app_port)
    try:
        bodies = [webhook(f"2547{i % users:08d}", f"wamid.in{i}", "balance")
                  for i in range(messages)]
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        for body in bodies:
            queue.put_nowait(body)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app_port}", timeout=30) as c:

            async def poster() -> None:
                while not queue.empty():
                    body = queue.get_nowait()
                    resp = await c.post("/webhooks/whatsapp", content=body, headers={
                        "x-hub-signature-256": signature_of(SECRET, body)})
                    assert resp.status_code == 200, resp.text

            started = time.perf_counter()
            await asyncio.gather(*[poster() for _ in range(concurrency)])
            posted_s = time.perf_counter() - started
            await asyncio.wait_for(all_in.wait(), DEADLINE_S)
            replied_s = time.perf_counter() - started
        return messages / posted_s, messages / replied_s
    finally:
        app_server.should_exit = True
        await asyncio.wait_for(app_task, 60)
        api_server.should_exit = True
        await asyncio.wait_for(api_task, 60)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--parses", type=int, default=100_000)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    assert 1 <= args.messages <= MAX_MESSAGES and 1 <= args.users <= 100_000
    assert 1 <= args.concurrency <= 256 and 1 <= args.parses <= 10_000_000

    parses_per_s = bench_parse(args.parses)
    with tempfile.TemporaryDirectory(prefix="mp-bench-") as tmp:
        base = start_services(os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL"),
                              Path(tmp))
        try:
            services, name = asyncio.run(with_fresh_database(base))
            try:
                posted, replied = asyncio.run(bench_webhooks(
                    services, Path(tmp), args.users, args.messages, args.concurrency))
            finally:
                asyncio.run(drop_database(base, name))
        finally:
            base.stop()
    command = "python -m benchmarks.bench_whatsapp " + " ".join(sys.argv[1:])
    text = (
        f"{SECTION}\n\n"
        f"- command: `{command.strip()}`\n"
        f"- machine: {os.cpu_count()} CPUs ({cpu_model()}), Python {platform.python_version()}\n"
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC\n"
        f"- services: {'external' if os.environ.get('DATABASE_URL') else 'embedded'} Postgres;"
        " app, webhook client and Graph API stand-in in one process on loopback\n\n"
        "| figure | value |\n|---|---|\n"
        f"| commands parsed (typo-tolerant), one core | {parses_per_s:,.0f} /s |\n"
        f"| signed webhooks verified and stored ({args.messages} messages,"
        f" {args.users} users, {args.concurrency} at a time) | {posted:,.0f} /s |\n"
        f"| messages answered end to end (reply accepted by the API stand-in) |"
        f" {replied:,.0f} /s |\n"
    )
    print(text)
    if args.write:
        replace_section(text, SECTION)


if __name__ == "__main__":
    main()
