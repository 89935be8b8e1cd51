"""Quiz duels end to end on the manual clock, settled on the real ledger."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from ledger import split_pot
from rooms.api import Outcome, Settled
from rooms.errors import NotSeated
from rooms.games.quiz import QuizConfig, decide
from rooms.games.quiz.questions import RedisSeenStore
from rooms.history import duel_history
from rooms.ledger_settlement import LedgerSettlement
from rooms.runtime import RoomConfig
from rooms.types import HeldStake, MatchSpec
from tests.rooms.helpers import (
    Duel,
    Recorder,
    available,
    fund_and_hold,
    make_duel,
    posted,
)
from tests.support import house_gain

ALL_RIGHT = [(True, 1_000)] * 5


@pytest.fixture
async def duel(ledger: Any, pool: Any, redis: Any, settings: Any) -> Duel:
    return await make_duel(ledger, pool, redis, settings.redis_prefix)


async def test_happy_path_pays_the_winner_pot_minus_rake_and_records_history(
    duel: Duel, ledger: Any, pool: Any, redis: Any, settings: Any
) -> None:
    escrow_before = await posted(ledger, "escrow:quiz")
    await duel.join_both()
    assert duel.ra.of("quiz_start")[0]["question_ms"] == [3_000] * 5
    await duel.play({duel.a: ALL_RIGHT,
                     duel.b: [(True, 500), (False, 500), (True, 500), (False, 500), (True, 500)]})
    await duel.room.wait_closed()

    result = duel.ra.of("quiz_result")[0]
    assert result == duel.rb.of("quiz_result")[0]
    assert result["winner"] == duel.a and result["result"] == "win"
    assert result["scores"] == {duel.a: 5, duel.b: 3}
    assert result["payout_minor"] == 80_000 and result["rake_minor"] == 20_000
    assert await posted(ledger, f"user:{duel.a}") == 80_000
    assert await posted(ledger, f"user:{duel.b}") == 0
    assert await available(ledger, f"user:{duel.b}") == 0
    assert await house_gain(pool, "room_id", duel.room.room_id) == 20_000
    assert await posted(ledger, "escrow:quiz") == escrow_before

    questions = duel.ra.of("quiz_question")
    assert [q["index"] for q in questions] == [0, 1, 2, 3, 4]
    assert all("answer_index" not in q for q in questions), "a question never carries its answer"
    reveals = duel.rb.of("quiz_reveal")
    assert [r["answer_index"] for r in reveals] == [duel.answer_of(i) for i in range(5)]
    assert reveals[-1]["scores"] == {duel.a: 5, duel.b: 3}

    mine = await duel_history(pool, duel.a, limit=5)
    assert [(h.opponent, h.stake_minor, h.score, h.opponent_score, h.result, h.payout_minor)
            for h in mine] == [(duel.b, 50_000, 5, 3, "won", 80_000)]
    theirs = await duel_history(pool, duel.b, limit=5)
    assert [(h.opponent, h.score, h.result, h.payout_minor) for h in theirs] == [
        (duel.a, 3, "lost", 0)]

    seen = await RedisSeenStore(redis, settings.redis_prefix).recent([duel.a])
    assert {q.id for q in duel.game.questions} <= seen


async def test_result_is_announced_only_after_the_settlement_commits(
    ledger: Any, pool: Any, redis: Any, settings: Any
) -> None:
    events: list[str] = []

    class Watching(LedgerSettlement):
        async def settle(self, *args: Any, **kwargs: Any) -> Settled:
            result = await super().settle(*args, **kwargs)
            events.append("committed")
            return result

    recorder = Recorder()

    def send(frame: dict[str, Any]) -> None:
        recorder(frame)
        if frame["t"] == "quiz_result":
            events.append("announced")

    duel = await make_duel(ledger, pool, redis, settings.redis_prefix,
                           settlement=Watching(ledger, pool))
    await duel.room.join(duel.a, "ca", send)
    await duel.room.join(duel.b, "cb", duel.rb)
    await duel.play({duel.a: ALL_RIGHT, duel.b: [None] * 5})
    assert events == ["committed", "announced"]


async def test_equal_scores_go_to_the_faster_player(duel: Duel, ledger: Any) -> None:
    await duel.join_both()
    await duel.play({duel.a: [(True, 1_200)] * 5, duel.b: [(True, 1_100)] * 5})
    result = duel.ra.of("quiz_result")[0]
    assert result["scores"] == {duel.a: 5, duel.b: 5}
    assert result["times_ms"] == {duel.a: 6_000, duel.b: 5_500}
    assert result["winner"] == duel.b
    assert await posted(ledger, f"user:{duel.b}") == 80_000
    assert await posted(ledger, f"user:{duel.a}") == 0


async def test_an_unanswered_question_counts_its_whole_window_in_the_time_tiebreak(
    duel: Duel,
) -> None:
    await duel.join_both()
    # Both get 3 right. a answers everything at 2.9 s; b skips two and is quick on the rest.
    await duel.play({
        duel.a: [(True, 2_900), (True, 2_900), (True, 2_900), (False, 2_900), (False, 2_900)],
        duel.b: [(True, 100), (True, 100), (True, 100), None, None],
    })
    result = duel.ra.of("quiz_result")[0]
    assert result["times_ms"] == {duel.a: 14_500, duel.b: 6_300}
    assert result["winner"] == duel.b


async def test_an_exact_tie_returns_both_stakes(duel: Duel, ledger: Any, pool: Any) -> None:
    await duel.join_both()
    same = [(True, 700), (False, 900), (True, 400), (True, 2_000), (False, 100)]
    await duel.play({duel.a: same, duel.b: same})
    result = duel.rb.of("quiz_result")[0]
    assert result["result"] == "tie_refund" and result["winner"] is None
    assert result["payout_minor"] == 0 and result["rake_minor"] == 0 and result["refunded"]
    for user in (duel.a, duel.b):
        assert await available(ledger, f"user:{user}") == 50_000
        assert (await ledger.balance(f"user:{user}", "KES")).pending_debits_minor == 0
    assert await house_gain(pool, "room_id", duel.room.room_id) == 0


async def test_bad_answers_are_refused_and_change_nothing(duel: Duel, redis: Any) -> None:
    spectator = Recorder()
    await duel.join_both()
    await duel.room.watch("spec", spectator)

    async def refused(user: str, frame: dict[str, Any]) -> str:
        seq_before = duel.room.seq
        with pytest.raises(Exception) as err:
            await duel.room.message(user, frame)
        assert duel.room.seq == seq_before, "a refused answer publishes nothing"
        return str(getattr(err.value, "code", ""))

    # Before the first question: nothing to answer.
    assert await refused(duel.a, {"t": "quiz_answer", "index": 0, "choice": 0}) == "wrong_question"
    await duel.clock.advance(duel.config.countdown_ms)
    right = duel.answer_of(0)
    wrong = (right + 1) % 4
    await duel.clock.advance(1_000)
    ok = await duel.room.message(duel.a, {"t": "quiz_answer", "index": 0, "choice": wrong})
    assert ok == {"t": "quiz_answer_ok", "index": 0, "elapsed_ms": 1_000}
    assert await refused(duel.a, {"t": "quiz_answer", "index": 0, "choice": right}) == (
        "answer_repeated")
    assert await refused(duel.b, {"t": "quiz_answer", "index": 1, "choice": right}) == (
        "wrong_question")
    assert await refused(duel.b, {"t": "quiz_answer", "index": 0, "choice": 4}) == "invalid_choice"
    assert await refused(duel.b, {"t": "quiz_answer", "index": "0", "choice": 1}) == (
        "invalid_answer")
    assert await refused(duel.b, {"t": "quiz_answer", "index": True, "choice": 1}) == (
        "invalid_answer")
    assert await refused(duel.b, {"t": "chat", "text": "hi"}) == "unknown_message"
    stranger = str(uuid.uuid4())
    with pytest.raises(NotSeated) as err:
        await duel.room.message(stranger, {"t": "quiz_answer", "index": 0, "choice": right})
    assert err.value.code == "not_seated"
    await duel.clock.advance(2_000)  # the deadline passes: the reveal is out
    assert await refused(duel.b, {"t": "quiz_answer", "index": 0, "choice": right}) == (
        "answer_late")

    reveal = duel.ra.of("quiz_reveal")[0]
    assert reveal["choices"] == {duel.a: wrong, duel.b: None}
    assert reveal["scores"] == {duel.a: 0, duel.b: 0}
    assert spectator.of("quiz_reveal")[0] == reveal
    await duel.room.abort("test_over")
    await duel.room.wait_closed()


async def test_an_answer_in_the_last_millisecond_counts_and_none_after_the_reveal(
    duel: Duel,
) -> None:
    await duel.join_both()
    await duel.clock.advance(duel.config.countdown_ms + 2_999)
    ok = await duel.room.message(duel.a, {"t": "quiz_answer", "index": 0,
                                          "choice": duel.answer_of(0)})
    assert ok is not None and ok["elapsed_ms"] == 2_999
    await duel.clock.advance(1)  # the deadline: the reveal goes out
    with pytest.raises(Exception) as err:
        await duel.room.message(duel.b, {"t": "quiz_answer", "index": 0,
                                         "choice": duel.answer_of(0)})
    assert getattr(err.value, "code", None) == "answer_late"
    assert duel.ra.of("quiz_reveal")[0]["scores"] == {duel.a: 1, duel.b: 0}
    await duel.room.abort("test_over")
    await duel.room.wait_closed()


async def test_a_player_who_drops_for_good_scores_nothing_more_and_the_duel_ends_on_time(
    ledger: Any, pool: Any, redis: Any, settings: Any
) -> None:
    duel = await make_duel(ledger, pool, redis, settings.redis_prefix,
                           room_config=RoomConfig(grace_ms=5_000))
    await duel.join_both()
    started_ms = duel.clock.now_ms()
    await duel.clock.advance(duel.config.countdown_ms)
    await duel.play_question(0, {duel.a: (True, 1_000), duel.b: (True, 500)})
    await duel.room.leave(duel.b, "cb")  # b drops during the reveal and never returns
    await duel.clock.advance(duel.config.reveal_ms)
    for i in range(1, 5):
        await duel.play_question(i, {duel.a: (False, 1_000)})
        if i < 4:
            await duel.clock.advance(duel.config.reveal_ms)
    await duel.room.wait_closed()

    assert [f["user_id"] for f in duel.ra.of("player_absent")] == [duel.b]
    result = duel.ra.of("quiz_result")[0]
    assert result["scores"] == {duel.a: 1, duel.b: 1}
    assert result["times_ms"] == {duel.a: 5_000, duel.b: 500 + 4 * 3_000}
    assert result["winner"] == duel.a
    assert duel.clock.now_ms() - started_ms == 3_000 + 15_000 + 4 * 1_500
    assert await posted(ledger, f"user:{duel.a}") == 80_000
    assert duel.rb.of("quiz_result") == [], "the dropped connection got nothing after leaving"


async def test_reconnecting_within_grace_resumes_with_snapshot_and_missed_frames(
    duel: Duel, ledger: Any
) -> None:
    await duel.join_both()
    await duel.clock.advance(duel.config.countdown_ms)
    await duel.play_question(0, {duel.a: (True, 800), duel.b: (True, 900)})
    last_seq = duel.rb.frames[-1]["seq"]
    await duel.room.leave(duel.b, "cb")
    await duel.clock.advance(duel.config.reveal_ms)  # question 1 is sent while b is away
    await duel.clock.advance(1_000)
    await duel.room.message(duel.a, {"t": "quiz_answer", "index": 1, "choice": duel.answer_of(1)})

    rb2 = Recorder()
    await duel.room.join(duel.b, "cb2", rb2, last_seq=last_seq)
    state = rb2.frames[0]
    assert state["t"] == "room_state" and state["seq"] == duel.room.seq
    current = state["state"]["question"]
    assert current["index"] == 1 and "answer_index" not in current
    assert current["answered"] == {duel.a: True, duel.b: False}
    assert "your_choice" not in current
    assert state["state"]["scores"] == {duel.a: 1, duel.b: 1}
    missed = rb2.frames[1:]
    assert [f["seq"] for f in missed] == list(range(last_seq + 1, duel.room.seq + 1))
    assert [f["t"] for f in missed] == ["player_left", "quiz_question", "quiz_answered",
                                        "player_back"]
    assert "answer_index" not in missed[1]

    duel.rb = rb2
    await duel.room.message(duel.b, {"t": "quiz_answer", "index": 1, "choice": duel.answer_of(1)})
    await duel.clock.advance(2_000)
    for i in range(2, 5):
        await duel.clock.advance(duel.config.reveal_ms)
        await duel.play_question(i, {duel.a: (True, 1_000), duel.b: (False, 1_000)})
    await duel.room.wait_closed()
    assert rb2.of("quiz_result")[0]["winner"] == duel.a
    assert rb2.of("quiz_reveal")[0]["choices"][duel.b] == duel.answer_of(1)


async def test_spectators_see_the_public_stream_and_never_private_data(duel: Duel) -> None:
    spectator = Recorder()
    await duel.room.watch("spec", spectator)
    await duel.join_both()
    await duel.play({duel.a: ALL_RIGHT, duel.b: [(False, 2_000)] * 5})
    public = [f for f in duel.ra.frames if "seq" in f and f["t"] != "room_state"]
    seen = [f for f in spectator.frames
            if f["t"] != "room_state" and f["seq"] > duel.ra.frames[0]["seq"]]
    assert seen == public and len(public) > 20
    assert not any(f["t"] == "quiz_answer_ok" for f in spectator.frames)
    assert all("choice" not in f for f in spectator.of("quiz_answered"))
    assert duel.ra.of("quiz_answer_ok") == [], "replies go back to the caller, not the stream"


async def test_spectator_snapshot_hides_choices_until_the_reveal(duel: Duel) -> None:
    await duel.join_both()
    await duel.clock.advance(duel.config.countdown_ms + 500)
    await duel.room.message(duel.a, {"t": "quiz_answer", "index": 0, "choice": 2})
    spectator, player = Recorder(), Recorder()
    await duel.room.watch("spec", spectator)
    await duel.room.join(duel.a, "ca2", player)
    public_q = spectator.frames[0]["state"]["question"]
    assert "answer_index" not in public_q and "your_choice" not in public_q
    assert player.frames[0]["state"]["question"]["your_choice"] == 2
    await duel.room.abort("test_over")


async def test_settling_twice_changes_nothing(duel: Duel, ledger: Any, pool: Any) -> None:
    await duel.join_both()
    await duel.play({duel.a: ALL_RIGHT, duel.b: [None] * 5})
    await duel.room.wait_closed()
    balances = [await posted(ledger, o) for o in (f"user:{duel.a}", f"user:{duel.b}")]
    rake = await house_gain(pool, "room_id", duel.room.room_id)

    spec = duel.room.spec
    again = await duel.settlement.settle(
        spec, Outcome.winner_takes_pot(duel.holds, duel.a, rake_bps=2_000))
    assert again.replayed and (again.winner, again.payout_of(duel.a), again.rake_minor) == (
        duel.a, 80_000, 20_000)
    other = await duel.settlement.settle(
        spec, Outcome.winner_takes_pot(duel.holds, duel.b, rake_bps=2_000))
    assert other.winner == duel.a, "a settled room keeps its first outcome"
    voided = await duel.settlement.settle(spec, Outcome.refund_all(duel.holds, result="aborted"))
    assert voided.winner == duel.a and not voided.refunded
    assert await house_gain(pool, "room_id", duel.room.room_id) == rake
    assert [await posted(ledger, o) for o in (f"user:{duel.a}", f"user:{duel.b}")] == (
        balances)
    assert await pool.fetchval("SELECT count(*) FROM duels WHERE room_id = $1",
                               duel.room.room_id) == 1


async def test_a_crash_between_commit_and_announce_is_settled_again_with_the_same_result(
    ledger: Any, pool: Any, redis: Any, settings: Any
) -> None:
    class CrashAfterCommit(LedgerSettlement):
        crashes = 0

        async def settle(self, spec: MatchSpec, outcome: Outcome) -> Settled:
            result = await super().settle(spec, outcome)
            if self.crashes == 0:
                self.crashes += 1
                raise ConnectionResetError("lost the database after it committed")
            return result

    duel = await make_duel(ledger, pool, redis, settings.redis_prefix,
                           settlement=CrashAfterCommit(ledger, pool))
    await duel.join_both()
    await duel.play({duel.a: [None] * 5, duel.b: ALL_RIGHT})
    assert duel.ra.of("quiz_result") == [], "nothing is announced before a settle returns"
    assert duel.game.phase == "settling"
    await duel.clock.advance(RoomConfig().settle_retry_ms)
    await duel.room.wait_closed()
    results = duel.ra.of("quiz_result")
    assert len(results) == 1 and results[0]["winner"] == duel.b
    assert results[0]["payout_minor"] == 80_000
    assert await posted(ledger, f"user:{duel.b}") == 80_000
    assert await house_gain(pool, "room_id", duel.room.room_id) == 20_000


async def test_a_seat_that_never_joins_refunds_both(
    duel: Duel, ledger: Any, pool: Any
) -> None:
    await duel.room.join(duel.a, "ca", duel.ra)
    await duel.clock.advance(duel.config.join_timeout_ms)
    await duel.room.wait_closed()
    result = duel.ra.of("quiz_result")[0]
    assert result["result"] == "no_show" and result["refunded"] and result["winner"] is None
    for user in (duel.a, duel.b):
        assert await available(ledger, f"user:{user}") == 50_000
    history = await duel_history(pool, duel.a)
    assert [(h.result, h.payout_minor) for h in history] == [("refunded", 0)]


async def test_abort_voids_both_holds_and_tells_the_players(duel: Duel, ledger: Any) -> None:
    await duel.join_both()
    await duel.clock.advance(duel.config.countdown_ms + 500)
    await duel.room.abort("node_shutdown")
    await duel.room.wait_closed()
    for rec in (duel.ra, duel.rb):
        aborted = rec.of("room_aborted")
        assert aborted and aborted[0]["reason"] == "node_shutdown" and aborted[0]["refunded"]
    for user in (duel.a, duel.b):
        assert await available(ledger, f"user:{user}") == 50_000


async def test_custom_rules_and_rounding_towards_the_house(
    ledger: Any, pool: Any, redis: Any, settings: Any
) -> None:
    config = QuizConfig(stake_tiers_minor=(333,), rake_bps=1_000, countdown_ms=0,
                        question_count=3, question_ms=(1_000, 2_000, 4_000), reveal_ms=0)
    duel = await make_duel(ledger, pool, redis, settings.redis_prefix, stake_minor=333,
                           config=config)
    await duel.join_both()
    await duel.clock.advance(0)  # no countdown: the first question goes out at once
    assert [q["deadline_ms"] - duel.clock.now_ms() for q in duel.ra.of("quiz_question")] == [
        1_000]
    await duel.play({duel.a: [(True, 10)] * 3, duel.b: [None] * 3})
    result = duel.ra.of("quiz_result")[0]
    assert (result["payout_minor"], result["rake_minor"]) == (599, 67)
    assert split_pot(666, 1_000) == (599, 67)
    assert await posted(ledger, f"user:{duel.a}") == 599


def test_decide_orders_by_score_then_time_then_declares_a_tie() -> None:
    assert decide({"a": 3, "b": 2}, {"a": 9_000, "b": 1}) == ("a", "win")
    assert decide({"a": 3, "b": 3}, {"a": 9_000, "b": 8_999}) == ("b", "win")
    assert decide({"a": 3, "b": 3}, {"a": 5, "b": 5}) == (None, "tie_refund")


def test_a_stake_outside_the_tiers_or_unequal_stakes_cannot_make_a_duel() -> None:
    import random

    from rooms.errors import InvalidMatch
    from rooms.games.quiz import QuizFactory
    from rooms.types import MatchSpec
    from tests.rooms.helpers import BANK

    factory = QuizFactory(bank=BANK, seen=None)  # type: ignore[arg-type]

    def spec(*stakes: int) -> MatchSpec:
        return MatchSpec("r", "quiz", tuple(HeldStake(str(uuid.uuid4()), uuid.uuid4(), s, "KES")
                                            for s in stakes))

    for bad in (spec(1_234, 1_234), spec(5_000, 10_000), spec(5_000, 5_000, 5_000)):
        with pytest.raises(InvalidMatch) as err:
            factory(bad, random.Random(1))
        assert err.value.code == "invalid_match"


async def test_history_pages_newest_first_and_rejects_a_forged_cursor(
    ledger: Any, pool: Any
) -> None:
    from rooms.history import BadCursor

    settlement = LedgerSettlement(ledger, pool)
    me = str(uuid.uuid4())
    opponents = []
    for _ in range(3):
        other = str(uuid.uuid4())
        opponents.append(other)
        holds = (await fund_and_hold(ledger, me, 5_000), await fund_and_hold(ledger, other, 5_000))
        await settlement.settle(MatchSpec(f"duel-{uuid.uuid4().hex}", "quiz", holds),
                                Outcome.refund_all(holds, result="no_show"))
    first = await duel_history(pool, me, limit=2)
    assert [h.opponent for h in first] == [opponents[2], opponents[1]]
    rest = await duel_history(pool, me, limit=2, before=first[-1].cursor)
    assert [h.opponent for h in rest] == [opponents[0]]
    assert all(h.result == "refunded" and h.stake_minor == 5_000 for h in first + rest)
    with pytest.raises(BadCursor):
        await duel_history(pool, me, before="not-a-cursor")
