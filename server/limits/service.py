"""Responsible play, enforced by the server: own limits, self-exclusion, suspension.

A player sets a daily deposit limit and a daily stake limit ("daily" is the last
`window_s`, 24 hours by default). Lowering a limit takes effect at once; raising or
removing one waits out a cooling-off period (`cooling_off_s`), so a decision made in
the heat of a losing streak cannot be undone in the same breath. Self-exclusion
blocks deposits and stakes until a chosen time and can be lengthened, never
shortened. An operator may suspend an account: its sessions end at once and it
cannot log in, deposit or stake until lifted.

The checks run where money would move: `check_deposit` inside the deposit
request's transaction (one per player at a time, under the user row lock), and
`check_stake` before a queue hold or a quick bet. A player has at most one queue
ticket, so queue stakes cannot race past the limit; two quick bets sent at the
same instant may both pass the check (each is still bounded by the game's own
daily limit).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import asyncpg
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger import user_account
from server.admin.audit import audit
from server.auth import sessions
from server.db import DbConn
from server.errors import MatchpotError
from server.limits.reads import STANDING_MANY_SQL, StandingRows
from server.state import AppState, Slot
from server.wording import amount_text

MAX_LIMIT_MINOR: Final = 10**12
MAX_SEARCH: Final = 50


class LimitsSettings(BaseSettings):
    """`MATCHPOT_LIMITS_*`: the cooling-off period, the window and the exclusion choices."""

    model_config = SettingsConfigDict(env_prefix="MATCHPOT_LIMITS_", extra="ignore", frozen=True)

    cooling_off_s: int = 24 * 3600
    window_s: int = 24 * 3600
    exclusion_days: tuple[int, ...] = (1, 7, 30, 90, 180, 365)


LIMITS_SETTINGS: Slot[LimitsSettings] = Slot("limits_settings", LimitsSettings)


def settings_of(state: AppState) -> LimitsSettings:
    return state.find(LIMITS_SETTINGS) or state.provide(LIMITS_SETTINGS, LimitsSettings())


STANDING_ROWS: Slot[StandingRows] = Slot("standing_rows", StandingRows)


def standing_rows(state: AppState) -> StandingRows:
    """The process's shared standing reader (made on first use)."""
    return state.find(STANDING_ROWS) or state.provide(STANDING_ROWS, StandingRows(state.pool))


class LimitRefused(MatchpotError):
    """A deposit or stake the player's own limits, exclusion or suspension forbid."""


class LimitChangeInvalid(MatchpotError):
    def __init__(self, msg: str) -> None:
        super().__init__("invalid_request", msg, 400)


@dataclass(frozen=True, slots=True)
class Limit:
    """One limit now, and a raise waiting for its cooling-off to end (if any)."""

    max_minor: int | None
    pending: bool = False
    pending_max_minor: int | None = None


@dataclass(frozen=True, slots=True)
class Standing:
    """Everything that decides whether a player may deposit or stake right now."""

    deposit: Limit
    stake: Limit
    pending_at: datetime | None
    excluded_until: datetime | None
    suspended_reason: str | None

    def public(self) -> dict[str, Any]:
        def lim(x: Limit) -> dict[str, Any]:
            return {"max_minor": x.max_minor, "pending": x.pending,
                    "pending_max_minor": x.pending_max_minor}
        return {
            "daily_deposit": lim(self.deposit), "daily_stake": lim(self.stake),
            "pending_at": self.pending_at.isoformat() if self.pending_at else None,
            "excluded_until": self.excluded_until.isoformat() if self.excluded_until else None,
            "suspended": self.suspended_reason is not None,
            "suspended_reason": self.suspended_reason,
        }


def now_of(state: AppState) -> datetime:
    """The process clock as a datetime (the one clock: tests may drive it)."""
    return datetime.fromtimestamp(state.clock.now_ms() / 1000, UTC)


def _standing(row: asyncpg.Record | None, reason: str | None, now: datetime) -> Standing:
    """The limits in force at `now`: a raise whose cooling-off has ended counts as applied."""
    if row is None:
        return Standing(Limit(None), Limit(None), None, None, reason)
    due = row["pending_at"] is not None and row["pending_at"] <= now

    def one(cur: str, pend: str, flag: str) -> Limit:
        if row[flag] and due:
            return Limit(row[pend])
        if row[flag]:
            return Limit(row[cur], True, row[pend])
        return Limit(row[cur])

    deposit = one("daily_deposit_max_minor", "pending_deposit_max_minor", "pending_deposit_set")
    stake = one("daily_stake_max_minor", "pending_stake_max_minor", "pending_stake_set")
    pending_at = row["pending_at"] if (deposit.pending or stake.pending) else None
    excluded = row["excluded_until"] if row["excluded_until"] and row["excluded_until"] > now \
        else None
    return Standing(deposit, stake, pending_at, excluded, reason)


