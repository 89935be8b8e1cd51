"""Quick-game bets: limits, fair draw, ledger transfers and the bet row in one transaction.

Contract used by the websocket, HTTP and WhatsApp channels:
`place_bet(...) -> BetResult`, `verify_bet(state, bet_id) -> {"ok", "text", ...}`,
`QuickplayError(code, msg)`. A replay with the same `idem_key` returns the first
result; every transfer id derives from the bet id, so nothing can move twice.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from ledger import HOUSE, TransferRequest, transfer_id, user_account
from ledger.errors import InsufficientFunds
from rooms.games.quick import fair
from rooms.games.quick.games import RANDOM_GAMES, play
from rooms.games.quick.outcome import InvalidChoice
from server.features.quickplay import football, seeds
from server.features.quickplay.bets import (
    BetResult,
    balance_minor,
    bet_id_for,
    check_daily_limit,
    replay,
)
from server.features.quickplay.errors import QuickplayError
from server.limits import service as limits
from server.state import AppState
from server.wording import amount_text

GAMES = ("wheel", "color", "pick3", "football")
IDEM_KEY_MAX_CHARS = 128
CHANNELS = ("ws", "http", "whatsapp")

__all__ = ["BetResult", "QuickplayError", "place_bet", "verify_bet"]


def parse_user_id(user_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(user_id)
    except ValueError as exc:
        raise QuickplayError("invalid_user", "Unknown player.", 404) from exc


def check_stake(state: AppState, stake_minor: object) -> int:
    s = state.settings
    if type(stake_minor) is not int or stake_minor <= 0:
        raise QuickplayError("invalid_stake", "The stake must be a whole positive amount.")
    if stake_minor < s.quick_bet_min_minor:
        raise QuickplayError(
            "stake_too_small", f"The smallest stake is {amount_text(s, s.quick_bet_min_minor)}.")
    if stake_minor > s.quick_bet_max_minor:
        raise QuickplayError(
            "stake_too_large", f"The largest stake is {amount_text(s, s.quick_bet_max_minor)}.")
    return stake_minor


def check_channel(state: AppState, channel: str) -> None:
    if channel not in CHANNELS:
        raise QuickplayError("invalid_channel", f"Unknown channel {channel!r}.")
    s = state.settings
    if channel == "whatsapp" and s.money_mode == "real" and not s.whatsapp_real_money:
        raise QuickplayError(
            "whatsapp_play_disabled", "Quick games with real money are not available on WhatsApp.",
            403)


def normalise_choice(game: str, choice: object) -> dict[str, Any]:
    if not isinstance(choice, dict):
        raise QuickplayError("invalid_choice", "The choice must be an object.")
    if game == "football":
        return football.normalise_choice(choice)
    try:
        return RANDOM_GAMES[game].normalise_choice(choice)
    except InvalidChoice as exc:
        raise QuickplayError("invalid_choice", str(exc)) from exc


async def place_bet(
    state: AppState, user_id: str, game: str, stake_minor: int, choice: dict[str, Any], *,
    channel: str, idem_key: str, now: datetime | None = None,
) -> BetResult:
    """Play one quick bet exactly once; a replay of `idem_key` returns the first result.

    Stake, payout and the bet row commit together (ledger.apply in one
    transaction), so a crash leaves either no bet or a fully paid one.
    """
    now = now or state.now()
    if game not in GAMES:
        raise QuickplayError("invalid_game", f"Games: {', '.join(GAMES)}.", 404)
    if not isinstance(idem_key, str) or not 1 <= len(idem_key) <= IDEM_KEY_MAX_CHARS:
        raise QuickplayError("invalid_idem_key", "A request key of 1-128 characters is required.")
    check_channel(state, channel)
    stake_minor = check_stake(state, stake_minor)
    normalised = normalise_choice(game, choice)
    uid = parse_user_id(user_id)
    first = await replay(state.pool, state, uid, idem_key, game, stake_minor, normalised)
    if first is not None:
        return first
    await limits.check_stake(state, user_id, stake_minor)  # own limits, exclusion, suspension
    if game == "football":
        return await football.place_football_bet(
            state, uid, stake_minor, normalised, channel=channel, idem_key=idem_key, now=now)
    bet_id = bet_id_for(user_id, idem_key)
    owner = user_account(user_id)
    currency = state.settings.currency
    try:
        async with state.pool.acquire() as conn, conn.transaction():
            seed = await seeds.lock_active_seed(conn, uid)
            again = await replay(conn, state, uid, idem_key, game, stake_minor, normalised)
            if again is not None:
                return again
            await check_daily_limit(conn, state, uid, stake_minor, now)
            nonce = await seeds.take_nonce(conn, seed)
            outcome = play(game, fair.DrawInput(seed.server_seed, seed.client_seed, nonce),
                           normalised)
            payout = outcome.payout_minor(stake_minor)
            meta = {"bet_id": str(bet_id), "game": game}
            reqs = [TransferRequest(transfer_id(bet_id, "stake"), owner, HOUSE, stake_minor,
                                    currency, code="stake", meta=meta)]
            if payout > 0:
                reqs.append(TransferRequest(transfer_id(bet_id, "payout"), HOUSE, owner, payout,
                                            currency, code="payout", meta=meta))
            await state.ledger.apply(conn, reqs)
            text = (f"{outcome.text} Stake {amount_text(state.settings, stake_minor)},"
                    f" returned {amount_text(state.settings, payout)}.")
            await conn.execute(
                "INSERT INTO quick_bets (id, user_id, idem_key, game, channel, stake_minor,"
                " currency, choice, seed_id, nonce, outcome, outcome_text, payout_minor, state)"
                " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,'settled')",
                bet_id, uid, idem_key, game, channel, stake_minor, currency, normalised, seed.id,
                nonce, outcome.result, text, payout,
            )
    except InsufficientFunds as exc:
        raise QuickplayError("insufficient_funds", "Your balance is too low for this stake.",
                             409) from exc
    return BetResult(
        bet_id=str(bet_id), game=game, stake_minor=stake_minor, outcome_text=text,
        payout_minor=payout, balance_minor=await balance_minor(state, user_id), state="settled",
        result=outcome.result, seed_hash=seed.seed_hash, nonce=nonce,
    )


async def verify_bet(state: AppState, bet_id: str, *, user_id: str | None = None) -> dict[str, Any]:
    """Recompute a past draw from the revealed seed and say whether it matches the record.

    With `user_id`, only that player's bets are visible (others read as not found).
    """
    try:
        bid = uuid.UUID(bet_id)
    except ValueError:
        return {"ok": False, "code": "bet_not_found", "text": "No bet with that id."}
    row = await state.pool.fetchrow(
        "SELECT b.*, s.server_seed, s.seed_hash, s.client_seed, s.revealed_at"
        " FROM quick_bets b LEFT JOIN fair_seeds s ON s.id = b.seed_id WHERE b.id = $1", bid,
    )
    if row is None or (user_id is not None and str(row["user_id"]) != user_id):
        return {"ok": False, "code": "bet_not_found", "text": "No bet with that id."}
    if row["game"] == "football":
        return {"ok": False, "code": "not_a_draw", "bet_id": bet_id,
                "text": "Football bets are settled by the match result, not by a draw."}
    base = {"bet_id": bet_id, "game": row["game"], "seed_hash": row["seed_hash"],
            "client_seed": row["client_seed"], "nonce": row["nonce"], "choice": row["choice"],
            "recorded": row["outcome"]}
    if row["revealed_at"] is None:
        return {**base, "ok": False, "code": "seed_not_revealed",
                "text": "This bet's server seed is still secret. Rotate your seed to reveal it,"
                        " then verify again."}
    server_seed = bytes(row["server_seed"])
    outcome = play(row["game"], fair.DrawInput(server_seed, row["client_seed"], row["nonce"]),
                   row["choice"])
    hash_ok = fair.verify_seed(server_seed, row["seed_hash"])
    same = outcome.result == row["outcome"] and outcome.payout_minor(row["stake_minor"]) == row[
        "payout_minor"]
    ok = hash_ok and same
    text = (f"Verified: HMAC-SHA256 of {row['client_seed']}:{row['nonce']} under the revealed seed"
            f" gives {outcome.text.rstrip('.')}, as recorded." if ok else
            "Mismatch: the recomputed draw differs from the record.")
    return {**base, "ok": ok, "server_seed": server_seed.hex(), "recomputed": outcome.result,
            "draw": outcome.draw, "text": text}


async def fair_info(state: AppState, user_id: str) -> dict[str, Any]:
    """The commitment for the player's next bets (seed hash, client seed, next nonce)."""
    uid = parse_user_id(user_id)
    async with state.pool.acquire() as conn, conn.transaction():
        seed = await seeds.lock_active_seed(conn, uid)
    return seed.public()


async def rotate_seed(
    state: AppState, user_id: str, client_seed: str | None = None
) -> dict[str, Any]:
    """Reveal the current seed (so past bets can be verified) and commit to a new one."""
    uid = parse_user_id(user_id)
    try:
        async with state.pool.acquire() as conn, conn.transaction():
            return await seeds.rotate(conn, uid, client_seed)
    except fair.FairnessError as exc:
        raise QuickplayError("invalid_client_seed", str(exc)) from exc
