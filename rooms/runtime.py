"""The room runtime: one asyncio task per live room that owns all of the room's state.

Inputs (join, leave, message, signal, timer, abort) arrive on one bounded queue
and are applied strictly in order, so a game never sees two things at once and
needs no locks. When the game ends with an `Outcome`, the runtime commits it
through the room's `Settler` (retrying transient failures on the room clock)
and only then lets the game announce it; an aborted room's stakes are returned
the same way. Games never call the ledger.

Outputs leave through per-connection `Send` callables: public frames get the
room's next sequence number and go to every seat and spectator; private frames
go to one seat. A bounded log of recent public frames lets a player who
reconnects within the grace window catch up on exactly what was missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from rooms.api import Frame, Game, Outcome, Seat, Send, Settled, Signal
from rooms.clock import Clock, TimerHandle
from rooms.errors import NotSeated, RoomBusy, RoomClosed, RoomError
from rooms.settlement import SettlementDeferred, SettlementRejected, Settler
from rooms.types import MatchSpec

log = structlog.get_logger(__name__)

TIMER_RESERVE = 64  # queue slots kept for the room's own timers when players flood it
OBSERVER_TIMEOUT_S = 1.0
GRACE_PREFIX = "__grace:"
FLUSH_TIMER = "__flush"
SETTLE_TIMER = "__settle"


@dataclass(frozen=True, slots=True)
class RoomConfig:
    """Per-room limits and windows (all bounded)."""

    grace_ms: int = 20_000
    queue_max: int = 256
    log_max: int = 512
    spectators_max: int = 64
    snapshots_per_s: float = 2.0
    settle_retry_ms: int = 1_000  # a transient settlement failure is retried after this
    settle_attempts: int = 5  # then the room closes and its holds are left to the sweeper

    def __post_init__(self) -> None:
        assert self.grace_ms >= 0 and self.queue_max > 0 and self.log_max > 0
        assert self.settle_retry_ms > 0 and 1 <= self.settle_attempts <= 100
        assert self.spectators_max >= 0 and self.snapshots_per_s > 0


@dataclass(frozen=True, slots=True)
class RoomInfo:
    """The directory's view of a room (no private data)."""

    room_id: str
    node: str
    game: str
    players: tuple[str, ...]
    stakes: Mapping[str, int]
    currency: str
    phase: str
    started_ms: int
    deadline_ms: int | None
    seq: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "room_id": self.room_id, "node": self.node, "game": self.game,
            "players": list(self.players), "stakes": dict(self.stakes),
            "currency": self.currency, "phase": self.phase, "started_ms": self.started_ms,
            "deadline_ms": self.deadline_ms, "seq": self.seq,
        }


class RoomObserver(Protocol):
    """Where a room reports itself (the Redis directory); failures are logged, never fatal."""

    async def room_updated(self, info: RoomInfo, public_state: Frame) -> None: ...

    async def room_closed(self, room_id: str) -> None: ...


@dataclass(slots=True)
class _Create:
    fut: asyncio.Future[Any] | None = None


@dataclass(slots=True)
class _Join:
    user_id: str | None
    conn_id: str
    send: Send
    last_seq: int | None
    fut: asyncio.Future[Any] | None = None


@dataclass(slots=True)
class _Leave:
    user_id: str | None
    conn_id: str
    fut: asyncio.Future[Any] | None = None


@dataclass(slots=True)
class _Message:
    user_id: str
    frame: Frame
    at_ms: int
    fut: asyncio.Future[Any] | None = None


@dataclass(slots=True)
class _Timer:
    name: str
    token: int
    fut: asyncio.Future[Any] | None = None


@dataclass(slots=True)
class _Signal:
    signal: Signal
    fut: asyncio.Future[Any] | None = None


@dataclass(slots=True)
class _Abort:
    reason: str
    fut: asyncio.Future[Any] | None = None


_Input = _Create | _Join | _Leave | _Message | _Signal | _Timer | _Abort


@dataclass(slots=True)
class _TimerSlot:
    token: int
    handle: TimerHandle


@dataclass(slots=True)
class _Spectator:
    send: Send
    last_seq_sent: int = 0