async def standing(conn: DbConn, state: AppState, user_id: str) -> Standing:
    """The player's limits in force now and whether an admin suspended them."""
    row = await conn.fetchrow(STANDING_MANY_SQL, [uuid.UUID(user_id)])
    assert row is not None, "unnest of one id yields one row"
    return _standing_of(state, row)


def _standing_of(state: AppState, row: asyncpg.Record) -> Standing:
    """A row of `STANDING_MANY_SQL` as in force now."""
    return _standing(row if row["has_limits"] else None, row["suspended_reason"],
                     now_of(state))


async def usage(conn: DbConn, state: AppState, user_id: str) -> tuple[int, int]:
    """(deposits, stakes) in minor units within the window, as the limits count them.

    Deposits: requests pending or approved. Stakes: every stake taken from the
    player's account (quick bets, queue holds), less holds that were voided (a left
    queue, a refunded duel): money that never left does not count.
    """
    since = now_of(state) - timedelta(seconds=settings_of(state).window_s)
    uid = uuid.UUID(user_id)
    deposits = await conn.fetchval(
        "SELECT coalesce(sum(amount_minor), 0) FROM deposit_requests WHERE user_id = $1"
        " AND state IN ('pending', 'approved') AND created_at > $2", uid, since)
    stakes = await conn.fetchval(
        "SELECT coalesce(sum(t.amount_minor), 0) FROM transfers t"
        " JOIN accounts a ON a.id = t.debit_account_id"
        " WHERE a.owner = $1 AND a.currency = $2 AND t.code = 'stake'"
        " AND t.kind IN ('single', 'pending') AND t.created_at > $3"
        " AND NOT EXISTS (SELECT 1 FROM transfers v WHERE v.pending_id = t.id"
        "                 AND v.kind = 'void')",
        user_account(user_id), state.settings.currency, since)
    return int(deposits), int(stakes)


def _refuse_standing(state: AppState, st: Standing, what: str) -> None:
    if st.suspended_reason is not None:
        raise LimitRefused("account_suspended",
                           f"Your account is suspended: {st.suspended_reason}", 403)
    if st.excluded_until is not None:
        until = st.excluded_until.strftime("%Y-%m-%d %H:%M UTC")
        raise LimitRefused("self_excluded",
                           f"You excluded yourself from play until {until}; {what} waits"
                           " until then.", 403)


async def check_deposit(conn: DbConn, state: AppState, user_id: str, amount_minor: int) -> None:
    """Refuse a deposit request the player's standing or daily deposit limit forbids."""
    st = await standing(conn, state, user_id)
    _refuse_standing(state, st, "depositing")
    if st.deposit.max_minor is None:
        return
    used, _ = await usage(conn, state, user_id)
    _refuse_over(state, "deposit", st.deposit.max_minor, used, amount_minor)


async def check_stake(state: AppState, user_id: str, amount_minor: int) -> None:
    """Refuse a stake the player's standing or daily stake limit forbids.

    The standing comes from the shared reader: every queue join asks, and a wave of
    joins is then a few queries instead of one pooled connection each.
    """
    st = _standing_of(state, await standing_rows(state).read(user_id))
    _refuse_standing(state, st, "playing")
    if st.stake.max_minor is None:
        return
    async with state.pool.acquire() as conn:
        _, used = await usage(conn, state, user_id)
    _refuse_over(state, "stake", st.stake.max_minor, used, amount_minor)


def _refuse_over(
    state: AppState, what: str, limit_minor: int, used: int, amount_minor: int
) -> None:
    """One rule for both daily limits: `amount_minor` more may not pass the player's own limit."""
    if used + amount_minor > limit_minor:
        left = max(limit_minor - used, 0)
        raise LimitRefused(
            f"{what}_limit_reached",
            f"Your own daily {what} limit is {amount_text(state.settings, limit_minor)};"
            f" {amount_text(state.settings, left)} left in the last 24 hours.", 409)


_UNSET: Final = object()


