"""One wager match: ready check, play window with a lobby chat, reports, confirm window, dispute.

Written only against `rooms.api`. The match lives for hours, so every change
a player or an admin makes is written to a `Journal` (the server keeps it in
Postgres) before anyone is told: a node that restarts, or another node that
adopts the match, builds the room again from the journal (`options["resume"]`)
and its deadlines, which are absolute room-clock times, carry on. Timer-driven
changes all end the match, and the end is recorded by the settlement itself.

Phases (docs/wagers.md has the diagram):

    ready_check --both ready--> playing --one report--> reported --confirm window--> settle
        |  window: no-show           | window: void          | agreeing report -> settle
        |  both cancel: refund       | both cancel: refund   | contradicting / dispute
        v                            v                       v
     refund                       refund                  disputed --admin ruling--> settle
"""

from __future__ import annotations

import copy
import re
from collections import deque
from collections.abc import Mapping
from typing import Any, Protocol

from rooms.api import Frame, Game, GameError, Outcome, RoomContext, Seat, Settled, Signal
from rooms.games.wager.settings import WagerSettings
from rooms.types import MatchSpec

READY_TIMER = "ready"
PLAY_TIMER = "play"
CONFIRM_TIMER = "confirm"
SCORE_RE = re.compile(r"^\d{1,3}-\d{1,3}$")
CLAIMS = frozenset({"won", "lost"})
RULINGS = frozenset({"winner", "void"})
MAX_REASON_CHARS = 500
LIVE_PHASES = frozenset({"ready_check", "playing", "reported", "disputed"})
JOURNAL_VERSION = 1


class Journal(Protocol):
    """Where a match writes its state after every change (the server: Postgres).

    `event` names what happened (`ready`, `playing`, `chat`, `reported`,
    `disputed`, `cancel_requested`) with its facts, so the server can alert
    the other player. Raising refuses the change: the room puts the state back.
    """

    async def record(self, room_id: str, state: Mapping[str, Any],
                     event: Mapping[str, Any]) -> None: ...


class NullJournal:
    """No durability (room-level tests, a server without the wagers feature)."""

    async def record(self, room_id: str, state: Mapping[str, Any],
                     event: Mapping[str, Any]) -> None:
        return None


JOURNALS: dict[str, Journal] = {}
"""The journal each server process binds for its Redis prefix (one per process in production;
tests run several servers in one process, each with its own prefix)."""


def bind_journal(redis_prefix: str, journal: Journal) -> None:
    JOURNALS[redis_prefix] = journal


def unbind_journal(redis_prefix: str) -> None:
    JOURNALS.pop(redis_prefix, None)