class Room:
    """One live room: an actor around a `Game`. Create, `start()`, talk to it, await `closed`."""

    def __init__(
        self,
        spec: MatchSpec,
        game: Game,
        *,
        clock: Clock,
        rng: random.Random,
        node: str = "local",
        config: RoomConfig | None = None,
        observer: RoomObserver | None = None,
        on_closed: Callable[[Room], None] | None = None,
        settler: Settler | None = None,
    ) -> None:
        """`settler` commits outcomes; a room whose seats have stakes needs one."""
        assert settler is not None or all(s.stake_minor == 0 for s in spec.seats), \
            "a room with stakes needs a settler"
        self.spec = spec
        self.game = game
        self.clock = clock
        self._rng = rng
        self.node = node
        self.config = config or RoomConfig()
        self._observer = observer
        self._on_closed = on_closed
        self._seats: dict[str, Seat] = {s.user_id: Seat(s.user_id, s) for s in spec.seats}
        self._spectators: dict[str, _Spectator] = {}
        self._queue: asyncio.Queue[_Input] = asyncio.Queue(
            maxsize=self.config.queue_max + TIMER_RESERVE
        )
        self._log: deque[Frame] = deque(maxlen=self.config.log_max)
        self._seq = 0
        self._timers: dict[str, _TimerSlot] = {}
        self._timer_tokens = 0
        self._finishing = False
        self._closed_flag = False
        self.closed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unwatch: Callable[[], None] | None = None
        self.started_ms = clock.now_ms()
        self._dirty = True
        self._last_flush_ms: int | None = None
        self._settler = settler
        self._outcome: Outcome | None = None
        self.settled: Settled | None = None
        self._settle_attempts = 0

    # ----- RoomContext (for the game) -----

    @property
    def room_id(self) -> str:
        return self.spec.room_id

    @property
    def rng(self) -> random.Random:
        return self._rng

    @property
    def seats(self) -> Mapping[str, Seat]:
        return self._seats

    @property
    def seq(self) -> int:
        return self._seq

    @property
    def closing(self) -> bool:
        return self._finishing or self._closed_flag

    @property
    def ending(self) -> bool:
        return self._outcome is not None

    def now_ms(self) -> int:
        return self.clock.now_ms()

    def publish(self, frame: Frame) -> int:
        """Send a public frame to every seat and spectator with the next sequence number."""
        assert "t" in frame, "every frame has a type"
        self._seq += 1
        out = {**frame, "room_id": self.room_id, "seq": self._seq}
        self._log.append(out)
        for seat in self._seats.values():
            if seat.send is not None:
                self._deliver(seat.send, out)
                seat.last_seq_sent = self._seq
        for spec in self._spectators.values():
            self._deliver(spec.send, out)
            spec.last_seq_sent = self._seq
        self._dirty = True
        return self._seq

    def send_to(self, user_id: str, frame: Frame) -> None:
        """Send a private frame to one seat if it is connected (never logged, never replayed)."""
        assert "t" in frame
        seat = self._seats.get(user_id)
        if seat is not None and seat.send is not None:
            self._deliver(seat.send, {**frame, "room_id": self.room_id})

    def set_timer(self, name: str, at_ms: int) -> None:
        """Call the game's `on_tick(name)` at `at_ms`; replaces a same-named timer."""
        self.cancel_timer(name)
        self._timer_tokens += 1
        token = self._timer_tokens
        handle = self.clock.call_at(at_ms, lambda: self._post_timer(name, token))
        self._timers[name] = _TimerSlot(token, handle)

    def cancel_timer(self, name: str) -> None:
        slot = self._timers.pop(name, None)
        if slot is not None:
            slot.handle.cancel()

    def finish(self) -> None:
        """Close the room after the current input; queued inputs get `room_closed`."""
        self._finishing = True

    async def end(self, outcome: Outcome) -> None:
        """The game is over: commit `outcome`, then let the game announce it, then close.

        Called from inside a hook. The outcome is checked against the room first
        (money conserved, one result per seat); a second call is a bug.
        """
        assert self._outcome is None, "a room ends once"
        outcome.check(self.spec)
        self._outcome = outcome
        await self._settle()

    async def _settle(self, *, final: bool = False) -> None:
        """One attempt at committing the outcome; transient failures retry on the room clock."""
        outcome = self._outcome
        assert outcome is not None and self.settled is None
        self._settle_attempts += 1
        try:
            settled = await self._commit(outcome)
        except SettlementRejected as exc:
            log.error("room_settlement_rejected", room=self.room_id, code=exc.code)
            if not final:
                await self._close_refunding("settlement_failed", after_rejection=True)
            return
        except Exception:
            log.warning("room_settlement_retry", room=self.room_id,
                        attempt=self._settle_attempts, exc_info=True)
            if final:
                return
            if self._settle_attempts < self.config.settle_attempts:
                self.set_timer(SETTLE_TIMER, self.clock.now_ms() + self.config.settle_retry_ms)
                return
            self.publish({"t": "room_aborted", "reason": "settlement_unavailable",
                          "refunded": False})
            self.finish()
            return
        self.settled = settled
        try:
            await self.game.on_settled(self, settled)
        finally:
            self.finish()

    async def _commit(self, outcome: Outcome) -> Settled:
        if self._settler is None:
            pot_minor = sum(s.stake_minor for s in self.spec.seats)
            return Settled(self.room_id, outcome, pot_minor, outcome.refund)
        return await self._settler.settle(self.spec, outcome)

    async def _close_refunding(self, reason: str, *, after_rejection: bool = False) -> None:
        """Return every stake, tell everyone the room stopped, close (abort and failure path)."""
        refund = Outcome.refund_all(self.spec.seats, result="aborted")
        refunded = False
        if not (after_rejection and self._outcome is not None and self._outcome.refund):
            try:
                await self._commit(refund)
                refunded = True
            except SettlementDeferred:
                log.info("room_refund_deferred", room=self.room_id, reason=reason)
            except Exception:
                log.exception("room_refund_failed", room=self.room_id)
        self.cancel_timer(SETTLE_TIMER)
        with contextlib.suppress(Exception):
            await self.game.on_abort(self, reason)
        self.publish({"t": "room_aborted", "reason": reason, "refunded": refunded})
        self.finish()

    # ----- the outside world (server, manager, tests) -----

    def start(self) -> None:
        assert self._task is None, "a room starts once"
        self._unwatch = self.clock.watch(self._idle)
        self._queue.put_nowait(_Create())
        self._task = asyncio.create_task(self._run(), name=f"room:{self.room_id}")

    @property
    def running(self) -> bool:
        return self._task is not None and not self.closed.is_set()

    def info(self) -> RoomInfo:
        return RoomInfo(
            room_id=self.room_id, node=self.node, game=self.spec.game,
            players=self.spec.user_ids,
            stakes={s.user_id: s.stake_minor for s in self.spec.seats},
            currency=self.spec.currency, phase=self.game.phase, started_ms=self.started_ms,
            deadline_ms=self.game.deadline_ms, seq=self._seq,
        )

    async def join(
        self, user_id: str, conn_id: str, send: Send, *, last_seq: int | None = None
    ) -> None:
        """Seat a player's connection (first join or reconnect); they receive `room_state` first."""
        if user_id not in self._seats:
            raise NotSeated(f"you have no seat in room {self.room_id}")
        await self._request(_Join(user_id, conn_id, send, last_seq))

    async def watch(self, conn_id: str, send: Send, *, last_seq: int | None = None) -> None:
        """Follow the public stream without a seat."""
        await self._request(_Join(None, conn_id, send, last_seq))

    async def leave(self, user_id: str | None, conn_id: str) -> None:
        """A connection went away (user_id None: a spectator). Stale connections are ignored."""
        with contextlib.suppress(RoomClosed):
            await self._request(_Leave(user_id, conn_id))

    async def message(self, user_id: str, frame: Frame) -> Frame | None:
        """Apply a player's game message; stamped with the room clock on arrival."""
        if user_id not in self._seats:
            raise NotSeated("only seated players can play in this room")
        at_ms = self.clock.now_ms()
        result: Frame | None = await self._request(_Message(user_id, frame, at_ms))
        return result

    async def signal(self, signal: Signal) -> Frame | None:
        """Deliver an outside instruction to the game, in order with the players' inputs."""
        result: Frame | None = await self._request(_Signal(signal), internal=True)
        return result

    async def abort(self, reason: str) -> None:
        """Stop the room through the game's abort rule (holds voided, players told)."""
        with contextlib.suppress(RoomClosed):
            await self._request(_Abort(reason), internal=True)

    async def wait_closed(self) -> None:
        await self.closed.wait()

    # ----- internals -----

    async def _request(self, item: _Input, *, internal: bool = False) -> Any:
        if self._closed_flag or self._finishing:
            raise RoomClosed("the room has closed")
        if not internal and self._queue.qsize() >= self.config.queue_max:
            raise RoomBusy("the room is busy; try again")
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        item.fut = fut
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            raise RoomBusy("the room is busy; try again") from None
        return await fut

    def _post_timer(self, name: str, token: int) -> None:
        if self._closed_flag:
            return
        try:
            self._queue.put_nowait(_Timer(name, token))
        except asyncio.QueueFull:
            log.error("room_timer_dropped", room=self.room_id, timer=name)

    async def _idle(self) -> None:
        if self._task is None or self._task.done():
            return
        await self._queue.join()

    @staticmethod
    def _deliver(send: Send, frame: Frame) -> None:
        try:
            send(frame)
        except Exception:
            log.warning("room_send_failed", exc_info=True)

    async def _run(self) -> None:
        try:
            while True:
                item = await self._queue.get()
                try:
                    result = await self._apply(item)
                    if item.fut is not None and not item.fut.done():
                        item.fut.set_result(result)
                except RoomError as exc:
                    if item.fut is not None and not item.fut.done():
                        item.fut.set_exception(exc)
                except Exception as exc:
                    log.exception("room_input_failed", room=self.room_id, input=type(item).__name__)
                    if item.fut is not None and not item.fut.done():
                        item.fut.set_exception(
                            RoomError(f"internal error: {exc}", code="room_internal_error")
                        )
                finally:
                    if not self._finishing:
                        await self._maybe_flush()
                    self._queue.task_done()
                if self._finishing:
                    break
        finally:
            await self._dispose()

    async def _dispose(self) -> None:
        self._closed_flag = True
        for slot in self._timers.values():
            slot.handle.cancel()
        self._timers.clear()
        try:
            await self.game.on_dispose(self)
        except Exception:
            log.exception("room_dispose_failed", room=self.room_id)
        if self._observer is not None:
            try:
                async with asyncio.timeout(OBSERVER_TIMEOUT_S):  # no task per call, unlike wait_for
                    await self._observer.room_closed(self.room_id)
            except Exception:
                log.warning("room_directory_remove_failed", room=self.room_id, exc_info=True)
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item.fut is not None and not item.fut.done():
                item.fut.set_exception(RoomClosed("the room has closed"))
            self._queue.task_done()
        if self._unwatch is not None:
            self._unwatch()
        self.closed.set()
        if self._on_closed is not None:
            self._on_closed(self)

    async def _apply(self, item: _Input) -> Any:
        if isinstance(item, _Create):
            await self.game.on_create(self)
            return None
        if isinstance(item, _Join):
            return await self._apply_join(item)
        if isinstance(item, _Leave):
            return await self._apply_leave(item)
        if isinstance(item, _Message):
            seat = self._seats[item.user_id]
            return await self.game.on_message(self, seat, item.frame, item.at_ms)
        if isinstance(item, _Signal):
            return await self.game.on_signal(self, item.signal)
        if isinstance(item, _Timer):
            return await self._apply_timer(item)
        assert isinstance(item, _Abort)
        await self._apply_abort(item.reason)
        return None

    async def _apply_abort(self, reason: str) -> None:
        """Stop early: an outcome already decided is settled; otherwise every stake returns."""
        if self.settled is not None or self._finishing:
            self.finish()
            return
        if self._outcome is not None:
            self.cancel_timer(SETTLE_TIMER)
            await self._settle(final=True)  # idempotent: finish what was decided
            if self.settled is not None:
                return
        await self._close_refunding(reason)

    def _state_frame(self, viewer: str | None) -> Frame:
        return {
            "t": "room_state", "room_id": self.room_id, "seq": self._seq,
            "game": self.spec.game, "phase": self.game.phase,
            "deadline_ms": self.game.deadline_ms, "now_ms": self.clock.now_ms(),
            "you": viewer, "spectator": viewer is None,
            "players": [
                {"user_id": s.user_id, "stake_minor": s.stake.stake_minor,
                 "connected": s.connected, "absent": s.absent}
                for s in self._seats.values()
            ],
            "currency": self.spec.currency,
            "state": self.game.snapshot(viewer),
        }

    def _missed(self, after_seq: int) -> list[Frame] | None:
        """Public frames after `after_seq`, or None if the log no longer reaches back that far."""
        if after_seq >= self._seq:
            return []
        if not self._log or self._log[0]["seq"] > after_seq + 1:
            return None
        return [f for f in self._log if f["seq"] > after_seq]

    def _catch_up(self, send: Send, viewer: str | None, after_seq: int | None) -> int:
        self._deliver(send, self._state_frame(viewer))
        if after_seq is not None:
            for frame in self._missed(after_seq) or []:
                self._deliver(send, frame)
        return self._seq

    async def _apply_join(self, item: _Join) -> None:
        if item.user_id is None:
            if (
                item.conn_id not in self._spectators
                and len(self._spectators) >= self.config.spectators_max
            ):
                raise RoomError(
                    "this room has no more spectator places", code="room_spectators_full"
                )
            self._spectators[item.conn_id] = _Spectator(
                item.send, self._catch_up(item.send, None, item.last_seq)
            )
            return
        seat = self._seats[item.user_id]
        rejoined = seat.joined_ever
        was_away = not seat.connected
        self.cancel_timer(GRACE_PREFIX + seat.user_id)
        seat.conn_id, seat.send = item.conn_id, None
        seat.absent, seat.left_at_ms = False, None
        if was_away:
            self.publish({"t": "player_back" if rejoined else "player_joined",
                          "user_id": seat.user_id})
        after: int | None = None
        if rejoined:
            after = seat.last_seq_sent
            if item.last_seq is not None:
                after = min(after, item.last_seq)
        elif item.last_seq is not None:
            after = item.last_seq
        seat.send = item.send
        seat.joined_ever = True
        seat.last_seq_sent = self._catch_up(item.send, seat.user_id, after)
        await self.game.on_join(self, seat, rejoined)

    async def _apply_leave(self, item: _Leave) -> None:
        if item.user_id is None:
            self._spectators.pop(item.conn_id, None)
            return
        seat = self._seats.get(item.user_id)
        if seat is None or seat.conn_id != item.conn_id or seat.send is None:
            return  # a stale connection (the player already reconnected elsewhere)
        seat.send, seat.conn_id = None, None
        seat.left_at_ms = self.clock.now_ms()
        self.publish({"t": "player_left", "user_id": seat.user_id,
                      "grace_ms": self.config.grace_ms})
        self.set_timer(GRACE_PREFIX + seat.user_id, seat.left_at_ms + self.config.grace_ms)
        await self.game.on_leave(self, seat)

    async def _apply_timer(self, item: _Timer) -> None:
        slot = self._timers.get(item.name)
        if slot is None or slot.token != item.token:
            return  # cancelled or replaced
        del self._timers[item.name]
        if item.name == FLUSH_TIMER:
            await self._flush()
            return
        if item.name == SETTLE_TIMER:
            if self._outcome is not None and self.settled is None:
                await self._settle()
            return
        if item.name.startswith(GRACE_PREFIX):
            seat = self._seats[item.name[len(GRACE_PREFIX):]]
            if not seat.connected and not seat.absent:
                seat.absent = True
                self.publish({"t": "player_absent", "user_id": seat.user_id})
                await self.game.on_absent(self, seat)
            return
        await self.game.on_tick(self, item.name)

    async def _maybe_flush(self) -> None:
        if self._observer is None or not self._dirty or FLUSH_TIMER in self._timers:
            return
        interval_ms = int(1000 / self.config.snapshots_per_s)
        now = self.clock.now_ms()
        if self._last_flush_ms is None or now - self._last_flush_ms >= interval_ms:
            await self._flush()
        else:
            self.set_timer(FLUSH_TIMER, self._last_flush_ms + interval_ms)

    async def _flush(self) -> None:
        if self._observer is None or self._closed_flag:
            return
        self._dirty = False
        self._last_flush_ms = self.clock.now_ms()
        try:
            async with asyncio.timeout(OBSERVER_TIMEOUT_S):  # no task per call, unlike wait_for
                await self._observer.room_updated(self.info(), self.game.snapshot(None))
        except Exception:
            log.warning("room_directory_update_failed", room=self.room_id, exc_info=True)


def start_room(
    spec: MatchSpec, game: Game, clock: Clock, rng: random.Random, **kwargs: Any
) -> Room:
    """Make and start a room in one call (handy for tests and single-room tools)."""
    room = Room(spec, game, clock=clock, rng=rng, **kwargs)
    room.start()
    return room

