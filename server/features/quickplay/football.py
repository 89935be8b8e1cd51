"""Football Yes/No: admin questions, held stakes, settlement and void, each exactly once.

A stake is a ledger hold user -> escrow:football:<qid> that lasts past the
closing time. Settling posts every hold, returns winners' stakes from escrow,
pays their profit from the house and moves the losing stakes to the house, all in
one linked batch with the row updates. Voiding voids every hold.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from ledger import (
    HOUSE,
    Conn,
    OutboxMessage,
    TransferKind,
    TransferRequest,
    escrow_account,
    transfer_id,
    user_account,
)
from ledger.errors import InsufficientFunds
from rooms.games.quick import football as rules
from server.features.quickplay import bets, seeds
from server.features.quickplay.errors import QuickplayError
from server.state import AppState
from server.wording import amount_text

MAX_BETS_PER_QUESTION = 2_000
MAX_OPEN_HORIZON = timedelta(days=30)
SETTLE_GRACE = timedelta(days=7)  # holds outlive the close by this much; then they expire (refund)
LIST_LIMIT = 50


def bettor(bet: asyncpg.Record) -> str:
    """The wallet of the player who placed a bet row."""
    return user_account(str(bet["user_id"]))


def football_escrow(question_id: uuid.UUID) -> str:
    """Each question's stakes wait in their own escrow until it is settled."""
    return escrow_account("football", question_id)



def normalise_choice(choice: dict[str, Any]) -> dict[str, Any]:
    raw_q = choice.get("question_id")
    try:
        qid = uuid.UUID(str(raw_q))
        side = rules.normalise_side(choice.get("side"))
    except ValueError as exc:
        raise QuickplayError("invalid_choice",
                             "Give the question id and your side: yes or no.") from exc
    if set(choice) != {"question_id", "side"}:
        raise QuickplayError("invalid_choice", "Give only question_id and side.")
    return {"question_id": str(qid), "side": side}


def question_public(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(row["id"]), "question": row["question"], "odds_yes": row["odds_yes"],
        "odds_no": row["odds_no"], "closes_at": row["closes_at"].isoformat(),
        "state": row["state"], "result": row["result"],
    }


async def create_question(
    state: AppState, admin_id: str, question: str, odds_yes: str, odds_no: str,
    closes_at: datetime, *, now: datetime | None = None,
) -> dict[str, Any]:
    """Open a question for stakes until `closes_at`; odds are validated before anything is saved."""
    now = now or state.now()
    q = question.strip()
    if not 3 <= len(q) <= 200:
        raise QuickplayError("invalid_question", "The question needs 3-200 characters.")
    try:
        yes, no = rules.parse_odds(odds_yes), rules.parse_odds(odds_no)
    except rules.InvalidOdds as exc:
        raise QuickplayError("invalid_odds", str(exc)) from exc
    if closes_at.tzinfo is None:
        raise QuickplayError("invalid_closes_at", "closes_at needs a timezone.")
    if not now < closes_at <= now + MAX_OPEN_HORIZON:
        raise QuickplayError("invalid_closes_at", "closes_at must be in the next 30 days.")
    row = await state.pool.fetchrow(
        "INSERT INTO football_questions (question, odds_yes, odds_no, closes_at, created_by)"
        " VALUES ($1, $2, $3, $4, $5) RETURNING *", q, yes.text, no.text, closes_at, admin_id,
    )
    assert row is not None
    return question_public(row)


async def open_questions(state: AppState, *, now: datetime | None = None) -> list[dict[str, Any]]:
    now = now or state.now()
    rows = await state.pool.fetch(
        "SELECT * FROM football_questions WHERE state = 'open' AND closes_at > $1"
        " ORDER BY closes_at LIMIT $2", now, LIST_LIMIT,
    )
    return [question_public(r) for r in rows]