class WagerMatch(Game):
    name = "wager"
    message_types = frozenset({"wager_ready", "wager_chat", "wager_report", "wager_dispute",
                               "wager_cancel"})

    def __init__(self, spec: MatchSpec, settings: WagerSettings, journal: Journal) -> None:
        assert len(spec.seats) == 2, "a wager is one against one"
        self.spec, self.settings, self.journal = spec, settings, journal
        self.players = list(spec.user_ids)
        self.terms: dict[str, Any] = dict(spec.options.get("terms") or {})
        self.phase = "created"
        self.deadline_ms: int | None = None
        self.ready: list[str] = []
        self.cancels: list[str] = []
        self.reports: dict[str, dict[str, Any]] = {}
        self.dispute: dict[str, Any] | None = None
        self.chat: deque[dict[str, Any]] = deque(maxlen=settings.chat_log_max)
        self.started_ms = 0
        self._chat_times: dict[str, deque[int]] = {u: deque() for u in self.players}
        self.result_frame: Frame | None = None

    # ----- durable state -----

    def dump(self) -> dict[str, Any]:
        """Everything needed to build the room again (JSON-able)."""
        return {
            "v": JOURNAL_VERSION, "phase": self.phase, "deadline_ms": self.deadline_ms,
            "ready": list(self.ready), "cancels": list(self.cancels),
            "reports": copy.deepcopy(self.reports), "dispute": copy.deepcopy(self.dispute),
            "chat": list(self.chat), "started_ms": self.started_ms,
        }

    def load(self, state: Mapping[str, Any]) -> None:
        assert state.get("v") == JOURNAL_VERSION, state.get("v")
        self.phase = str(state["phase"])
        self.deadline_ms = state.get("deadline_ms")
        self.ready = [u for u in state.get("ready", []) if u in self.players]
        self.cancels = [u for u in state.get("cancels", []) if u in self.players]
        self.reports = {u: dict(r) for u, r in dict(state.get("reports") or {}).items()
                        if u in self.players}
        self.dispute = dict(state["dispute"]) if state.get("dispute") else None
        self.chat.clear()
        self.chat.extend(state.get("chat", []))
        self.started_ms = int(state.get("started_ms", 0))

    async def _commit(self, room: RoomContext, before: dict[str, Any],
                      event: dict[str, Any]) -> None:
        """Journal the new state; if that fails, put the old one back and refuse."""
        try:
            await self.journal.record(room.room_id, self.dump(), event)
        except Exception as exc:
            self.load(before)
            raise GameError("the match could not be saved; try again",
                            code="wager_unavailable") from exc

    # ----- life -----

    async def on_create(self, room: RoomContext) -> None:
        if not self.terms:  # not created by the wagers feature (e.g. the generic queue)
            self.phase = "settling"
            await room.end(Outcome.refund_all(self.spec.seats, result="not_offered"))
            return
        resume = self.spec.options.get("resume")
        if resume and resume.get("phase") in LIVE_PHASES:
            self.load(resume)
            self._arm(room)
            room.publish({"t": "wager_resumed", "phase": self.phase,
                          "deadline_ms": self.deadline_ms})
            return
        self.started_ms = room.now_ms()
        self.phase = "ready_check"
        self.deadline_ms = self.started_ms + self.settings.ready_window_ms
        await self._commit(room, self.dump(), {"type": "created"})
        self._arm(room)

    def _arm(self, room: RoomContext) -> None:
        """(Re)start the one timer the current phase runs on; a past deadline fires at once."""
        for name in (READY_TIMER, PLAY_TIMER, CONFIRM_TIMER):
            room.cancel_timer(name)
        timer = {"ready_check": READY_TIMER, "playing": PLAY_TIMER,
                 "reported": CONFIRM_TIMER}.get(self.phase)
        if timer is not None and self.deadline_ms is not None:
            room.set_timer(timer, self.deadline_ms)

    def _other(self, user_id: str) -> str:
        return next(u for u in self.players if u != user_id)

    async def on_message(self, room: RoomContext, seat: Seat, frame: Frame, at_ms: int) -> Frame:
        t = frame.get("t")
        if room.ending or self.phase not in LIVE_PHASES:
            raise GameError("this match is over", code="wager_over")
        if t == "wager_ready":
            return await self._ready(room, seat.user_id)
        if t == "wager_chat":
            return await self._chat(room, seat.user_id, frame.get("text"), at_ms)
        if t == "wager_report":
            return await self._report(room, seat.user_id, frame.get("result"),
                                      frame.get("score"), at_ms)
        if t == "wager_dispute":
            return await self._open_dispute(room, seat.user_id, frame.get("reason"), at_ms)
        if t == "wager_cancel":
            return await self._cancel(room, seat.user_id)
        raise GameError("a wager match does not take that message", code="unknown_message")

    async def _ready(self, room: RoomContext, user_id: str) -> Frame:
        if self.phase != "ready_check":
            raise GameError("the ready check is over", code="not_ready_check")
        if user_id in self.ready:
            return {"t": "wager_ready_ok", "ready": list(self.ready)}
        before = self.dump()
        self.ready.append(user_id)
        both = len(self.ready) == len(self.players)
        if both:
            self.phase = "playing"
            self.deadline_ms = room.now_ms() + self.settings.play_window_ms
        await self._commit(room, before, {"type": "ready", "user_id": user_id,
                                          "other": self._other(user_id)})
        room.publish({"t": "wager_player_ready", "user_id": user_id})
        if both:
            self._arm(room)
            room.publish({"t": "wager_playing", "deadline_ms": self.deadline_ms,
                          "terms": self.terms})
        return {"t": "wager_ready_ok", "ready": list(self.ready)}

    async def _chat(self, room: RoomContext, user_id: str, text: Any, at_ms: int) -> Frame:
        if not isinstance(text, str) or not text.strip():
            raise GameError("write something to send", code="invalid_field")
        text = text.strip()
        if len(text) > self.settings.chat_max_chars:
            raise GameError(f"a message is at most {self.settings.chat_max_chars} characters",
                            code="chat_too_long")
        times = self._chat_times[user_id]
        while times and times[0] <= at_ms - self.settings.chat_window_ms:
            times.popleft()
        if len(times) >= self.settings.chat_burst:
            raise GameError("you are sending messages too fast; wait a moment",
                            code="chat_rate_limited")
        before = self.dump()
        line = {"user_id": user_id, "text": text, "at_ms": at_ms}
        self.chat.append(line)
        await self._commit(room, before, {"type": "chat"})
        times.append(at_ms)
        for uid in self.players:
            room.send_to(uid, {"t": "wager_chat_line", **line})
        return {"t": "wager_chat_ok"}

    async def _report(self, room: RoomContext, user_id: str, claim: Any, score: Any,
                      at_ms: int) -> Frame:
        if self.phase not in ("playing", "reported"):
            raise GameError("there is nothing to report now", code="not_reporting")
        if claim not in CLAIMS:
            raise GameError("report 'won' or 'lost'", code="invalid_field")
        if score is not None and (not isinstance(score, str) or not SCORE_RE.match(score)):
            raise GameError("a score looks like 3-1", code="invalid_field")
        if user_id in self.reports:
            raise GameError("you already reported this match", code="already_reported")
        before = self.dump()
        self.reports[user_id] = {"result": claim, "score": score, "at_ms": at_ms}
        other = self._other(user_id)
        theirs = self.reports.get(other)
        if theirs is None:
            self.phase = "reported"
            self.deadline_ms = at_ms + self.settings.confirm_window_ms
            await self._commit(room, before, {"type": "reported", "user_id": user_id,
                                              "other": other, "result": claim})
            self._arm(room)
            room.publish({"t": "wager_reported", "user_id": user_id, "result": claim,
                          "score": score, "confirm_deadline_ms": self.deadline_ms})
            return {"t": "wager_report_ok", "phase": self.phase}
        if theirs["result"] != claim:  # one won, one lost: they agree
            winner = user_id if claim == "won" else other
            room.publish({"t": "wager_reported", "user_id": user_id, "result": claim,
                          "score": score, "confirm_deadline_ms": None})
            await self._settle_win(room, winner, "win", {"how": "agreed"})
            return {"t": "wager_report_ok", "phase": self.phase}
        self._to_dispute(at_ms, None, "conflicting_reports")
        await self._commit(room, before, {"type": "disputed", "reason": "conflicting_reports",
                                          "players": list(self.players)})
        self._arm(room)
        room.publish({"t": "wager_reported", "user_id": user_id, "result": claim,
                      "score": score, "confirm_deadline_ms": None})
        room.publish({"t": "wager_disputed", "reason": "conflicting_reports", "by": None})
        return {"t": "wager_report_ok", "phase": self.phase}

    def _to_dispute(self, at_ms: int, by: str | None, reason: str) -> None:
        self.phase = "disputed"
        self.deadline_ms = None
        self.dispute = {"by": by, "reason": reason, "at_ms": at_ms}

    async def _open_dispute(self, room: RoomContext, user_id: str, reason: Any,
                            at_ms: int) -> Frame:
        if self.phase not in ("playing", "reported"):
            raise GameError("a dispute can be opened while the result is open",
                            code="not_disputable")
        if not isinstance(reason, str) or not reason.strip():
            raise GameError("say why you dispute the result", code="invalid_field")
        reason = reason.strip()[:MAX_REASON_CHARS]
        before = self.dump()
        self._to_dispute(at_ms, user_id, reason)
        await self._commit(room, before, {"type": "disputed", "reason": reason, "by": user_id,
                                          "players": list(self.players)})
        self._arm(room)
        room.publish({"t": "wager_disputed", "reason": reason, "by": user_id})
        return {"t": "wager_dispute_ok"}

    async def _cancel(self, room: RoomContext, user_id: str) -> Frame:
        if self.phase not in ("ready_check", "playing") or self.reports:
            raise GameError("a match can be cancelled only before anyone reports",
                            code="not_cancellable")
        if user_id in self.cancels:
            return {"t": "wager_cancel_ok", "cancels": list(self.cancels)}
        before = self.dump()
        self.cancels.append(user_id)
        if len(self.cancels) == len(self.players):
            await self._end(room, Outcome.refund_all(self.spec.seats, result="cancelled"))
            return {"t": "wager_cancel_ok", "cancels": list(self.cancels)}
        await self._commit(room, before, {"type": "cancel_requested", "user_id": user_id,
                                          "other": self._other(user_id)})
        room.publish({"t": "wager_cancel_requested", "user_id": user_id})
        return {"t": "wager_cancel_ok", "cancels": list(self.cancels)}

    async def on_tick(self, room: RoomContext, timer: str) -> None:
        if room.ending:
            return
        if timer == READY_TIMER and self.phase == "ready_check":
            no_show = [u for u in self.players if u not in self.ready]
            await self._end(room, Outcome.refund_all(
                self.spec.seats, result="no_show", detail={"no_show": no_show}))
        elif timer == PLAY_TIMER and self.phase == "playing":
            await self._end(room, Outcome.refund_all(self.spec.seats, result="no_report"))
        elif timer == CONFIRM_TIMER and self.phase == "reported":
            (reporter, report), = self.reports.items()
            winner = reporter if report["result"] == "won" else self._other(reporter)
            await self._settle_win(room, winner, "confirmed", {"how": "confirm_window"})

    async def on_signal(self, room: RoomContext, signal: Signal) -> Frame:
        if signal.name != "wager_ruling":
            raise GameError(f"a wager match takes no {signal.name!r} signal",
                            code="unknown_signal")
        if room.ending or self.phase not in LIVE_PHASES:
            raise GameError("this match is already decided", code="wager_over")
        ruling = signal.payload.get("ruling")
        reason = str(signal.payload.get("reason") or "")[:MAX_REASON_CHARS]
        if ruling not in RULINGS or not reason:
            raise GameError("a ruling is 'winner' (with a player) or 'void', with a reason",
                            code="invalid_ruling")
        detail: dict[str, Any] = {"ruling": ruling, "reason": reason, "by": signal.sender}
        assert isinstance(ruling, str)
        if ruling == "void":
            await self._end(room, Outcome.refund_all(self.spec.seats, result="ruled_void",
                                                     detail=detail))
            return {"t": "wager_ruling_ok", "ruling": ruling, "winner": None}
        winner = signal.payload.get("winner")
        if winner not in self.players:
            raise GameError("the winner must be one of the two players", code="invalid_ruling")
        loser = self._other(str(winner))
        if self.reports.get(loser, {}).get("result") == "won":
            detail["false_claim"] = loser  # the loser claimed the win: proven false
        await self._settle_win(room, str(winner), "ruled", detail)
        return {"t": "wager_ruling_ok", "ruling": ruling, "winner": winner}

    async def _settle_win(self, room: RoomContext, winner: str, result: str,
                          detail: dict[str, Any]) -> None:
        scores = {u: r["score"] for u, r in self.reports.items() if r.get("score")}
        await self._end(room, Outcome.winner_takes_pot(
            self.spec.seats, winner, rake_bps=self.settings.rake_bps, result=result,
            detail={**detail, "reports": copy.deepcopy(self.reports), "scores": scores}))

    async def _end(self, room: RoomContext, outcome: Outcome) -> None:
        for timer in (READY_TIMER, PLAY_TIMER, CONFIRM_TIMER):
            room.cancel_timer(timer)
        self.phase, self.deadline_ms = "settling", None
        await room.end(outcome)

    async def on_settled(self, room: RoomContext, settled: Settled) -> None:
        self.phase = "finished"
        detail = settled.outcome.detail
        self.result_frame = {
            "t": "wager_result", "result": settled.outcome.result, "winner": settled.winner,
            "payouts_minor": dict(settled.payouts_minor), "rake_minor": settled.rake_minor,
            "refunded": settled.refunded, "reason": detail.get("reason"),
            "ruling": detail.get("ruling"),
        }
        room.publish(self.result_frame)

    async def on_abort(self, room: RoomContext, reason: str) -> None:
        for timer in (READY_TIMER, PLAY_TIMER, CONFIRM_TIMER):
            room.cancel_timer(timer)
        self.phase = "suspended"  # the journal keeps the match; a node resumes it

    def snapshot(self, viewer: str | None) -> Frame:
        view: Frame = {
            "phase": self.phase, "deadline_ms": self.deadline_ms, "terms": self.terms,
            "ready": list(self.ready), "cancels": list(self.cancels),
            "reports": copy.deepcopy(self.reports), "dispute": copy.deepcopy(self.dispute),
        }
        if viewer is not None:  # the lobby chat is the players' own
            view["chat"] = list(self.chat)[-50:]
        return view
