"""Quiz bots: players that queue, sit and answer real duels over the websocket.

A bot never knows the right answer — the server only reveals it after the
question closes (that is the point of the game). So a bot *guesses*: it picks
one of the offered choices uniformly at random after a short random think time.
The one knob about its play is `answer_rate`: the chance that it answers a
question at all (otherwise it lets the question time out, which scores nothing
and costs the full answer window in time). There is deliberately no
"accuracy" knob: it could only be honoured by a server that leaked answers.

`python -m matchpot_client bot quiz --tokens-file users.jsonl --bots 4 --count 10`
runs the bots and prints a summary: duels, wins, losses, ties, aborted, and the
net change of the bots' balances.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matchpot_client.errors import MatchpotError
from matchpot_client.play import PlayClient

__all__ = [
    "BotConfig", "BotSummary", "DuelOutcome", "QuizBot", "load_tokens", "run_bots",
]

MAX_EVENTS_PER_DUEL = 256  # a duel is ~15 frames per seat; a bound for a misbehaving server
MAX_BOTS = 5_000
MAX_DUELS_PER_BOT = 100_000


@dataclass(frozen=True)
class BotConfig:
    """How bots play. Times in seconds."""

    game: str = "quiz"
    stake_minor: int = 10_000
    answer_rate: float = 1.0
    think_min_s: float = 0.2
    think_max_s: float = 1.5
    match_timeout_s: float = 120.0
    duel_timeout_s: float = 180.0

    def __post_init__(self) -> None:
        assert self.stake_minor > 0
        assert 0.0 <= self.answer_rate <= 1.0
        assert 0.0 <= self.think_min_s <= self.think_max_s
        assert self.match_timeout_s > 0 and self.duel_timeout_s > 0


@dataclass(frozen=True)
class DuelOutcome:
    """One duel as a bot saw it."""

    room_id: str
    result: str  # "win" | "loss" | "tie" | "aborted"
    payout_minor: int
    answered: int
    questions: int


@dataclass
class BotSummary:
    """What a group of bots did; `net_minor` comes from the server's balances, not a tally."""

    duels: int = 0
    wins: int = 0
    losses: int = 0
    ties: int = 0
    aborted: int = 0
    queue_timeouts: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    net_minor: int = 0
    answers: int = 0

    def add(self, outcome: DuelOutcome) -> None:
        self.duels += 1
        self.answers += outcome.answered
        if outcome.result == "win":
            self.wins += 1
        elif outcome.result == "loss":
            self.losses += 1
        elif outcome.result == "tie":
            self.ties += 1
        else:
            self.aborted += 1

    def add_error(self, code: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1

    def merge(self, other: BotSummary) -> None:
        self.duels += other.duels
        self.wins += other.wins
        self.losses += other.losses
        self.ties += other.ties
        self.aborted += other.aborted
        self.queue_timeouts += other.queue_timeouts
        self.net_minor += other.net_minor
        self.answers += other.answers
        for code, n in other.errors.items():
            self.errors[code] = self.errors.get(code, 0) + n

    def text(self, money_mode: str = "credits") -> str:
        """A one-line summary; amounts shown with two decimals, in credits in credits mode."""
        unit = " credits" if money_mode == "credits" else ""
        sign = "-" if self.net_minor < 0 else "+"
        net = abs(self.net_minor)
        errors = ", ".join(f"{k}={v}" for k, v in sorted(self.errors.items())) or "none"
        return (
            f"duels {self.duels}  wins {self.wins}  losses {self.losses}  ties {self.ties}"
            f"  aborted {self.aborted}  queue timeouts {self.queue_timeouts}"
            f"  net {sign}{net // 100}.{net % 100:02d}{unit}  errors {errors}"
        )


def _available_minor(balances: Sequence[dict[str, Any]], currency: str | None) -> int:
    """The available amount in `currency` (None: the first listed, the server's default)."""
    for balance in balances:
        if currency is None or balance.get("currency") == currency:
            return int(balance["available_minor"])
    return 0


class QuizBot:
    """One bot player on one connected PlayClient."""

    def __init__(self, client: PlayClient, config: BotConfig, rng: random.Random) -> None:
        self.client = client
        self.config = config
        self.rng = rng

    @property
    def user_id(self) -> str:
        assert self.client.welcome is not None, "connect the client first"
        return str(self.client.welcome["user"]["id"])

    async def play_duel(self) -> DuelOutcome:
        """Queue, sit, and play one duel to its end. Raises MatchpotError on a queue timeout."""
        cfg = self.config
        await self.client.queue_join(cfg.game, cfg.stake_minor)
        found = await self.client.wait_match(timeout=cfg.match_timeout_s)
        room_id = str(found["room_id"])
        await self.client.room_join(room_id, str(found["seat_token"]))
        deadline = time.monotonic() + cfg.duel_timeout_s
        answered = questions = 0
        for _ in range(MAX_EVENTS_PER_DUEL):
            left_s = deadline - time.monotonic()
            event = await self.client.next_of(
                ("quiz_question", "quiz_result", "room_aborted"), timeout=max(0.01, left_s)
            )
            if event.get("room_id") not in (None, room_id):
                continue  # a late frame of an earlier room
            if event["t"] == "quiz_question":
                questions += 1
                if await self._maybe_answer(room_id, event):
                    answered += 1
            elif event["t"] == "quiz_result":
                return DuelOutcome(room_id, self._result_of(event),
                                   int(event.get("payout_minor", 0)), answered, questions)
            else:
                return DuelOutcome(room_id, "aborted", 0, answered, questions)
        raise MatchpotError("too_many_events", "The duel sent more frames than a duel has.")

    async def _maybe_answer(self, room_id: str, question: dict[str, Any]) -> bool:
        if self.rng.random() >= self.config.answer_rate:
            return False
        choices = question.get("choices") or []
        if not choices:
            return False
        await asyncio.sleep(self.rng.uniform(self.config.think_min_s, self.config.think_max_s))
        try:
            await self.client.answer(room_id, int(question["index"]),
                                     self.rng.randrange(len(choices)))
        except MatchpotError as exc:
            if exc.code in ("answer_late", "wrong_question"):
                return False  # thought too long: the question closed meanwhile
            raise
        return True

    def _result_of(self, result: dict[str, Any]) -> str:
        name = result.get("result")
        if name == "win":
            return "win" if result.get("winner") == self.user_id else "loss"
        if name == "tie_refund":
            return "tie"
        return "aborted"

    async def play(self, count: int) -> BotSummary:
        """Play `count` duels one after another; net from the server's balance before and after."""
        assert 0 <= count <= MAX_DUELS_PER_BOT
        summary = BotSummary()
        start_minor = _available_minor(await self.client.balances(), None)
        for _ in range(count):
            try:
                summary.add(await self.play_duel())
            except MatchpotError as exc:
                if exc.code == "queue_timeout":
                    summary.queue_timeouts += 1
                    continue
                summary.add_error(exc.code)
                if exc.code in ("disconnected", "closed", "insufficient_funds"):
                    break
                with contextlib.suppress(MatchpotError):
                    await self.client.queue_leave()
        with contextlib.suppress(MatchpotError):
            end_minor = _available_minor(await self.client.balances(), None)
            summary.net_minor = end_minor - start_minor
        return summary


def load_tokens(path: Path, limit: int) -> list[str]:
    """Access tokens: JSON lines with "token" (loadtest/setup_users.py) or bare lines."""
    assert limit >= 1
    tokens: list[str] = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            tokens.append(str(json.loads(line)["token"]) if line.startswith("{") else line)
            if len(tokens) >= limit:
                break
    return tokens


async def run_bots(
    base_url: str, tokens: Sequence[str], count: int, config: BotConfig, *,
    seed: int | None = None,
) -> tuple[BotSummary, str]:
    """Connect one bot per token, let each play `count` duels at once; (summary, money mode)."""
    assert 1 <= len(tokens) <= MAX_BOTS
    master = random.Random(seed)
    clients = [PlayClient(base_url, access_token=t, reconnect=False) for t in tokens]
    money_mode = "credits"
    try:
        welcomes = await asyncio.gather(*(c.connect() for c in clients))
        money_mode = str(welcomes[0].get("money_mode", "credits"))
        bots = [QuizBot(c, config, random.Random(master.getrandbits(64))) for c in clients]
        parts = await asyncio.gather(*(b.play(count) for b in bots))
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
    total = BotSummary()
    for part in parts:
        total.merge(part)
    return total, money_mode


def add_parser(sub: Any) -> None:
    """The `bot` subcommand of `python -m matchpot_client`."""
    b = sub.add_parser("bot", help="run bots that play real duels and print a summary")
    b.add_argument("game", choices=["quiz"])
    b.add_argument("--base-url", default="http://127.0.0.1:8000")
    who = b.add_mutually_exclusive_group(required=True)
    who.add_argument("--tokens-file", type=Path,
                     help="access tokens, one per line or JSON lines with 'token'"
                          " (loadtest/setup_users.py writes them)")
    who.add_argument("--phone-prefix",
                     help="log in bots as <prefix>000, <prefix>001, ...; codes are read from stdin")
    b.add_argument("--bots", type=int, default=2, help="bots playing at once (default 2)")
    b.add_argument("--count", type=int, default=1, help="duels each bot plays (default 1)")
    b.add_argument("--stake", type=int, default=10_000, help="stake in minor units")
    b.add_argument("--answer-rate", type=float, default=1.0,
                   help="chance of answering a question at all; the choice is always a guess")
    b.add_argument("--think-min", type=float, default=0.2, help="seconds")
    b.add_argument("--think-max", type=float, default=1.5, help="seconds")
    b.add_argument("--seed", type=int, default=None)


async def _login_by_phone(base_url: str, prefix: str, n: int) -> list[str]:
    tokens: list[str] = []
    for i in range(n):
        phone = f"{prefix}{i:03d}"
        client = PlayClient(base_url)
        try:
            await client.request_otp(phone)
            code = (await asyncio.to_thread(input, f"code for {phone}: ")).strip()
            session = await client.verify_otp(phone, code)
            tokens.append(session.access_token)
        finally:
            await client.close()
    return tokens


async def main_async(args: Any) -> int:
    """Run the `bot` subcommand; 0 when every bot finished without an error."""
    import sys

    if not 1 <= args.bots <= MAX_BOTS or not 0 <= args.count <= MAX_DUELS_PER_BOT:
        print(f"error: --bots must be 1..{MAX_BOTS} and --count 0..{MAX_DUELS_PER_BOT}",
              file=sys.stderr)
        return 2
    try:
        config = BotConfig(stake_minor=args.stake, answer_rate=args.answer_rate,
                           think_min_s=args.think_min, think_max_s=args.think_max)
    except AssertionError:
        print("error: --stake > 0, 0 <= --answer-rate <= 1, 0 <= --think-min <= --think-max",
              file=sys.stderr)
        return 2
    try:
        if args.tokens_file is not None:
            tokens = load_tokens(args.tokens_file, args.bots)
        else:
            tokens = await _login_by_phone(args.base_url, args.phone_prefix, args.bots)
        if len(tokens) < args.bots:
            print(f"error: only {len(tokens)} tokens for {args.bots} bots", file=sys.stderr)
            return 2
        summary, mode = await run_bots(args.base_url, tokens, args.count, config, seed=args.seed)
    except MatchpotError as exc:
        print(f"error: {exc.code}: {exc.msg}", file=sys.stderr)
        return 1
    print(summary.text(mode), flush=True)
    return 0 if not summary.errors else 1
