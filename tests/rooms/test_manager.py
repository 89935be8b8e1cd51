"""RoomManager limits and drain; the Redis directory and its throttled snapshots."""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import Any

import pytest

from rooms import keys
from rooms.api import Frame, Game, RoomContext, Seat
from rooms.clock import ManualClock
from rooms.directory import RoomDirectory, run_heartbeat
from rooms.errors import NodeDraining, RoomNotFound, TooManyRooms, TooManySeats, UnknownGame
from rooms.games.quiz import QuizFactory
from rooms.games.quiz.questions import RedisSeenStore
from rooms.ledger_settlement import LedgerSettlement
from rooms.manager import ManagerLimits, RoomManager
from rooms.runtime import RoomConfig, RoomInfo
from rooms.types import HeldStake, MatchSpec
from tests.rooms.helpers import BANK, Recorder, available, fast_config, fund_and_hold, make_duel
from tests.waiting import eventually


class Idle(Game):
    name = "idle"

    async def on_message(
        self, room: RoomContext, seat: Seat, frame: Frame, at_ms: int
    ) -> Frame | None:
        if frame["t"] == "stop":
            room.finish()
        else:
            room.publish({"t": "said", "n": frame.get("n")})
        return None


def idle_spec(seats: int = 2) -> MatchSpec:
    return MatchSpec(f"r-{uuid.uuid4().hex}", "idle",
                     tuple(HeldStake(str(uuid.uuid4()), uuid.uuid4(), 0, "KES")
                           for _ in range(seats)))


def idle_manager(limits: ManagerLimits, **kwargs: Any) -> RoomManager:
    return RoomManager(clock=ManualClock(), games={"idle": lambda spec, rng: Idle()},
                       limits=limits, rng=random.Random(3), **kwargs)


async def test_limits_on_rooms_and_seats_are_typed_errors_and_free_up_on_close() -> None:
    counts: list[tuple[int, int]] = []
    manager = idle_manager(ManagerLimits(max_rooms=2, max_seats=5),
                           on_count=lambda rooms, seats: counts.append((rooms, seats)))
    first_spec = idle_spec()
    first = manager.create(first_spec)
    assert manager.create(first_spec) is first, "creating the same room again is a no-op"
    manager.create(idle_spec())
    with pytest.raises(TooManyRooms) as rooms_err:
        manager.create(idle_spec())
    assert rooms_err.value.code == "node_rooms_full"
    assert manager.room_count == 2 and manager.seat_count == 4

    await first.message(first_spec.seats[0].user_id, {"t": "stop"})
    await first.wait_closed()
    assert manager.room_count == 1 and manager.seat_count == 2
    with pytest.raises(RoomNotFound):
        manager.get(first_spec.room_id)
    with pytest.raises(TooManySeats) as seats_err:
        manager.create(idle_spec(seats=4))
    assert seats_err.value.code == "node_seats_full"
    assert manager.room_count == 1, "a refused room leaves nothing behind"
    assert counts == [(1, 2), (2, 4), (1, 2)]
    with pytest.raises(UnknownGame):
        manager.create(MatchSpec("x", "chess", idle_spec().seats))
    await manager.drain(0)


async def test_drain_takes_no_new_rooms_and_lets_live_ones_finish(
    ledger: Any, pool: Any, redis: Any, settings: Any
) -> None:
    clock = ManualClock()
    factory = QuizFactory(bank=BANK, seen=RedisSeenStore(redis, settings.redis_prefix),
                          config=fast_config())
    manager = RoomManager(clock=clock, games={"quiz": factory}, rng=random.Random(5),
                          settler=LedgerSettlement(ledger, pool))
    specs = []
    for _ in range(2):
        users = [str(uuid.uuid4()) for _ in range(2)]
        holds = tuple([await fund_and_hold(ledger, u, 10_000) for u in users])
        specs.append(MatchSpec(f"duel-{uuid.uuid4().hex}", "quiz", holds))
    ending, stuck = manager.create(specs[0]), manager.create(specs[1])
    recorders = {}
    for spec, room in ((specs[0], ending), (specs[1], stuck)):
        for seat in spec.seats:
            recorders[seat.user_id] = Recorder()
            await room.join(seat.user_id, f"c-{seat.user_id}", recorders[seat.user_id])

    drain = asyncio.create_task(manager.drain(timeout_s=30.0))
    await eventually(lambda: manager.draining, what="the drain to start")
    with pytest.raises(NodeDraining) as err:
        manager.create(idle_spec())
    assert err.value.code == "node_draining"
    assert not drain.done(), "drain waits for live rooms"
    await clock.advance(3_000 + 15_000 + 4 * 1_500)  # both duels reach their end
    report = await drain
    assert report.finished == 2 and report.aborted == 0
    assert manager.room_count == 0
    for spec in specs:
        results = [recorders[s.user_id].of("quiz_result") for s in spec.seats]
        assert all(len(r) == 1 for r in results)