def _check_value(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_LIMIT_MINOR:
        raise LimitChangeInvalid("A limit is a positive whole amount, or none.")
    return value


async def change_limits(
    state: AppState, user_id: str, *, deposit: object = _UNSET, stake: object = _UNSET,
) -> Standing:
    """Set the player's own limits: lower at once, raise (or remove) after the cooling-off.

    Asking for the current value again cancels a waiting raise of that limit.
    """
    uid = uuid.UUID(user_id)
    now = now_of(state)
    cooling = timedelta(seconds=settings_of(state).cooling_off_s)
    async with state.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO play_limits (user_id) VALUES ($1) ON CONFLICT DO NOTHING", uid)
        row = await conn.fetchrow("SELECT * FROM play_limits WHERE user_id = $1 FOR UPDATE", uid)
        assert row is not None
        st = _standing(row, None, now)
        fields: dict[str, Any] = {}
        for name, wanted, cur in (("deposit", deposit, st.deposit), ("stake", stake, st.stake)):
            if wanted is _UNSET:
                if not cur.pending:  # a raise that came due: record it as applied
                    fields[f"daily_{name}_max_minor"] = cur.max_minor
                    fields[f"pending_{name}_set"] = False
                continue
            new = _check_value(wanted)
            lowering = new is not None and (cur.max_minor is None or new <= cur.max_minor)
            if lowering:
                fields[f"daily_{name}_max_minor"] = new
                fields[f"pending_{name}_set"] = False
                fields[f"pending_{name}_max_minor"] = None
            else:
                fields[f"daily_{name}_max_minor"] = cur.max_minor
                fields[f"pending_{name}_set"] = True
                fields[f"pending_{name}_max_minor"] = new
        waiting = any(fields.get(f"pending_{n}_set", False) for n in ("deposit", "stake"))
        still = [n for n in ("deposit", "stake") if f"pending_{n}_set" not in fields
                 and getattr(st, n).pending]
        if waiting:
            # A new raise restarts the clock for every waiting raise.
            fields["pending_at"] = now + cooling
        elif not still:
            fields["pending_at"] = None
        sets = ", ".join(f"{k} = ${i + 2}" for i, k in enumerate(fields))
        await conn.execute(
            f"UPDATE play_limits SET {sets}, updated_at = now() WHERE user_id = $1",
            uid, *fields.values())
        return await standing(conn, state, user_id)


async def self_exclude(state: AppState, user_id: str, days: int) -> Standing:
    """Exclude the player from deposits and stakes for `days` (only ever lengthened)."""
    choices = settings_of(state).exclusion_days
    if isinstance(days, bool) or days not in choices:
        raise LimitChangeInvalid(
            f"Choose one of {', '.join(str(d) for d in choices)} days.")
    uid = uuid.UUID(user_id)
    until = now_of(state) + timedelta(days=days)
    async with state.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO play_limits (user_id, excluded_until) VALUES ($1, $2)"
            " ON CONFLICT (user_id) DO UPDATE SET excluded_until ="
            " greatest(coalesce(play_limits.excluded_until, $2), $2), updated_at = now()",
            uid, until)
        return await standing(conn, state, user_id)


# Suspension (an operator's decision) ---------------------------------------------------------


async def suspend(state: AppState, admin_id: str, user_id: str, reason: str) -> None:
    """Suspend a player: every session ends now (sockets close), and login, deposits and
    stakes are refused until `lift_suspension`. Audited in the same transaction."""
    uid = uuid.UUID(user_id)
    async with state.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO player_suspensions (user_id, reason, suspended_by) VALUES ($1, $2, $3)"
            " ON CONFLICT (user_id) DO UPDATE SET reason = $2, suspended_by = $3,"
            " suspended_at = now()", uid, reason, uuid.UUID(admin_id))
        families = await conn.fetch(
            "UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1"
            " AND revoked_at IS NULL AND expires_at > now() RETURNING family_id", uid)
        await audit(conn, admin_id, "player.suspend", f"player:{user_id}", {"reason": reason})
    for family in {str(r["family_id"]) for r in families}:
        await sessions.revoke(state, user_id, family)


async def lift_suspension(state: AppState, admin_id: str, user_id: str, reason: str) -> None:
    async with state.pool.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM player_suspensions WHERE user_id = $1",
                           uuid.UUID(user_id))
        await audit(conn, admin_id, "player.unsuspend", f"player:{user_id}", {"reason": reason})
