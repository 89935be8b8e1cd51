"""A whole single-elimination quiz tournament played by bots: wall time and server CPU.

    python -m loadtest.tournament_bench [--players 1024] [--write]

Black box, like loadtest/capacity.py (whose harness it reuses): a fresh
database on DATABASE_URL's Postgres, `matchpot serve` as a subprocess pinned to
CPU 0, players made and funded over HTTP, an operator admin made with the
`matchpot` CLI. Then every player connects (`matchpot_client.tournament`),
registers (the entry fee is held), the admin starts the tournament, and each
bot checks in to its matches, sits, and guesses its answers until the
tournament ends. Measured from the start request to the last bot's
`tournament_finished`: wall time, the server's CPU seconds and share of its
core, rounds, matches. The books are checked afterwards
(`benchmarks/check_books.py`). `--write` replaces the "## Tournaments" section
of docs/benchmarks.md with the command, machine and date.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from matchpot_client.tournament import TournamentBot, TournamentClient

from loadtest import serve
from loadtest.capacity import (
    ProcStat,
    check_books,
    free_port,
    machine,
    make_players,
    pin_to,
    raise_open_files,
    server_env,
    services,
    start_server,
)
from loadtest.report import replace_section

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "benchmarks.md"
SECTION = "## Tournaments"
MAX_PLAYERS = 4_096
FEE_MINOR = 1_000
CONNECT_BATCH = 100
OPERATOR = ("bench-operator", "bench-operator-password")
TOURNAMENT_ENV = {
    "MATCHPOT_QUIZ_COUNTDOWN_MS": "0", "MATCHPOT_QUIZ_QUESTION_COUNT": "3",
    "MATCHPOT_QUIZ_ANSWER_WINDOW_MS": "3000", "MATCHPOT_QUIZ_REVEAL_MS": "200",
    "MATCHPOT_OTP_IP_MAX": "100000",  # every bot logs in from 127.0.0.1
}


async def run(base_url: str, tokens: list[str], stat: ProcStat, timeout_s: float) \
        -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        login = await http.post("/admin/login", json={"username": OPERATOR[0],
                                                      "password": OPERATOR[1]})
        login.raise_for_status()
        headers = {"authorization": f"Bearer {login.json()['access_token']}"}
        created = await http.post("/admin/tournaments", headers=headers, json={
            "name": f"Bench cup {len(tokens)}", "format": "single_elimination",
            "entry_fee_minor": FEE_MINOR, "rake_bps": 1_000, "min_players": 2,
            "max_players": len(tokens), "open": True,
            "options": {"match_checkin_ms": 60_000}})
        created.raise_for_status()
        tid = created.json()["tournament"]["id"]
        clients = [TournamentClient(base_url, access_token=t, reconnect=False) for t in tokens]
        try:
            for i in range(0, len(clients), CONNECT_BATCH):
                batch = clients[i:i + CONNECT_BATCH]
                await asyncio.gather(*(c.connect() for c in batch))
                await asyncio.gather(*(c.register(tid) for c in batch))
            bots = [TournamentBot(c, random.Random(i), think_max_s=0.5)
                    for i, c in enumerate(clients)]
            cpu0, t0 = stat.cpu_s(), time.monotonic()
            started = await http.post(f"/admin/tournaments/{tid}/start", headers=headers)
            started.raise_for_status()
            runs = await asyncio.gather(*(b.play(tid, timeout_s=timeout_s) for b in bots))
            wall_s = time.monotonic() - t0
            cpu_s = stat.cpu_s() - cpu0
        finally:
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        detail = (await http.get(f"/tournaments/{tid}")).json()
    view = detail["view"]
    return {
        "players": len(tokens), "wall_s": wall_s, "server_cpu_s": cpu_s,
        "server_cpu_pct": 100 * cpu_s / wall_s if wall_s else 0.0,
        "rounds": view["rounds"], "matches": len(view["matches"]),
        "rooms": sum(r.matches for r in runs) // 2, "status": detail["tournament"]["status"],
        "answers": sum(r.answers for r in runs),
    }


def report(result: dict[str, Any], command: str, books_ok: bool) -> str:
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    return (
        f"{SECTION}\n\n"
        "A whole single-elimination quiz tournament played by bots over websockets against one"
        " server process (`loadtest/tournament_bench.py`): from the admin's start to the last"
        " bot's `tournament_finished`. Duels of 3 questions in a 3 s window, bots guessing"
        " after up to 0.5 s.\n\n"
        f"Command: `{command}`  \nMachine: {machine()}  \nDate: {today}\n\n"
        "| players | rounds | matches | wall time | server CPU | server core |\n"
        "|---|---|---|---|---|---|\n"
        f"| {result['players']} | {result['rounds']} | {result['matches']} "
        f"| {result['wall_s']:.1f} s | {result['server_cpu_s']:.1f} s "
        f"| {result['server_cpu_pct']:.0f}% |\n\n"
        f"Status at the end: {result['status']}; books after the run: "
        f"{'ok' if books_ok else 'FAILED'}.\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--players", type=int, default=1_024)
    parser.add_argument("--timeout-s", type=float, default=900.0, help="bound of the tournament")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    if not 2 <= args.players <= MAX_PLAYERS:
        parser.error(f"--players is 2..{MAX_PLAYERS}")
    pin_to(1)
    raise_open_files()
    command = "python -m loadtest.tournament_bench " + " ".join(sys.argv[1:])
    with tempfile.TemporaryDirectory(prefix="mp-tournament-") as tmp_name, \
            services() as (db, redis):
        tmp = Path(tmp_name)
        port = free_port()
        env = server_env(db, redis, tmp / "data", f"mptb{uuid.uuid4().hex[:6]}", port)
        env.update(TOURNAMENT_ENV)
        (tmp / "data").mkdir()
        print(f"[tournament] creating {args.players} players", flush=True)
        tokens = make_players(env, args.players, tmp)
        serve.matchpot(["admin", "create", OPERATOR[0], "--role", "operator", "--password",
                        OPERATOR[1]], env)
        log = tmp / "server.log"
        proc = start_server(env, log)
        try:
            serve.wait_ready(port, proc)
            result = asyncio.run(run(f"http://127.0.0.1:{port}", tokens, ProcStat(proc.pid),
                                     args.timeout_s))
        finally:
            serve.stop(proc)
        books = check_books(db, 60)
    text = report(result, command, books == 0)
    print(text)
    if args.write:
        replace_section(text.strip(), SECTION, DOC)
    return 0 if books == 0 and result["status"] == "finished" else 1


if __name__ == "__main__":
    raise SystemExit(main())