async def test_drain_aborts_rooms_that_do_not_finish_in_time_and_voids_their_holds(
    ledger: Any, pool: Any, redis: Any, settings: Any
) -> None:
    clock = ManualClock()
    factory = QuizFactory(bank=BANK, seen=RedisSeenStore(redis, settings.redis_prefix),
                          config=fast_config())
    manager = RoomManager(clock=clock, games={"quiz": factory}, rng=random.Random(5),
                          settler=LedgerSettlement(ledger, pool))
    users = [str(uuid.uuid4()) for _ in range(2)]
    holds = tuple([await fund_and_hold(ledger, u, 10_000) for u in users])
    room = manager.create(MatchSpec(f"duel-{uuid.uuid4().hex}", "quiz", holds))
    recorders = {u: Recorder() for u in users}
    for u in users:
        await room.join(u, f"c-{u}", recorders[u])
    await clock.advance(3_000 + 1_000)  # mid-question; the clock then stands still

    report = await manager.drain(timeout_s=0.05)
    assert report.finished == 0 and report.aborted == 1
    assert room.closed.is_set() and manager.room_count == 0
    for u in users:
        aborted = recorders[u].of("room_aborted")
        assert [(f["reason"], f["refunded"]) for f in aborted] == [("node_shutdown", True)]
        assert recorders[u].of("quiz_result") == []
        assert await available(ledger, f"user:{u}") == 10_000


async def test_directory_lists_live_rooms_with_public_snapshots_and_forgets_closed_ones(
    ledger: Any, pool: Any, redis: Any, settings: Any
) -> None:
    directory = RoomDirectory(redis, settings.redis_prefix)
    duel = await make_duel(ledger, pool, redis, settings.redis_prefix, observer=directory)
    await duel.join_both()
    await duel.clock.advance(3_000 + 500)  # the first question is out
    await duel.room.message(duel.a, {"t": "quiz_answer", "index": 0, "choice": 1})
    await duel.clock.advance(1_000)  # let the throttle flush the latest state

    other_node = RoomDirectory(redis, settings.redis_prefix)  # any node reads the same keys
    live = {r["room_id"]: r for r in await other_node.list_live()}
    info = live[duel.room.room_id]
    assert info["node"] == "local" and info["game"] == "quiz"
    assert set(info["players"]) == {duel.a, duel.b}
    assert info["stakes"] == {duel.a: 50_000, duel.b: 50_000}
    assert info["phase"] == "question" and info["deadline_ms"] > info["started_ms"]
    entry = await other_node.get(duel.room.room_id)
    assert entry is not None
    question = entry.snapshot["state"]["question"]
    assert question["index"] == 0
    assert "answer_index" not in question and "your_choice" not in question
    assert await redis.ttl(keys.room(settings.redis_prefix, duel.room.room_id)) > 0

    await duel.room.abort("test_over")
    await duel.room.wait_closed()
    assert await other_node.get(duel.room.room_id) is None
    assert duel.room.room_id not in {r["room_id"] for r in await other_node.list_live()}


async def test_snapshot_writes_are_throttled_per_room(redis: Any, settings: Any) -> None:
    writes: list[int] = []

    class Counting(RoomDirectory):
        async def room_updated(self, info: RoomInfo, public_state: Frame) -> None:
            writes.append(info.seq)
            await super().room_updated(info, public_state)

    directory = Counting(redis, settings.redis_prefix)
    manager = idle_manager(ManagerLimits(), observer=directory,
                           room_config=RoomConfig(snapshots_per_s=2))
    spec = idle_spec()
    room = manager.create(spec)
    user = spec.seats[0].user_id
    await manager.clock.settle()  # type: ignore[attr-defined]
    assert len(writes) == 1
    for n in range(20):
        await room.message(user, {"t": "say", "n": n})
    assert len(writes) == 1, "twenty updates in the same instant wait for the throttle"
    await manager.clock.advance(499)  # type: ignore[attr-defined]
    assert len(writes) == 1
    await manager.clock.advance(1)  # type: ignore[attr-defined]
    assert writes[-1] == room.seq and len(writes) == 2
    entry = await directory.get(spec.room_id)
    assert entry is not None and entry.info["seq"] == room.seq
    await room.message(user, {"t": "stop"})
    await room.wait_closed()
    assert await directory.get(spec.room_id) is None


async def test_node_heartbeat_expires_on_its_own(redis: Any, settings: Any) -> None:
    directory = RoomDirectory(redis, settings.redis_prefix)
    node = f"node-{uuid.uuid4().hex[:6]}"
    assert not await directory.node_alive(node)
    await directory.heartbeat(node, ttl_s=15, room_count=3)
    assert await directory.node_alive(node)
    assert 0 < await redis.ttl(f"{settings.redis_prefix}:rooms:node:{node}") <= 15
    await directory.remove_node(node)
    assert not await directory.node_alive(node)


async def test_heartbeat_loop_keeps_the_node_alive_until_stopped(
    redis: Any, settings: Any
) -> None:
    directory = RoomDirectory(redis, settings.redis_prefix)
    node = f"node-{uuid.uuid4().hex[:6]}"
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_heartbeat(directory, node, lambda: 7, stop, interval_s=0.01, ttl_s=5))
    raw = await eventually(lambda: redis.get(f"{settings.redis_prefix}:rooms:node:{node}"),
                           what="the first heartbeat")
    assert b'"rooms": 7' in raw
    stop.set()
    await asyncio.wait_for(task, 10)
    assert not await directory.node_alive(node), "a node that stops says so at once"
