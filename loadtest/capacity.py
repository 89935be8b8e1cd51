"""Capacity of one server process for live quiz duels: how many at once with p99 < 100 ms.

    python -m loadtest.capacity [--levels 250,500,1000,2000] [--step-s 20] [--write]

The harness uses the Postgres and Redis servers of DATABASE_URL / REDIS_URL
(default: postgresql://postgres@127.0.0.1:5432/test, redis://127.0.0.1:6379/0),
makes a fresh database there, and runs `matchpot serve` as a subprocess pinned
to CPU 0; it pins itself to CPU 1. It imports no server code: the players are
made over HTTP (loadtest/players.py: OTP logins, approved deposits) by a first
server process at log level INFO, then the measured server starts at WARNING.
The traffic is raw `websockets` clients speaking msgpack through
`matchpot_client.wire`, as a PWA would. The books are checked afterwards by
`python -m benchmarks.check_books` (a subprocess).

Every player loops: queue_join -> match_found -> room_join -> play the duel ->
queue again. Questions are 1 s long (MATCHPOT_QUIZ_ANSWER_WINDOW_MS = 5 x 1000),
and each player sends exactly one request a second: its answer when a question
is open and unanswered (a uniform guess), else a `ping`. Round trip = request
sent -> its reply received (answer -> quiz_answer_ok, ping -> pong).

For each level (concurrent duels = players / 2) it ramps the players up, waits
`--warmup-s`, then measures for `--step-s`: p50/p99 round trip, p50/p99 from
the second player's queue_join to both players holding `match_found`, duels
finished, the server's CPU share of its core, open files and RSS. A level is
sustained when p99 < 100 ms, nothing failed and the duels really ran. The ramp
stops at the first level that is not sustained, or at a limit (open files).

`--write` replaces the "## Live duels" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import gc
import os
import random
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from matchpot_client import MatchpotError, wire
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from loadtest import serve
from loadtest.players import create_players, ensure_admin
from loadtest.report import cpu_model, replace_section

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "benchmarks.md"
SECTION = "## Live duels"
JWT_SECRET = "capacity-" + "k" * 40
STAKE_MINOR = 10_000
FUNDS_MINOR = 10_000_000  # a deposit within MATCHPOT_DEPOSIT_MAX_MINOR: 1,000 lost stakes
P99_TARGET_MS = 100.0
CONNECT_PER_S = 400
MAX_PLAYERS = 9_000
OPEN_FILES_LIMIT = 20_000
MAX_THINK_S = 10.0  # --think-s: the longest pause a player may take between duels
MAX_STAGGER_S = 60.0  # --stagger-s: the longest wait before a player's first join
# --timing fast (1 s questions: every request of a player is an answer while a duel runs)
# or default (the product's timing: 3 s countdown, 5 x 3 s questions, 1.5 s reveals).
TIMINGS = {
    "fast": {"MATCHPOT_QUIZ_COUNTDOWN_MS": "500", "MATCHPOT_QUIZ_ANSWER_WINDOW_MS": "5000",
             "MATCHPOT_QUIZ_REVEAL_MS": "300"},
    "default": {},
}
TIMING_TEXT = {
    "fast": "questions 1 s (countdown 0.5 s, reveals 0.3 s)",
    "default": "the default quiz timing (countdown 3 s, 5 questions of 3 s, reveals 1.5 s)",
}
QUIZ_ENV = {
    "MATCHPOT_QUIZ_JOIN_TIMEOUT_MS": "10000",
    "MATCHPOT_MM_WINDOW_START": "400", "MATCHPOT_ROOMS_MAX": "6000",
    "MATCHPOT_SEATS_MAX": "12000", "MATCHPOT_WS_MAX_CONNECTIONS": "18000",
    "MATCHPOT_WS_IDLE_TIMEOUT_S": "120", "MATCHPOT_LOG_LEVEL": "WARNING",
}


# -- small shared helpers (echo_ceiling.py uses them too) -----------------------------------


def pack(frame: dict[str, Any]) -> bytes | str:
    return wire.encode(frame, "msgpack")


def unpack(data: bytes | str) -> dict[str, Any]:
    return wire.decode(data)


def pct(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) by nearest rank; nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def pin_to(cpu: int) -> None:
    """Pin the calling process to one CPU when the machine has it (Linux only)."""
    if hasattr(os, "sched_setaffinity") and cpu < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {cpu})


def raise_open_files(limit: int = OPEN_FILES_LIMIT) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(limit, hard) if hard != resource.RLIM_INFINITY else limit
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def machine() -> str:
    model = cpu_model()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"nproc {os.cpu_count()}, {model}, Python {sys.version.split()[0]}, "
            f"load average at the end {load}")


free_port = serve.free_port


class ProcStat:
    """CPU seconds, open files and RSS of a process, from /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._tick_hz = os.sysconf("SC_CLK_TCK")

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self._tick_hz

    def open_files(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")


@dataclass(frozen=True)
class Stalls:
    """The server's own view of a window, from /metrics (server/loop_lag.py)."""

    probes: int = 0  # 50 ms loop-lag probes that woke
    late_50ms: int = 0  # of them, woken 50 ms or more late
    late_100ms: int = 0
    full_gcs: int = 0  # generation-2 collections
    full_gc_ms: float = 0.0

    def __sub__(self, before: Stalls) -> Stalls:
        return Stalls(self.probes - before.probes, self.late_50ms - before.late_50ms,
                      self.late_100ms - before.late_100ms, self.full_gcs - before.full_gcs,
                      self.full_gc_ms - before.full_gc_ms)


def _metric(text: str, name: str, labels: str = "") -> float:
    m = re.search(rf"^{re.escape(name)}{re.escape(labels)} ([0-9.e+-]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


async def stalls_of(base_url: str) -> Stalls:
    """Read the loop-lag and collection counters of one server (loopback: no token)."""
    def read() -> str:
        with urllib.request.urlopen(f"{base_url}/metrics", timeout=5) as r:
            return str(r.read().decode())
    try:
        text = await asyncio.to_thread(read)
    except OSError:
        return Stalls()
    lag = "matchpot_event_loop_lag_seconds"
    probes = _metric(text, f"{lag}_count")
    return Stalls(
        probes=int(probes),
        late_50ms=int(probes - _metric(text, f"{lag}_bucket", '{le="0.05"}')),
        late_100ms=int(probes - _metric(text, f"{lag}_bucket", '{le="0.1"}')),
        full_gcs=int(_metric(text, "matchpot_gc_pause_seconds_count", '{generation="2"}')),
        full_gc_ms=1000 * _metric(text, "matchpot_gc_pause_seconds_sum", '{generation="2"}'),
    )


# -- the players -----------------------------------------------------------------------------


@dataclass
class Stats:
    """What the players saw during one measuring window."""

    rtt_ms: list[float] = field(default_factory=list)
    answer_rtt_ms: list[float] = field(default_factory=list)
    match_ms: list[float] = field(default_factory=list)
    join_ms: list[float] = field(default_factory=list)  # queue_join -> its reply (the hold)
    duels: int = 0
    wins: int = 0
    ties: int = 0
    aborted: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, code: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1


class Harness:
    """Shared state of all players: the stats window and the join/match times per room."""

    def __init__(self, think_s: float = 0.0, stagger_s: float = 0.0) -> None:
        assert 0 <= think_s <= MAX_THINK_S and 0 <= stagger_s <= MAX_STAGGER_S
        self.think_s = think_s  # a player's pause before re-joining: uniform 0..think_s
        self.stagger_s = stagger_s  # a player's first join waits uniform 0..stagger_s
        self.stats = Stats()
        self.joins: dict[str, float] = {}  # user_id -> when its queue_join was sent
        self.rooms: dict[str, list[tuple[float, float]]] = {}  # room -> [(join, found)]
        self.in_duel = 0
        self.moves = 0  # players that went to another node for their room
        self.stop = asyncio.Event()

    def found(self, room_id: str, join_t: float, found_t: float) -> None:
        seen = self.rooms.setdefault(room_id, [])
        seen.append((join_t, found_t))
        if len(seen) == 2:
            del self.rooms[room_id]
            second_join = max(j for j, _ in seen)
            both_found = max(f for _, f in seen)
            self.stats.match_ms.append((both_found - second_join) * 1000)


class Player:
    """One raw websocket player looping over duels, one request a second."""

    def __init__(self, url: str, token: str, harness: Harness, rng: random.Random) -> None:
        self.url = url
        self.token = token
        self.h = harness
        self.rng = rng
        self.ws: ClientConnection | None = None
        self.user_id = ""
        self.rids = wire.RequestIds()
        self.pending: dict[int, tuple[str, float, asyncio.Future[dict[str, Any]]]] = {}
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue(256)
        self.room_id: str | None = None
        self.question: tuple[int, float] | None = None  # (index, deadline monotonic)
        self.answered: set[int] = set()
        self.busy = False  # a queue/seat request is in flight: the ticker waits (one at a time)
        self.queued = False
        self.reader_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect, say hello, and start reading (the reader task is the player's own)."""
        self.ws = await connect(self.url, max_size=2**20, open_timeout=30, ping_interval=None)
        await self.ws.send(pack(wire.hello(self.token)))
        try:
            welcome = wire.welcome_of(unpack(await asyncio.wait_for(self.ws.recv(), 30)))
        except MatchpotError as exc:
            raise RuntimeError(f"no welcome: {exc}") from None
        self.user_id = welcome["user"]["id"]
        self.reader_task = asyncio.create_task(self.reader())

    async def move(self, url: str) -> None:
        """Go to the node hosting the room (as the PWA does with `ws_url`): the old socket is
        closed by this player first, so no `replaced` close is counted as a failure."""
        self.h.moves += 1
        if self.reader_task is not None:
            self.reader_task.cancel()
            await asyncio.gather(self.reader_task, return_exceptions=True)
        for _t, _sent, fut in self.pending.values():
            if not fut.done():
                fut.set_exception(RuntimeError("moved"))  # a ping in flight: not counted
        self.pending.clear()
        await self.close()
        self.url = url
        await self.start()

    async def request(self, t: str, **fields: Any) -> dict[str, Any]:
        assert self.ws is not None
        rid = self.rids.next()
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[rid] = (t, time.perf_counter(), fut)
        await self.ws.send(pack(wire.frame(t, rid, **fields)))
        return await asyncio.wait_for(fut, 30)

    async def reader(self) -> None:
        assert self.ws is not None
        with contextlib.suppress(ConnectionClosed):
            async for data in self.ws:
                now = time.perf_counter()
                frame = unpack(data)
                rid = wire.reply_rid(frame)
                if rid is not None and rid in self.pending:
                    t, sent, fut = self.pending.pop(rid)
                    error = wire.error_of(frame)
                    if error is not None:
                        self.h.stats.error(error.code)
                        fut.set_exception(RuntimeError(error.code))
                        continue
                    ms = (now - sent) * 1000
                    if t in ("ping", "quiz_answer"):
                        self.h.stats.rtt_ms.append(ms)
                    if t == "quiz_answer":
                        self.h.stats.answer_rtt_ms.append(ms)
                    elif t == "queue_join":
                        self.h.stats.join_ms.append(ms)
                    fut.set_result(frame)
                    continue
                kind = frame["t"]
                if kind == "quiz_question":
                    # Answer only while the server's deadline is 150 ms away or more.
                    left_s = (int(frame["deadline_ms"]) - time.time() * 1000 - 150) / 1000
                    self.question = (int(frame["index"]), time.monotonic() + max(0.0, left_s))
                elif kind in ("match_found", "quiz_result", "room_aborted", "queue_timeout"):
                    frame["_at"] = now
                    if self.events.full():
                        self.events.get_nowait()
                    self.events.put_nowait(frame)
        if not self.h.stop.is_set():
            self.h.stats.error("disconnected")

    async def ticker(self) -> None:
        """One request a second: the open question's answer, else a ping."""
        await asyncio.sleep(self.rng.random())
        next_t = time.monotonic()
        while not self.h.stop.is_set() and self.ws is not None:
            next_t += 1.0
            q = self.question
            try:
                if self.busy:
                    pass  # handlers of one connection run in order; do not queue behind it
                elif (q is not None and self.room_id is not None and q[0] not in self.answered
                        and time.monotonic() < q[1]):
                    self.answered.add(q[0])
                    await self.request("quiz_answer", room_id=self.room_id, index=q[0],
                                       choice=self.rng.randrange(4))
                else:
                    await self.request("ping")
            except (RuntimeError, TimeoutError, ConnectionClosed):
                pass
            await asyncio.sleep(max(0.0, next_t - time.monotonic()))

    async def loop(self) -> None:
        """Duel after duel until the harness stops."""
        if self.h.stagger_s:
            await asyncio.sleep(self.rng.uniform(0, self.h.stagger_s))
        while not self.h.stop.is_set():
            join_t = time.perf_counter()
            try:
                self.busy = True
                try:
                    await self.request("queue_join", game="quiz", stake_minor=STAKE_MINOR)
                finally:
                    self.busy = False
                self.queued = True
                try:
                    found = await self._next_event({"match_found", "queue_timeout", "_left"}, 120)
                finally:
                    self.queued = False
                if found["t"] == "_left":
                    return
                if found["t"] != "match_found":
                    self.h.stats.error("queue_timeout")
                    continue
                room_id = str(found["room_id"])
                self.h.found(room_id, join_t, float(found["_at"]))
                if str(found.get("ws_url", self.url)) != self.url:
                    self.busy = True
                    try:
                        await self.move(str(found["ws_url"]))
                    finally:
                        self.busy = False
                self.answered.clear()
                self.question = None
                self.busy = True
                try:
                    await self.request("room_join", room_id=room_id,
                                       seat_token=found["seat_token"])
                finally:
                    self.busy = False
                self.room_id = room_id
                self.h.in_duel += 1
                try:
                    end = await self._next_event({"quiz_result", "room_aborted"}, 120)
                finally:
                    self.h.in_duel -= 1
                    self.room_id = None
                self.h.stats.duels += 1
                if end["t"] == "room_aborted":
                    self.h.stats.aborted += 1
                elif end.get("winner") == self.user_id:
                    self.h.stats.wins += 1
                elif end.get("result") == "tie_refund":
                    self.h.stats.ties += 1
                if self.h.think_s:
                    await asyncio.sleep(self.rng.uniform(0, self.h.think_s))
            except (RuntimeError, TimeoutError) as exc:
                self.h.stats.error(f"loop:{type(exc).__name__}:{exc}"[:60])
                await asyncio.sleep(1)
            except ConnectionClosed:
                return

    async def _next_event(self, types: set[str], timeout_s: float) -> dict[str, Any]:
        async with asyncio.timeout(timeout_s):
            while True:
                event = await self.events.get()
                if event["t"] in types:
                    return event

    async def leave_queue(self) -> None:
        """At the end of a run: leave the queue so the held stake is released at once."""
        if not self.queued or self.ws is None:
            return
        with contextlib.suppress(RuntimeError, TimeoutError, ConnectionClosed):
            await self.request("queue_leave")
            self.events.put_nowait({"t": "_left"})

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 2)


# -- set-up: services, server, players --------------------------------------------------------


ADMIN_DB_URL = "postgresql://postgres@127.0.0.1:5432/test"
LOCAL_REDIS_URL = "redis://127.0.0.1:6379/0"


@contextlib.contextmanager
def services() -> Iterator[tuple[str, str]]:
    """(database_url, redis_url): a fresh database on the configured Postgres, dropped after."""
    admin_url = os.environ.get("DATABASE_URL", ADMIN_DB_URL)
    name = f"mp_capacity_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    base = admin_url.partition("?")[0].rpartition("/")[0]
    try:
        yield f"{base}/{name}", os.environ.get("REDIS_URL", LOCAL_REDIS_URL)
    finally:
        with contextlib.suppress(Exception):
            asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def server_env(db: str, redis: str, data_dir: Path, prefix: str, port: int,
               timing: str = "fast") -> dict[str, str]:
    env = dict(os.environ)
    env.update(serve.SETUP_ENV)
    env.update(QUIZ_ENV)
    env.update(TIMINGS[timing])
    env.update(DATABASE_URL=db, REDIS_URL=redis, MATCHPOT_DATA_DIR=str(data_dir),
               MATCHPOT_JWT_SECRET=JWT_SECRET, MATCHPOT_REDIS_PREFIX=prefix,
               MATCHPOT_PORT=str(port), MATCHPOT_HOST="127.0.0.1")
    return env


def _pinned_server(cpu: int = 0) -> Callable[[], None]:
    def pin() -> None:
        pin_to(cpu)
        raise_open_files()
    return pin


def start_server(env: dict[str, str], log: Path, cpu: int = 0) -> subprocess.Popen[bytes]:
    """`matchpot serve` pinned to CPU `cpu` with a raised open-files limit."""
    return serve.start(env, log, int(env["MATCHPOT_PORT"]), preexec_fn=_pinned_server(cpu))


def make_players(env: dict[str, str], count: int, tmp: Path) -> list[str]:
    """`count` funded players made over HTTP by a server at log level INFO (then stopped)."""
    setup_env = dict(env, MATCHPOT_LOG_LEVEL="INFO")
    log = tmp / "setup-server.log"
    ensure_admin(setup_env, "capacity-finance", "capacity-finance-password")
    proc = serve.start(setup_env, log, int(env["MATCHPOT_PORT"]))
    try:
        serve.wait_ready(int(env["MATCHPOT_PORT"]), proc)
        players = asyncio.run(create_players(
            f"http://127.0.0.1:{env['MATCHPOT_PORT']}", log, count, FUNDS_MINOR, "+254791",
            tmp / "users.jsonl", admin_username="capacity-finance",
            admin_password="capacity-finance-password"))
    finally:
        serve.stop(proc)
    return [p.token for p in players]


def check_books(db: str, wait_s: float) -> int:
    """`python -m benchmarks.check_books` (the ledger's own invariants): its exit status."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.check_books", "--database-url", db,
         "--wait-s", str(wait_s)], cwd=REPO, check=False, timeout=wait_s + 120,
    )
    return done.returncode


# -- the ramp --------------------------------------------------------------------------------


@dataclass
class Level:
    duels: int
    players: int
    connected: int
    in_duel_avg: float
    rtt_p50_ms: float
    rtt_p99_ms: float
    answer_p99_ms: float
    match_p50_ms: float
    match_p99_ms: float
    join_p99_ms: float  # queue_join's own reply: the stake's hold
    duels_done: int
    requests: int
    server_cpu_pct: float
    client_cpu_pct: float
    open_files: int
    rss_mb: float
    errors: dict[str, int]
    stalls: Stalls = field(default_factory=Stalls)  # the busiest server's (most late probes)
    servers_cpu_pct: float = 0.0  # all server processes together (one: = server_cpu_pct)
    moves: int = 0  # players that moved to another node for a room (cumulative)

    @property
    def sustained(self) -> bool:
        return (self.rtt_p99_ms < P99_TARGET_MS and not self.errors
                and self.in_duel_avg >= 0.5 * self.players and self.duels_done > 0)


async def ramp(urls: list[str], tokens: list[str], levels: list[int], warmup_s: float,
               step_s: float, servers: list[ProcStat], max_s: float, think_s: float = 0.0,
               stagger_s: float = 0.0) -> tuple[list[Level], str]:
    """Players are spread over `urls` (one per server) and move to their room's node."""
    harness = Harness(think_s, stagger_s)
    rng = random.Random(20261121)
    players: list[Player] = []
    tasks: list[asyncio.Task[None]] = []
    results: list[Level] = []
    limit = "all levels sustained"
    started = time.monotonic()
    try:
        for duels in levels:
            want = 2 * duels
            if want > len(tokens):
                limit = f"not enough players set up for {duels} duels"
                break
            if time.monotonic() - started > max_s:
                limit = f"time budget of {max_s:.0f} s spent"
                break
            print(f"[capacity] {duels} duels: connecting {want - len(players)} players", flush=True)
            while len(players) < want:
                batch = []
                for token in tokens[len(players):min(want, len(players) + CONNECT_PER_S // 4)]:
                    url = urls[len(players) % len(urls)]
                    p = Player(url, token, harness, random.Random(rng.getrandbits(64)))
                    players.append(p)
                    batch.append(p)
                got = await asyncio.gather(*(p.start() for p in batch), return_exceptions=True)
                for p, g in zip(batch, got, strict=True):
                    if isinstance(g, BaseException):
                        harness.stats.error(f"connect:{type(g).__name__}")
                        continue
                    tasks += [asyncio.create_task(p.ticker()), asyncio.create_task(p.loop())]
                await asyncio.sleep(0.25)
            await asyncio.sleep(warmup_s)
            # The load client is Python too: a full collection of its thousands of sockets
            # and tasks would stop its loop for a few hundred ms and show up as server
            # latency. Collect now, then not during the window (a bounded 20-60 s).
            gc.collect()
            gc.disable()
            harness.stats = Stats()
            http_urls = [u.replace("ws://", "http://", 1).removesuffix("/ws") for u in urls]
            stalls0 = [await stalls_of(u) for u in http_urls]
            cpu0 = [s.cpu_s() for s in servers]
            own0, t0 = time.process_time(), time.monotonic()
            samples: list[int] = []
            for _ in range(int(step_s)):
                await asyncio.sleep(1)
                samples.append(harness.in_duel)
            elapsed = time.monotonic() - t0
            stalls = [await stalls_of(u) - b for u, b in zip(http_urls, stalls0, strict=True)]
            gc.enable()
            s = harness.stats
            level = Level(
                duels=duels, players=want, connected=sum(p.ws is not None for p in players),
                in_duel_avg=statistics.fmean(samples) if samples else 0.0,
                rtt_p50_ms=pct(s.rtt_ms, 0.5), rtt_p99_ms=pct(s.rtt_ms, 0.99),
                answer_p99_ms=pct(s.answer_rtt_ms, 0.99),
                match_p50_ms=pct(s.match_ms, 0.5), match_p99_ms=pct(s.match_ms, 0.99),
                join_p99_ms=pct(s.join_ms, 0.99),
                duels_done=s.duels // 2, requests=len(s.rtt_ms),
                server_cpu_pct=max(100 * (s.cpu_s() - c0) / elapsed
                                   for s, c0 in zip(servers, cpu0, strict=True)),
                servers_cpu_pct=sum(100 * (s.cpu_s() - c0) / elapsed
                                    for s, c0 in zip(servers, cpu0, strict=True)),
                client_cpu_pct=100 * (time.process_time() - own0) / elapsed,
                open_files=max(s.open_files() for s in servers),
                rss_mb=max(s.rss_mb() for s in servers), errors=dict(s.errors),
                moves=harness.moves, stalls=max(stalls, key=lambda x: x.late_50ms),
            )
            results.append(level)
            print(f"[capacity] {level}", flush=True)
            if not level.sustained:
                limit = why_not(level)
                break
    finally:
        gc.enable()
        # Wind down like players would: no new duels, leave the queue, finish the duel.
        harness.stop.set()
        await asyncio.gather(*(p.leave_queue() for p in players), return_exceptions=True)
        loops = [t for t in tasks if t.get_coro().__name__ == "loop"]  # type: ignore[union-attr]
        for _ in range(3):  # a player whose queue_join was in flight is queued only now
            if loops:
                _, pending = await asyncio.wait(loops, timeout=20)
                loops = list(pending)
            await asyncio.gather(*(p.leave_queue() for p in players), return_exceptions=True)
        tasks += [p.reader_task for p in players if p.reader_task is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(p.close() for p in players), return_exceptions=True)
    return results, limit


def why_not(level: Level) -> str:
    reasons = []
    if level.rtt_p99_ms >= P99_TARGET_MS:
        reasons.append(f"p99 {level.rtt_p99_ms:.0f} ms >= {P99_TARGET_MS:.0f} ms")
    if level.server_cpu_pct > 90:
        reasons.append(f"server core at {level.server_cpu_pct:.0f}% CPU")
    if level.client_cpu_pct > 90:
        reasons.append(f"load client core at {level.client_cpu_pct:.0f}% CPU")
    if level.open_files > 0.9 * OPEN_FILES_LIMIT:
        reasons.append(f"{level.open_files} open files")
    if level.errors:
        reasons.append(f"errors {level.errors}")
    if level.in_duel_avg < 0.5 * level.players:
        reasons.append(f"only {level.in_duel_avg:.0f} of {level.players} players seated")
    return "; ".join(reasons) or "unknown"


def report(levels: list[Level], limit: str, command: str, timing: str = "fast",
           servers: int = 1) -> str:
    def cpu_all(lv: Level) -> str:
        return f" (all {lv.servers_cpu_pct:.0f}%, {lv.moves} moves)" if servers > 1 else ""

    who = "one server process" if servers == 1 else f"{servers} server processes"
    where = ("server pinned to CPU 0,\nload client pinned to CPU 1" if servers == 1 else
             f"{servers} servers pinned to CPUs 0..{servers - 1} behind the room directory, "
             "players spread over them\nand moving to their room's node; load client not pinned")
    best = max((lv.duels for lv in levels if lv.sustained), default=0)
    rows = "\n".join(
        f"| {lv.duels} | {lv.players} | {lv.in_duel_avg / 2:.0f} | {lv.rtt_p50_ms:.1f} "
        f"| {lv.rtt_p99_ms:.1f} | {lv.answer_p99_ms:.1f} | {lv.match_p50_ms:.1f} "
        f"| {lv.match_p99_ms:.1f} ({lv.join_p99_ms:.0f}) | {lv.duels_done} | {lv.requests} "
        f"| {lv.server_cpu_pct:.0f}%{cpu_all(lv)} "
        f"| {lv.client_cpu_pct:.0f}% | {lv.open_files} | {lv.rss_mb:.0f} "
        f"| {lv.stalls.late_50ms} / {lv.stalls.late_100ms} of {lv.stalls.probes} "
        f"| {lv.stalls.full_gcs} ({lv.stalls.full_gc_ms:.0f} ms) "
        f"| {'yes' if lv.sustained else 'no'} |"
        for lv in levels
    )
    return (
        f"### Capacity, {timing} timing{'' if servers == 1 else f', {servers} servers'}"
        f" (`loadtest/capacity.py`)\n\n"
        f"`{command}` — {dt.date.today().isoformat()}, {machine()}; {where}; "
        f"{TIMING_TEXT[timing]}; every player sends one request a second.\n\n"
        f"| target duels | players | seated duels (avg) | rtt p50 ms | rtt p99 ms "
        f"| answer p99 ms | join→match p50 ms | join→match p99 ms (queue_join p99) "
        f"| duels done | requests "
        f"| server CPU{' (busiest)' if servers > 1 else ''} | client CPU "
        f"| server open files | server RSS MB | loop late ≥ 50 / ≥ 100 ms (probes) "
        f"| full GCs | p99 < 100 ms |\n"
        f"|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n{rows}\n\n"
        f"Most concurrent duels sustained by {who} with p99 < 100 ms: "
        f"**{best}**. Stopped by: {limit}.\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="250,500,1000,2000")
    parser.add_argument("--warmup-s", type=float, default=10.0)
    parser.add_argument("--step-s", type=float, default=20.0)
    parser.add_argument("--max-s", type=float, default=900.0, help="bound of the whole ramp")
    parser.add_argument("--timing", choices=sorted(TIMINGS), default="fast",
                        help="quiz timing: fast (1 s questions) or the product's default")
    parser.add_argument("--servers", type=int, default=1, choices=(1, 2),
                        help="server processes behind the room directory (2: one per CPU)")
    parser.add_argument("--think-s", type=float, default=0.0,
                        help="each player pauses a random 0..THINK_S seconds after a duel before"
                             " joining again (0: at once, the figure's model); a diagnostic,"
                             " not written to the report")
    parser.add_argument("--stagger-s", type=float, default=0.0,
                        help="each newly connected player waits a random 0..STAGGER_S seconds"
                             " before its first join (0: at once, the figure's model), so rooms"
                             " do not start in step; a diagnostic, not written to the report")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    if not 0 <= args.think_s <= MAX_THINK_S:
        parser.error(f"--think-s is 0..{MAX_THINK_S:g}")
    if not 0 <= args.stagger_s <= MAX_STAGGER_S:
        parser.error(f"--stagger-s is 0..{MAX_STAGGER_S:g}")
    if (args.think_s or args.stagger_s) and args.write:
        parser.error("--think-s/--stagger-s runs are diagnostics: the report's model joins at once")
    if not 1 <= args.step_s <= 120:
        parser.error("--step-s is 1..120 (the load client does not collect garbage meanwhile)")
    levels = sorted({int(x) for x in args.levels.split(",")})
    if not levels or levels[0] < 1 or 2 * levels[-1] > MAX_PLAYERS:
        parser.error(f"levels must be 1..{MAX_PLAYERS // 2} duels")
    if args.servers == 1:
        pin_to(1)  # with two servers (one per CPU) the load client is left to the scheduler
    raise_open_files()
    import uvloop

    command = "python -m loadtest.capacity " + " ".join(sys.argv[1:])
    with tempfile.TemporaryDirectory(prefix="mp-capacity-") as tmp_name, \
            services() as (db, redis):
        tmp = Path(tmp_name)
        port = free_port()
        env = server_env(db, redis, tmp / "data", f"mpcap{uuid.uuid4().hex[:6]}", port,
                         args.timing)
        (tmp / "data").mkdir()
        print(f"[capacity] creating {2 * levels[-1]} players", flush=True)
        tokens = make_players(env, 2 * levels[-1], tmp)
        ports = [port, *(free_port() for _ in range(args.servers - 1))]
        procs: list[subprocess.Popen[bytes]] = []
        logs = [tmp / f"server-{k}.log" for k in range(args.servers)]
        try:
            for k, (p, log) in enumerate(zip(ports, logs, strict=True)):
                procs.append(start_server(dict(env, MATCHPOT_PORT=str(p)), log,
                                          cpu=k % (os.cpu_count() or 1)))
            for p, proc in zip(ports, procs, strict=True):
                serve.wait_ready(p, proc)
            results, limit = uvloop.run(ramp(
                [f"ws://127.0.0.1:{p}/ws" for p in ports], tokens, levels, args.warmup_s,
                args.step_s, [ProcStat(proc.pid) for proc in procs], args.max_s,
                args.think_s, args.stagger_s))
        finally:
            for proc, log in zip(procs, logs, strict=False):
                serve.stop(proc)
                tail = log.read_text(errors="replace").splitlines()[-15:]
                if proc.returncode not in (0, -signal.SIGTERM):
                    print("\n".join(tail))
        books = check_books(db, 60)
    text = report(results, limit, command, args.timing, args.servers)
    verdict = "ok" if books == 0 else "FAILED"
    text += f"\nBooks after the run (`benchmarks/check_books.py`): {verdict}.\n"
    print(text)
    if args.write:
        replace_live_duels(capacity=text, timing=args.timing, servers=args.servers)
    return 0 if books == 0 else 1


def replace_live_duels(*, capacity: str | None = None, timing: str = "fast", servers: int = 1,
                       echo: str | None = None, locust: str | None = None,
                       findings: str | None = None) -> None:
    """Rewrite the "## Live duels" section, keeping the sub-parts this run did not measure."""
    text = DOC.read_text() if DOC.exists() else ""
    m = re.search(rf"^{re.escape(SECTION)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    old = m.group(1) if m else ""
    order = (*(f"Capacity, {t} timing{s}" for t in sorted(TIMINGS, reverse=True)
               for s in ("", ", 2 servers")),
             "Echo ceiling", "Locust", "Findings")
    parts: dict[str, str] = {}
    for name in order:
        pm = re.search(rf"^### {re.escape(name)}(?= \(|\n).*?(?=^### |\Z)", old, re.S | re.M)
        if pm:
            parts[name] = pm.group(0).strip()
    capacity_name = f"Capacity, {timing} timing" + ("" if servers == 1 else f", {servers} servers")
    for name, new in ((capacity_name, capacity), ("Echo ceiling", echo),
                      ("Locust", locust), ("Findings", findings)):
        if new is not None:
            parts[name] = new.strip()
    intro = ("Live quiz duels over websockets against one server process "
             "(commands under `loadtest/`, see loadtest/README.md).")
    body = "\n\n".join([intro, *(parts[n] for n in order if n in parts)])
    replace_section(f"{SECTION}\n\n{body.strip()}", SECTION, DOC)


if __name__ == "__main__":
    raise SystemExit(main())