async def place_football_bet(
    state: AppState, uid: uuid.UUID, stake_minor: int, choice: dict[str, Any], *, channel: str,
    idem_key: str, now: datetime,
) -> bets.BetResult:
    """Hold the stake in the question's escrow until the admin settles or voids it."""
    qid = uuid.UUID(choice["question_id"])
    bet_id = bets.bet_id_for(str(uid), idem_key)
    owner = user_account(str(uid))
    try:
        async with state.pool.acquire() as conn, conn.transaction():
            q = await conn.fetchrow(
                "SELECT * FROM football_questions WHERE id = $1 FOR SHARE", qid)
            if q is None:
                raise QuickplayError("question_not_found", "No such football question.", 404)
            if q["state"] != "open" or q["closes_at"] <= now:
                raise QuickplayError("question_closed", "This question is closed for stakes.", 409)
            await seeds.lock_active_seed(conn, uid)  # serialises this player's bets
            again = await bets.replay(conn, state, uid, idem_key, "football", stake_minor,
                                          choice)
            if again is not None:
                return again
            await bets.check_daily_limit(conn, state, uid, stake_minor, now)
            count = await conn.fetchval(
                "SELECT count(*) FROM quick_bets WHERE question_id = $1", qid)
            if count >= MAX_BETS_PER_QUESTION:
                raise QuickplayError("question_full", "This question takes no more stakes.", 409)
            timeout_s = int((q["closes_at"] - now + SETTLE_GRACE).total_seconds())
            await state.ledger.apply(conn, [TransferRequest(
                transfer_id(bet_id, "stake"), owner, football_escrow(qid), stake_minor,
                state.settings.currency, kind=TransferKind.PENDING, timeout_s=timeout_s,
                code="stake", meta={"bet_id": str(bet_id), "game": "football"},
            )])
            side = choice["side"]
            text = (f"Stake {amount_text(state.settings, stake_minor)} on {side.upper()} for"
                    f" \"{q['question']}\" at {q['odds_' + side]}. Settled after"
                    f" {q['closes_at']:%Y-%m-%d %H:%M} UTC.")
            await conn.execute(
                "INSERT INTO quick_bets (id, user_id, idem_key, game, channel, stake_minor,"
                " currency, choice, outcome, outcome_text, question_id, state)"
                " VALUES ($1,$2,$3,'football',$4,$5,$6,$7,NULL,$8,$9,'open')",
                bet_id, uid, idem_key, channel, stake_minor, state.settings.currency, choice,
                text, qid,
            )
    except InsufficientFunds as exc:
        raise QuickplayError("insufficient_funds", "Your balance is too low for this stake.",
                             409) from exc
    return bets.BetResult(
        bet_id=str(bet_id), game="football", stake_minor=stake_minor, outcome_text=text,
        payout_minor=0, balance_minor=await bets.balance_minor(state, str(uid)), state="open",
        result={}, seed_hash=None, nonce=None,
    )


async def _lock_question(conn: Conn, question_id: str) -> asyncpg.Record:
    try:
        qid = uuid.UUID(question_id)
    except ValueError as exc:
        raise QuickplayError("question_not_found", "No such football question.", 404) from exc
    q: asyncpg.Record | None = await conn.fetchrow(
        "SELECT * FROM football_questions WHERE id = $1 FOR UPDATE", qid)
    if q is None:
        raise QuickplayError("question_not_found", "No such football question.", 404)
    return q


async def _live_bets(state: AppState, conn: Conn, qid: uuid.UUID
                     ) -> tuple[list[asyncpg.Record], list[asyncpg.Record]]:
    """Open bets whose hold is still live, and those whose hold already expired (refunded)."""
    rows = await conn.fetch(
        "SELECT * FROM quick_bets WHERE question_id = $1 AND state = 'open' ORDER BY id LIMIT $2",
        qid, MAX_BETS_PER_QUESTION,
    )
    live: list[asyncpg.Record] = []
    expired: list[asyncpg.Record] = []
    for r in rows:
        hold = await state.ledger.get_transfer(transfer_id(r["id"], "stake"))
        assert hold is not None, "an open bet always has its hold"
        (expired if hold.resolved else live).append(r)
    return live, expired


def _alert(bet: asyncpg.Record, kind: str, text: str) -> OutboxMessage:
    return OutboxMessage(transfer_id(bet["id"], kind), "whatsapp", str(bet["user_id"]), kind,
                         {"text": text, "bet_id": str(bet["id"])})


