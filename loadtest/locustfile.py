"""Locust: players queue, get matched and play whole quiz duels over websockets.

    python -m loadtest.setup_users --count 400 --out loadtest/reports/users.jsonl
    locust -f loadtest/locustfile.py --headless -u 200 -r 50 -t 60s \
        --host http://127.0.0.1:8000 --html loadtest/reports/locust.html \
        --csv loadtest/reports/locust
    python -m loadtest.check_books --wait-s 60

Each locust user takes the next token of MATCHPOT_LOAD_TOKENS (default
loadtest/reports/users.jsonl, written by setup_users.py with the server's
environment), so run at most as many users as there are tokens. Reported as
request type "WS":

- `queue_join`: queue_join -> queued round trip;
- `time_to_match`: queue_join sent -> match_found received;
- `room_join`: room_join -> reply round trip;
- `quiz_answer`: quiz_answer -> quiz_answer_ok round trip (the message round trip);
- `duel`: match_found -> quiz_result, a whole duel (failure when it was aborted).

A bot cannot know the right answer (the server reveals it only after the
question closes), so it guesses one of the offered choices after a short think.

Users speak the protocol through `matchpot_client.gevent_transport` (the client
package's wire module over `websocket-client` in greenlets).
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

import gevent
from locust import User, between, events, task
from matchpot_client import MatchpotError
from matchpot_client.gevent_transport import GeventConnection

TOKENS_FILE = Path(os.environ.get("MATCHPOT_LOAD_TOKENS", "loadtest/reports/users.jsonl"))
STAKE_MINOR = int(os.environ.get("MATCHPOT_LOAD_STAKE_MINOR", "10000"))
THINK_S = (0.1, 0.7)  # within a 1 s question (loadtest/README.md); capped by the deadline
DEADLINE_MARGIN_S = 0.1
MATCH_TIMEOUT_S = 120.0
DUEL_TIMEOUT_S = 180.0
MAX_EVENTS_PER_DUEL = 256

_tokens: list[str] = []
_next = 0
_lock = threading.Lock()


def next_token() -> str:
    """The next unused token; a player can hold only one seat, so users never share one."""
    global _next
    with _lock:
        if not _tokens:
            with TOKENS_FILE.open(encoding="utf-8") as f:
                _tokens.extend(json.loads(line)["token"] for line in f if line.strip())
        if _next >= len(_tokens):
            raise RuntimeError(f"more locust users than tokens in {TOKENS_FILE}")
        token = _tokens[_next]
        _next += 1
        return token


def fire(name: str, ms: float, exc: Exception | None = None, length: int = 0) -> None:
    events.request.fire(request_type="WS", name=name, response_time=ms,  # type: ignore[no-untyped-call]
                        response_length=length, exception=exc, context={})


class DuelPlayer(User):
    """A player who plays duel after duel at one stake."""

    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        assert self.host, "pass --host http://127.0.0.1:8000"
        ws_url = "ws" + self.host.rstrip("/").removeprefix("http") + "/ws"
        self.rng = random.Random()
        self.player = GeventConnection(ws_url, next_token())
        started = time.perf_counter()
        try:
            self.player.connect()
            fire("hello", (time.perf_counter() - started) * 1000)
        except (MatchpotError, OSError) as exc:
            fire("hello", (time.perf_counter() - started) * 1000, exc)
            raise

    def on_stop(self) -> None:
        # Leave the queue so a stake held for a match that will never be played comes back now.
        try:
            self.player.request("queue_leave")
        except MatchpotError:
            pass  # not queued (or already gone): nothing is held for a queue
        self.player.close()

    @task
    def duel(self) -> None:
        p = self.player
        try:
            queued_at = time.perf_counter()
            p.request("queue_join", game="quiz", stake_minor=STAKE_MINOR)
            fire("queue_join", (time.perf_counter() - queued_at) * 1000)
        except MatchpotError as exc:
            fire("queue_join", 0, exc)
            return
        try:
            found = p.next_of({"match_found", "queue_timeout"}, timeout=MATCH_TIMEOUT_S)
        except MatchpotError as exc:
            fire("time_to_match", (time.perf_counter() - queued_at) * 1000, exc)
            return
        matched_at = time.perf_counter()
        if found["t"] == "queue_timeout":
            fire("time_to_match", (matched_at - queued_at) * 1000,
                 MatchpotError("queue_timeout", "no opponent in time"))
            return
        fire("time_to_match", (matched_at - queued_at) * 1000)
        room_id = str(found["room_id"])
        try:
            started = time.perf_counter()
            p.request("room_join", room_id=room_id, seat_token=found["seat_token"])
            fire("room_join", (time.perf_counter() - started) * 1000)
            result = self._play(room_id)
        except MatchpotError as exc:
            fire("duel", (time.perf_counter() - matched_at) * 1000, exc)
            return
        duel_ms = (time.perf_counter() - matched_at) * 1000
        if result["t"] == "quiz_result":
            fire("duel", duel_ms)
        else:
            fire("duel", duel_ms, MatchpotError("room_aborted", str(result.get("reason"))))

    def _play(self, room_id: str) -> dict[str, Any]:
        p = self.player
        deadline = time.monotonic() + DUEL_TIMEOUT_S
        for _ in range(MAX_EVENTS_PER_DUEL):
            frame = p.next_of({"quiz_question", "quiz_result", "room_aborted"},
                              timeout=max(0.01, deadline - time.monotonic()))
            if frame.get("room_id") not in (None, room_id):
                continue
            if frame["t"] != "quiz_question":
                return frame
            choices = frame.get("choices") or [0, 1, 2, 3]
            left_s = float(frame.get("deadline_ms", 0)) / 1000 - time.time() - DEADLINE_MARGIN_S
            if left_s <= 0:
                continue  # a stale question (its window closed while this user was busy)
            gevent.sleep(min(left_s, self.rng.uniform(*THINK_S)))
            try:
                started = time.perf_counter()
                p.request("quiz_answer", room_id=room_id, index=frame["index"],
                          choice=self.rng.randrange(len(choices)))
                fire("quiz_answer", (time.perf_counter() - started) * 1000)
            except MatchpotError as exc:
                fire("quiz_answer", 0, exc)
                if exc.code in ("disconnected", "closed", "timeout"):
                    raise
        raise MatchpotError("too_many_events", "the duel sent more frames than a duel has")