async def settle_question(state: AppState, question_id: str, result: str) -> dict[str, Any]:
    """Pay the question out once. Settling again with the same result returns the same summary."""
    try:
        side = rules.normalise_side(result)
    except ValueError as exc:
        raise QuickplayError("invalid_result", "The result must be yes or no.") from exc
    s = state.settings
    async with state.pool.acquire() as conn, conn.transaction():
        q = await _lock_question(conn, question_id)
        if q["state"] == "settled" and q["result"] == side:
            return await _summary(conn, q)
        if q["state"] != "open":
            raise QuickplayError("already_resolved", f"This question is already {q['state']}.", 409)
        qid = q["id"]
        odds: dict[rules.Side, rules.Odds] = {"yes": rules.parse_odds(q["odds_yes"]),
                                               "no": rules.parse_odds(q["odds_no"])}
        live, expired = await _live_bets(state, conn, qid)
        stakes = [rules.Stake(str(b["id"]), str(b["user_id"]), b["choice"]["side"],
                              b["stake_minor"]) for b in live]
        plan = rules.settle(stakes, side, odds)
        escrow = football_escrow(qid)
        reqs: list[TransferRequest] = []
        outbox: list[OutboxMessage] = []
        for b in live:
            hold_id = transfer_id(b["id"], "stake")
            reqs.append(TransferRequest(transfer_id(b["id"], "post"), bettor(b), escrow,
                                        b["stake_minor"], s.currency, kind=TransferKind.POST,
                                        pending_id=hold_id, code="stake"))
        losing_minor = 0
        for b in live:
            paid = plan.payouts_minor[str(b["id"])]
            if paid == 0:
                losing_minor += b["stake_minor"]
                outbox.append(_alert(b, "football_result", f"\"{q['question']}\" was settled"
                                     f" {side.upper()}. Your stake on {b['choice']['side'].upper()}"
                                     " did not win this time."))
                continue
            meta = {"bet_id": str(b["id"]), "game": "football"}
            reqs.append(TransferRequest(transfer_id(b["id"], "return"), escrow, bettor(b),
                                        b["stake_minor"], s.currency, code="payout", meta=meta))
            profit = paid - b["stake_minor"]
            if profit > 0:
                reqs.append(TransferRequest(transfer_id(b["id"], "profit"), HOUSE, bettor(b),
                                            profit, s.currency, code="payout", meta=meta))
            outbox.append(_alert(b, "football_result", f"\"{q['question']}\" was settled"
                                 f" {side.upper()}. You got {amount_text(s, paid)} back."))
        if losing_minor:
            reqs.append(TransferRequest(transfer_id(qid, "settle", HOUSE), escrow, HOUSE,
                                        losing_minor, s.currency, code="rake",
                                        meta={"question_id": str(qid)}))
        await state.ledger.apply(conn, reqs, outbox=outbox)  # one call: one lock order
        for b in live:
            paid = plan.payouts_minor[str(b["id"])]
            await conn.execute("UPDATE quick_bets SET state = $2, payout_minor = $3,"
                               " outcome = $4 WHERE id = $1", b["id"], "won" if paid else "lost",
                               paid, {"result": side})
        await _mark_expired(conn, expired)
        done = await conn.fetchrow("UPDATE football_questions SET state = 'settled', result = $2,"
                                   " resolved_at = now() WHERE id = $1 RETURNING *", qid, side)
        assert done is not None
        return await _summary(conn, done)


async def void_question(state: AppState, question_id: str) -> dict[str, Any]:
    """Refund every stake once (void the holds). Voiding again returns the same summary."""
    s = state.settings
    async with state.pool.acquire() as conn, conn.transaction():
        q = await _lock_question(conn, question_id)
        if q["state"] == "void":
            return await _summary(conn, q)
        if q["state"] != "open":
            raise QuickplayError("already_resolved", f"This question is already {q['state']}.", 409)
        qid = q["id"]
        live, expired = await _live_bets(state, conn, qid)
        reqs = [TransferRequest(transfer_id(b["id"], "void"), bettor(b), football_escrow(qid),
                                b["stake_minor"], s.currency, kind=TransferKind.VOID,
                                pending_id=transfer_id(b["id"], "stake"), code="refund")
                for b in live]
        outbox = [_alert(b, "football_void", f"\"{q['question']}\" was called off; your stake"
                         f" of {amount_text(s, b['stake_minor'])} is back.") for b in live]
        await state.ledger.apply(conn, reqs, outbox=outbox)  # one call: one lock order
        await conn.execute("UPDATE quick_bets SET state = 'void', payout_minor = stake_minor"
                           " WHERE question_id = $1 AND state = 'open'", qid)
        await _mark_expired(conn, expired)
        done = await conn.fetchrow("UPDATE football_questions SET state = 'void',"
                                   " resolved_at = now() WHERE id = $1 RETURNING *", qid)
        assert done is not None
        return await _summary(conn, done)


async def _mark_expired(conn: Conn, expired: list[asyncpg.Record]) -> None:
    """Bets whose hold already expired were refunded by the sweeper: record them as void."""
    for b in expired:
        await conn.execute("UPDATE quick_bets SET state = 'void', payout_minor = stake_minor"
                           " WHERE id = $1", b["id"])


async def _summary(conn: Conn, q: asyncpg.Record) -> dict[str, Any]:
    row = await conn.fetchrow(
        "SELECT count(*) AS bets, coalesce(sum(stake_minor), 0) AS staked,"
        " coalesce(sum(payout_minor), 0) AS paid,"
        " count(*) FILTER (WHERE state = 'won') AS winners FROM quick_bets WHERE question_id = $1",
        q["id"],
    )
    assert row is not None
    return {**question_public(q), "bets": row["bets"], "winners": row["winners"],
            "staked_minor": int(row["staked"]), "paid_minor": int(row["paid"])}
