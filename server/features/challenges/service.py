"""Staked self-challenges: drafts, the held stake, reminders, proofs, verdicts, outcomes.

Every transition locks the challenge row (FOR UPDATE) and commits its money in the same
transaction through `ledger.apply`, with the player's alert in the outbox: a challenge
moves draft → open → succeeded | failed | cancelled | expired exactly once, and each
transfer id is derived from the challenge (`transfer_id(id, "stake")`, ...), so a replay
changes nothing. Every time that decides something comes from `state.clock`; the jobs
(`run_due`) take `now` from it too, so tests drive deadlines and reminders with a
ManualClock. docs/challenges.md is the reference for states, timeouts and money.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import structlog

from ledger import (
    HOUSE,
    HoldAlreadyResolved,
    HoldExpired,
    OutboxMessage,
    TransferKind,
    TransferRequest,
    bps_down,
    clearing_account,
    escrow_account,
    outbox,
    transfer_id,
    user_account,
)
from server.admin.audit import audit
from server.db import DbConn
from server.errors import MatchpotError
from server.features.challenges import verifier
from server.features.challenges.dates import (
    Ambiguous,
    Deadline,
    local_text,
    parse_challenge,
    parse_deadline,
    parse_reminder,
    zone_for_phone,
    zone_of,
)
from server.features.challenges.proofs import CheckedProof, ProofRejected, check_proof
from server.features.challenges.settings import ChallengeSettings
from server.state import AppState, Slot
from server.storage import Storage
from server.wording import amount_text

log = structlog.get_logger(__name__)

ESCROW_KIND = "challenge"
CHARITY = "charity"
MAX_LIST = 100
LEASE_MARGIN_S = 30.0
OPEN_STATES = ("draft", "open")


class ChallengeError(MatchpotError):
    """A refusal in the player's words; nothing changed."""


@dataclass
class ChallengeService:
    """The feature's one object per process (CHALLENGES slot)."""

    state: AppState
    settings: ChallengeSettings
    storage: Storage
    http: httpx.AsyncClient

    # ---- time and wording ------------------------------------------------------------

    def now(self) -> datetime:
        """The server clock as an aware datetime (ms precision)."""
        return datetime.fromtimestamp(self.state.clock.now_ms() / 1000, UTC)

    def amount(self, minor: int) -> str:
        return amount_text(self.state.settings, minor)

    def zone_for(self, phone_e164: str, given: str | None = None) -> ZoneInfo:
        default = self.settings.default_time_zone
        return zone_of(given or zone_for_phone(phone_e164, default), default)

    # ---- limits ------------------------------------------------------------------------

    def check_stake(self, stake_minor: int) -> None:
        s = self.settings
        if not s.min_stake_minor <= stake_minor <= s.max_stake_minor:
            raise ChallengeError(
                "stake_out_of_range",
                f"A challenge stake is between {self.amount(s.min_stake_minor)} and"
                f" {self.amount(s.max_stake_minor)}.",
            )

    def check_deadline(self, at: datetime, now: datetime) -> None:
        s = self.settings
        lead = (at - now).total_seconds()
        if lead <= 0:
            raise ChallengeError("deadline_passed", "That time has already passed.")
        if lead < s.min_lead_s:
            raise ChallengeError(
                "deadline_too_soon",
                f"The deadline must be at least {duration_text(s.min_lead_s)} from now.")
        if lead > s.max_lead_s:
            raise ChallengeError(
                "deadline_too_far",
                f"The deadline must be at most {duration_text(s.max_lead_s)} from now.")

    # ---- creating ----------------------------------------------------------------------

    async def draft_from_text(
        self, user_id: str, phone_e164: str, text: str, *, source: str, source_ref: str,
        time_zone: str | None = None,
    ) -> asyncpg.Record:
        """A draft from one free-text message; a replay of `source_ref` returns the first."""
        found = await self._by_ref(user_id, source_ref)
        if found is not None:
            return found
        tz = self.zone_for(phone_e164, time_zone)
        now = self.now()
        parsed = parse_challenge(text, now, tz)
        if parsed.problems:
            raise ChallengeError("challenge_unclear", " ".join(parsed.problems))
        assert parsed.goal is not None and parsed.stake_minor is not None
        assert parsed.deadline is not None
        return await self._insert_draft(user_id, parsed.goal, parsed.stake_minor,
                                        parsed.deadline, tz, source, source_ref, now)

    async def draft_from_form(
        self, user_id: str, phone_e164: str, *, goal: str, stake_minor: int,
        deadline_text: str, source_ref: str, time_zone: str | None = None,
    ) -> asyncpg.Record:
        """A draft from the PWA form (goal, stake and deadline in separate fields)."""
        found = await self._by_ref(user_id, source_ref)
        if found is not None:
            return found
        goal = " ".join(goal.split())
        if not 1 <= len(goal) <= 120:
            raise ChallengeError("goal_invalid", "Say what your goal is (up to 120 characters).")
        tz = self.zone_for(phone_e164, time_zone)
        now = self.now()
        deadline = parse_deadline(deadline_text, now, tz)
        if deadline is None:
            raise ChallengeError("deadline_unclear", "Give a deadline, e.g. 'tomorrow 7am',"
                                 " 'in 2 hours' or 'by Friday'.")
        return await self._insert_draft(user_id, goal, stake_minor, deadline, tz, "http",
                                        source_ref, now)

    async def _insert_draft(
        self, user_id: str, goal: str, stake_minor: int, deadline: Deadline | Ambiguous,
        tz: ZoneInfo, source: str, source_ref: str, now: datetime,
    ) -> asyncpg.Record:
        self.check_stake(stake_minor)
        at: datetime | None = None
        options: list[str] = []
        if isinstance(deadline, Deadline):
            self.check_deadline(deadline.at, now)
            at = deadline.at
        else:
            options = [o.isoformat() for o in deadline.options]
        cid = uuid.uuid5(uuid.NAMESPACE_URL, f"challenge:{user_id}:{source_ref}")
        row = await self.state.pool.fetchrow(
            "INSERT INTO challenges (id, user_id, source, source_ref, goal, stake_minor, currency,"
            " time_zone, deadline_at, options, created_at)"
            " VALUES ($1, $2::uuid, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            " ON CONFLICT (user_id, source_ref) DO NOTHING RETURNING *",
            cid, user_id, source, source_ref, goal, stake_minor, self.state.settings.currency,
            str(tz), at, options, now,
        )
        if row is None:  # the same request at the same moment: return the first
            row = await self._by_ref(user_id, source_ref)
        assert row is not None
        return row

    async def _by_ref(self, user_id: str, source_ref: str) -> asyncpg.Record | None:
        return await self.state.pool.fetchrow(
            "SELECT * FROM challenges WHERE user_id = $1::uuid AND source_ref = $2",
            user_id, source_ref,
        )

    async def get(self, user_id: str, challenge_id: str) -> asyncpg.Record:
        row = await self.state.pool.fetchrow(
            "SELECT * FROM challenges WHERE id = $1 AND user_id = $2::uuid",
            _uuid(challenge_id), user_id,
        )
        if row is None:
            raise ChallengeError("challenge_not_found", "That challenge could not be found.", 404)
        return row

    async def pick_option(self, user_id: str, challenge_id: str, index: int) -> asyncpg.Record:
        """Answer the question of an ambiguous deadline with one of its options."""
        async with self.state.pool.acquire() as conn, conn.transaction():
            row = await self._lock(conn, user_id, challenge_id)
            if row["state"] != "draft":
                raise ChallengeError("challenge_not_draft", "That challenge is already set.", 409)
            options = options_of(row)
            if not 0 <= index < len(options):
                raise ChallengeError("option_invalid", "Pick one of the offered times.")
            at = options[index]
            self.check_deadline(at, self.now())
            updated = await conn.fetchrow(
                "UPDATE challenges SET deadline_at = $2, options = '[]' WHERE id = $1"
                " RETURNING *", row["id"], at,
            )
        assert updated is not None
        return updated

    async def _lock(self, conn: DbConn, user_id: str | None, challenge_id: Any) -> asyncpg.Record:
        row = await conn.fetchrow(
            "SELECT * FROM challenges WHERE id = $1 AND ($2::uuid IS NULL OR user_id = $2::uuid)"
            " FOR UPDATE", _uuid(challenge_id), user_id,
        )
        if row is None:
            raise ChallengeError("challenge_not_found", "That challenge could not be found.", 404)
        return row

    async def confirm(self, user_id: str, challenge_id: str) -> asyncpg.Record:
        """Hold the stake and open the challenge (a confirmed one is returned as it is)."""
        s = self.settings
        now = self.now()
        async with self.state.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                               f"challenges:{user_id}")
            row = await self._lock(conn, user_id, challenge_id)
            if row["state"] == "open":
                return row
            if row["state"] != "draft":
                raise ChallengeError("challenge_closed", "That challenge is already closed.", 409)
            if row["deadline_at"] is None:
                raise ChallengeError("deadline_unclear", "Pick the deadline first.")
            if (now - row["created_at"]).total_seconds() > s.draft_ttl_s:
                raise ChallengeError("draft_expired", "That challenge was not confirmed in"
                                     " time; send it again.", 409)
            self.check_deadline(row["deadline_at"], now)
            self.check_stake(row["stake_minor"])
            open_count = await conn.fetchval(
                "SELECT count(*) FROM challenges WHERE user_id = $1 AND state = 'open'",
                row["user_id"],
            )
            if open_count >= s.max_open_per_player:
                raise ChallengeError("too_many_open", f"You can have at most"
                                     f" {s.max_open_per_player} open challenges.", 409)
            cid = row["id"]
            hold_id = transfer_id(cid, "stake")
            lead_s = math.ceil((row["deadline_at"] - now).total_seconds())
            await self.state.ledger.apply(conn, [TransferRequest(
                id=hold_id, debit=user_account(row["user_id"]),
                credit=escrow_account(ESCROW_KIND, cid), amount_minor=row["stake_minor"],
                currency=row["currency"], kind=TransferKind.PENDING, code="challenge_stake",
                timeout_s=lead_s + s.deadline_grace_s + s.review_window_s,
                meta={"challenge_id": str(cid)},
            )])
            opened = await conn.fetchrow(
                "UPDATE challenges SET state = 'open', confirmed_at = $2, hold_id = $3"
                " WHERE id = $1 RETURNING *", cid, now, hold_id,
            )
            assert opened is not None
            due = row["deadline_at"] - timedelta(seconds=s.auto_reminder_before_s)
            if due > now:  # not when that moment has already passed
                await self._insert_reminder(conn, opened, "auto", due, now)
        return opened

    # ---- cancelling --------------------------------------------------------------------

    async def cancel(self, user_id: str, challenge_id: str | None) -> asyncpg.Record:
        """Drop a draft, or cancel an open challenge within the cooling-off window (full
        refund: the hold is voided)."""
        cid = challenge_id or await self.state.pool.fetchval(
            "SELECT id FROM challenges WHERE user_id = $1::uuid AND state IN ('draft', 'open')"
            " ORDER BY created_at DESC LIMIT 1", user_id,
        )
        if cid is None:
            raise ChallengeError("challenge_not_found", "You have no challenge to cancel.", 404)
        now = self.now()
        async with self.state.pool.acquire() as conn, conn.transaction():
            row = await self._lock(conn, user_id, cid)
            if row["state"] == "cancelled":
                return row
            if row["state"] == "open":
                until = row["confirmed_at"] + timedelta(seconds=self.settings.cooling_off_s)
                if now > until or now >= row["deadline_at"]:
                    raise ChallengeError(
                        "cooling_off_over",
                        f"A challenge can be cancelled only within"
                        f" {duration_text(self.settings.cooling_off_s)} of confirming it;"
                        " your stake stays held until the outcome.", 409)
                await self.state.ledger.apply(conn, [_void(row, "cancel", "challenge_cancel")])
            elif row["state"] != "draft":
                raise ChallengeError("challenge_closed", "That challenge is already closed.", 409)
            return await self._resolve(conn, row, "cancelled", "cancelled by the player", now)

    # ---- reminders ---------------------------------------------------------------------

    async def _insert_reminder(
        self, conn: DbConn, row: asyncpg.Record, kind: str, due: datetime, now: datetime
    ) -> bool:
        inserted = await conn.fetchval(
            "INSERT INTO challenge_reminders (id, challenge_id, user_id, kind, due_at, created_at)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING true",
            transfer_id(row["id"], "reminder", due.isoformat()), row["id"], row["user_id"],
            kind, due, now,
        )
        return bool(inserted)

    async def remind(self, user_id: str, challenge_id: str | None, text: str) -> datetime:
        """A reminder on request ("in 1 hour", "30 minutes before"); returns when it is due."""
        row = await self._target(user_id, challenge_id)
        now = self.now()
        due = parse_reminder(text, now, row["deadline_at"], zone_of(row["time_zone"], "UTC"))
        if isinstance(due, str):
            raise ChallengeError("reminder_unclear", due)
        async with self.state.pool.acquire() as conn, conn.transaction():
            locked = await self._lock(conn, user_id, row["id"])
            if locked["state"] != "open":
                raise ChallengeError("challenge_closed", "That challenge is already closed.", 409)
            count = await conn.fetchval(
                "SELECT count(*) FROM challenge_reminders WHERE challenge_id = $1"
                " AND kind = 'requested'", locked["id"],
            )
            if count >= self.settings.max_reminders:
                raise ChallengeError("too_many_reminders", "That challenge has enough reminders.")
            await self._insert_reminder(conn, locked, "requested", due, now)
        return due

    async def _target(self, user_id: str, challenge_id: str | None) -> asyncpg.Record:
        """The named challenge, else the player's open one with the nearest deadline."""
        row: asyncpg.Record | None
        if challenge_id:
            row = await self.get(user_id, challenge_id)
        else:
            row = await self.state.pool.fetchrow(
                "SELECT * FROM challenges WHERE user_id = $1::uuid AND state = 'open'"
                " ORDER BY deadline_at LIMIT 1", user_id,
            )
        if row is None or row["state"] != "open":
            raise ChallengeError("no_open_challenge", "You have no open challenge. Start one"
                                 " with e.g. 'challenge gym tomorrow 7am stake 200'.", 404)
        return row

    # ---- proofs ------------------------------------------------------------------------

    async def submit_proof(
        self, user_id: str, challenge_id: str | None, raw: bytes, content_type: str | None,
        *, source_ref: str, received_at: datetime,
    ) -> asyncpg.Record:
        """Check, store and queue a proof; judged by `received_at` against the deadline.

        A photo taken (EXIF) before the challenge was created, or one matching a proof of
        an earlier challenge (perceptual hash), is recorded as rejected at once.
        """
        pool = self.state.pool
        found = await pool.fetchrow("SELECT * FROM challenge_proofs WHERE source_ref = $1",
                                    source_ref)
        if found is not None:
            return found
        row = await self._target(user_id, challenge_id)
        if received_at > row["deadline_at"]:
            raise ChallengeError("proof_too_late", "The deadline has passed; proofs are no"
                                 " longer accepted for that challenge.", 409)
        s = self.settings
        tz = zone_of(row["time_zone"], "UTC")
        try:
            checked = await asyncio.to_thread(
                check_proof, raw, content_type, tz=tz, max_image_bytes=s.max_image_bytes,
                max_video_bytes=s.max_video_bytes,
            )
        except ProofRejected as exc:
            raise ChallengeError(exc.code, exc.msg) from exc
        reject: tuple[str, str] | None = None
        if checked.taken_at is not None and checked.taken_at < row["created_at"]:
            reject = ("check:exif", "The photo was taken before the challenge was set.")
        elif await self._reused(row["id"], checked):
            reject = ("check:reused", "This photo was already used for an earlier challenge.")
        proof_id = uuid.uuid5(uuid.NAMESPACE_URL, f"proof:{source_ref}")
        key: str | None = None
        if reject is None:
            key = f"challenges/{proof_id.hex}.{checked.extension}"
            await self.storage.put(key, checked.data, checked.content_type)
        use_http = s.verifier == "http" and checked.media == "image" and reject is None
        async with pool.acquire() as conn, conn.transaction():
            locked = await self._lock(conn, user_id, row["id"])
            if locked["state"] != "open":
                raise ChallengeError("challenge_closed", "That challenge is already closed.", 409)
            counts = await conn.fetchrow(
                "SELECT count(*) AS n, count(*) FILTER (WHERE state = 'pending') AS pending"
                " FROM challenge_proofs WHERE challenge_id = $1", locked["id"],
            )
            assert counts is not None
            if counts["pending"] and reject is None:
                raise ChallengeError("proof_pending", "Your last proof is still being checked.",
                                     409)
            if counts["n"] >= s.max_proofs_per_challenge:
                raise ChallengeError("too_many_proofs", "That challenge has enough proofs.", 409)
            proof = await conn.fetchrow(
                "INSERT INTO challenge_proofs (id, challenge_id, user_id, source_ref, media,"
                " content_type, size_bytes, storage_key, content_sha256, phash, taken_at,"
                " received_at, state, verifier, verifier_state, decided_by, decided_at, reason)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,"
                " $16, $17, $18) ON CONFLICT (source_ref) DO NOTHING RETURNING *",
                proof_id, locked["id"], locked["user_id"], source_ref, checked.media,
                checked.content_type, len(checked.data), key, checked.sha256, checked.phash,
                checked.taken_at, received_at, "rejected" if reject else "pending",
                "http" if use_http else "admin", "queued" if use_http else "none",
                reject[0] if reject else None, self.now() if reject else None,
                reject[1] if reject else None,
            )
        if proof is None:  # the same message processed twice at once
            found = await pool.fetchrow("SELECT * FROM challenge_proofs WHERE source_ref = $1",
                                        source_ref)
            assert found is not None
            return found
        return proof

    async def _reused(self, challenge_id: uuid.UUID, checked: CheckedProof) -> bool:
        """True if the same file, or a picture within `reuse_max_distance` bits of its
        perceptual hash, was sent for another challenge (anyone's)."""
        return bool(await self.state.pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM challenge_proofs WHERE challenge_id <> $1 AND"
            " (content_sha256 = $2 OR ($3::bigint IS NOT NULL AND phash IS NOT NULL AND"
            "  bit_count((phash # $3::bigint)::bit(64)) <= $4)))",
            challenge_id, checked.sha256, checked.phash, self.settings.reuse_max_distance,
        ))

    # ---- verdicts and outcomes ---------------------------------------------------------

    async def review(
        self, proof_id: str, *, approve: bool, actor: str, reason: str | None,
        admin_id: str | None = None,
    ) -> asyncpg.Record:
        """Approve (stake returned, plus any bonus) or reject a pending proof, exactly once.

        A rejection after the deadline forfeits the stake in the same transaction. An admin's
        decision is audited with it.
        """
        now = self.now()
        pid = _uuid(proof_id)
        async with self.state.pool.acquire() as conn, conn.transaction():
            cid = await conn.fetchval("SELECT challenge_id FROM challenge_proofs WHERE id = $1",
                                      pid)
            if cid is None:
                raise ChallengeError("proof_not_found", "That proof could not be found.", 404)
            row = await self._lock(conn, None, cid)
            proof = await conn.fetchrow(
                "SELECT * FROM challenge_proofs WHERE id = $1 FOR UPDATE", pid)
            assert proof is not None
            wanted = "approved" if approve else "rejected"
            if proof["state"] != "pending":
                if proof["state"] == wanted:
                    return proof
                raise ChallengeError("proof_decided", f"That proof was already {proof['state']}.",
                                     409)
            if approve and row["state"] != "open":
                raise ChallengeError("challenge_closed", "That challenge is already closed.", 409)
            decided = await conn.fetchrow(
                "UPDATE challenge_proofs SET state = $2, decided_by = $3, decided_at = $4,"
                " reason = $5, verifier_state = CASE WHEN $3 = 'verifier:http' THEN 'decided'"
                " ELSE verifier_state END, verify_until = NULL WHERE id = $1 RETURNING *",
                pid, wanted, actor, now, reason,
            )
            if admin_id is not None:
                await audit(conn, admin_id, f"challenge_proof_{'approve' if approve else 'reject'}",
                            f"challenge_proof:{pid}",
                            {"challenge_id": str(cid), "reason": reason})
            if approve:
                await self._succeed(conn, row, now)
            elif row["state"] == "open" and now > row["deadline_at"]:
                await self._forfeit(conn, row, now, "proof rejected after the deadline")
            elif row["state"] == "open":
                await self._alert(conn, row, "challenge_proof_rejected", str(pid),
                                  f'Your proof for "{row["goal"]}" was not accepted'
                                  f"{': ' + reason if reason else ''}. You can send another"
                                  f" before {local_text(row['deadline_at'], _tz(row))}.")
        assert decided is not None
        return decided

    async def _succeed(self, conn: DbConn, row: asyncpg.Record, now: datetime) -> None:
        s = self.settings
        bonus = bps_down(row["stake_minor"], s.bonus_bps) if s.bonus_bps else 0
        if s.bonus_max_minor:
            bonus = min(bonus, s.bonus_max_minor)
        reqs = [_void(row, "return", "challenge_return")]
        if bonus > 0:
            reqs.append(TransferRequest(
                id=transfer_id(row["id"], "bonus"), debit=HOUSE,
                credit=user_account(row["user_id"]), amount_minor=bonus,
                currency=row["currency"], code="challenge_bonus",
                meta={"challenge_id": str(row["id"])},
            ))
        text = (f'Well done: your challenge "{row["goal"]}" is complete.'
                f" Your stake of {self.amount(row['stake_minor'])} is back in your balance.")
        if bonus:
            text += f" Bonus: {self.amount(bonus)}."
        await self.state.ledger.apply(conn, reqs, outbox=[_message(row, "challenge_won", text)])
        await conn.execute("UPDATE challenges SET bonus_minor = $2 WHERE id = $1", row["id"],
                           bonus)
        await self._resolve(conn, row, "succeeded", "proof approved", now)

    async def _forfeit(self, conn: DbConn, row: asyncpg.Record, now: datetime, why: str) -> None:
        target = HOUSE if self.settings.forfeit_to == "house" else clearing_account(CHARITY)
        escrow = escrow_account(ESCROW_KIND, row["id"])
        reqs = [
            TransferRequest(
                id=transfer_id(row["id"], "forfeit"), debit="", credit="", amount_minor=0,
                currency="", kind=TransferKind.POST, pending_id=row["hold_id"],
                code="challenge_forfeit",
            ),
            TransferRequest(
                id=transfer_id(row["id"], "forfeit_to"), debit=escrow, credit=target,
                amount_minor=row["stake_minor"], currency=row["currency"],
                code="challenge_forfeit", meta={"challenge_id": str(row["id"])},
            ),
        ]
        where = "to charity" if self.settings.forfeit_to == "charity" else "kept"
        text = (f'Your challenge "{row["goal"]}" ended without an accepted proof. Your stake of'
                f" {self.amount(row['stake_minor'])} is {where}.")
        await self.state.ledger.apply(conn, reqs, outbox=[_message(row, "challenge_lost", text)])
        await conn.execute("UPDATE challenges SET forfeit_to = $2 WHERE id = $1", row["id"],
                           self.settings.forfeit_to)
        await self._resolve(conn, row, "failed", why, now)

    async def _resolve(
        self, conn: DbConn, row: asyncpg.Record, state: str, reason: str, now: datetime
    ) -> asyncpg.Record:
        assert row["state"] in OPEN_STATES, row["state"]
        done = await conn.fetchrow(
            "UPDATE challenges SET state = $2, resolved_at = $3, outcome_reason = $4"
            " WHERE id = $1 AND state IN ('draft', 'open') RETURNING *",
            row["id"], state, now, reason,
        )
        assert done is not None, "a challenge resolves once (its row is locked)"
        await conn.execute(
            "UPDATE challenge_reminders SET state = 'dropped' WHERE challenge_id = $1"
            " AND state = 'pending'", row["id"],
        )
        return done

    async def _alert(
        self, conn: DbConn, row: asyncpg.Record, kind: str, cause: str, text: str
    ) -> None:
        await outbox.enqueue(conn, [_message(row, kind, text, extra=cause)])

    # ---- jobs --------------------------------------------------------------------------

    async def run_due(self) -> dict[str, int]:
        """One round of the background work at `state.clock`'s now (every node runs it)."""
        sent = await self.send_due_reminders()
        settled = await self.settle_deadlines()
        verified = await self.verify_queued()
        return {"reminders": sent, "settled": settled, "verified": verified}

    async def send_due_reminders(self) -> int:
        """Hand due reminders to the outbox, each at most once (marked in the same commit)."""
        now = self.now()
        async with self.state.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT r.id, r.kind, r.due_at, c.id AS challenge_id, c.user_id, c.goal,"
                " c.deadline_at, c.time_zone, c.state AS challenge_state"
                " FROM challenge_reminders r JOIN challenges c ON c.id = r.challenge_id"
                " WHERE r.state = 'pending' AND r.due_at <= $1 ORDER BY r.due_at LIMIT $2"
                " FOR UPDATE OF r SKIP LOCKED", now, self.settings.batch,
            )
            messages: list[OutboxMessage] = []
            for r in rows:
                live = r["challenge_state"] == "open" and r["deadline_at"] > now
                await conn.execute(
                    "UPDATE challenge_reminders SET state = $2, sent_at = $3 WHERE id = $1",
                    r["id"], "sent" if live else "dropped", now if live else None,
                )
                if live:
                    left = duration_text(int((r["deadline_at"] - now).total_seconds()))
                    messages.append(OutboxMessage(
                        transfer_id(r["id"], "sent"), "whatsapp", str(r["user_id"]),
                        "challenge_reminder",
                        {"challenge_id": str(r["challenge_id"]), "text": (
                            f'Reminder: your challenge "{r["goal"]}" ends in {left}'
                            f" ({local_text(r['deadline_at'], _tz(r))}). Send a photo or a short"
                            " video here as proof before then.")},
                    ))
            await outbox.enqueue(conn, messages)
        return len(messages)

    async def settle_deadlines(self) -> int:
        """Forfeit open challenges past deadline + grace with no proof under review; mark
        expired those whose review outlived the hold (the sweeper returns that stake)."""
        s = self.settings
        now = self.now()
        grace = timedelta(seconds=s.deadline_grace_s)
        review = timedelta(seconds=s.review_window_s)
        ids = await self.state.pool.fetch(
            "SELECT id FROM challenges c WHERE state = 'open' AND deadline_at + $2 <= $1 AND"
            " (deadline_at + $2 + $3 <= $1 OR NOT EXISTS (SELECT 1 FROM challenge_proofs p"
            "  WHERE p.challenge_id = c.id AND p.state = 'pending'"
            "  AND p.received_at <= c.deadline_at))"
            " ORDER BY deadline_at LIMIT $4", now, grace, review, s.batch,
        )
        done = 0
        for r in ids:
            async with self.state.pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(
                    "SELECT * FROM challenges WHERE id = $1 AND state = 'open'"
                    " FOR UPDATE SKIP LOCKED", r["id"])
                if row is None:
                    continue
                pending = await conn.fetchval(
                    "SELECT count(*) FROM challenge_proofs WHERE challenge_id = $1"
                    " AND state = 'pending' AND received_at <= $2", row["id"], row["deadline_at"])
                if pending and now < row["deadline_at"] + grace + review:
                    continue
                if pending:
                    await self._expire(conn, row, now)
                else:
                    await self._forfeit(conn, row, now, "deadline passed without a proof")
                done += 1
        return done

    async def _expire(self, conn: DbConn, row: asyncpg.Record, now: datetime) -> None:
        """The review took longer than the hold: return the stake (nothing is approved)."""
        try:
            await self.state.ledger.apply(conn, [_void(row, "expire", "challenge_expired")])
        except (HoldExpired, HoldAlreadyResolved):
            pass  # the ledger's sweeper voids (or voided) it: the stake is returned either way
        await self._resolve(conn, row, "expired", "no verdict within the review window", now)

    async def verify_queued(self) -> int:
        """Ask the http verifier about queued proofs; a failure leaves them for an admin."""
        s = self.settings
        if s.verifier != "http":
            return 0
        lease_s = s.verifier_attempts * (s.verifier_timeout_s + s.verifier_retry_base_s * 2 **
                                         s.verifier_attempts) + LEASE_MARGIN_S
        rows = await self.state.pool.fetch(
            "UPDATE challenge_proofs p SET verify_until = now() + make_interval(secs => $2)"
            " FROM challenges c WHERE p.id IN (SELECT id FROM challenge_proofs"
            "  WHERE state = 'pending' AND verifier_state = 'queued'"
            "  AND (verify_until IS NULL OR verify_until < now())"
            "  ORDER BY received_at LIMIT $1 FOR UPDATE SKIP LOCKED) AND c.id = p.challenge_id"
            " RETURNING p.*, c.goal, c.created_at AS challenge_created_at, c.deadline_at,"
            " c.time_zone", min(s.batch, 10), lease_s,
        )
        for r in rows:
            await self._verify_one(r)
        return len(rows)

    async def _verify_one(self, r: asyncpg.Record) -> None:
        s = self.settings
        picture = await self.storage.get(r["storage_key"]) if r["storage_key"] else None
        if picture is None or not s.verifier_url:
            verdict = verifier.Verdict("failed", 0.0, "no picture or no verifier url", 0)
        else:
            verdict = await verifier.ask(self.http, s, verifier.request_body(
                proof_id=str(r["id"]), challenge_id=str(r["challenge_id"]), goal=r["goal"],
                created_at=r["challenge_created_at"].isoformat(),
                deadline_at=r["deadline_at"].isoformat(), received_at=r["received_at"].isoformat(),
                time_zone=r["time_zone"], content_type=r["content_type"], picture=picture,
            ))
        log.info("challenge_verdict", proof_id=str(r["id"]), decision=verdict.decision,
                 attempts=verdict.attempts)
        if verdict.decision in ("approve", "reject"):
            try:
                await self.review(str(r["id"]), approve=verdict.decision == "approve",
                                  actor="verifier:http", reason=verdict.reason or None)
                return
            except ChallengeError as exc:  # decided meanwhile, or the challenge closed
                log.info("challenge_verdict_not_applied", proof_id=str(r["id"]), code=exc.code)
                return
        await self.state.pool.execute(
            "UPDATE challenge_proofs SET verifier_state = $2, verifier_note = $3,"
            " verify_until = NULL WHERE id = $1 AND state = 'pending'",
            r["id"], "unsure" if verdict.decision == "unsure" else "failed", verdict.reason,
        )

    # ---- history, stats and admin views ------------------------------------------------

    async def history(self, user_id: str, limit: int = 20) -> list[asyncpg.Record]:
        return list(await self.state.pool.fetch(
            "SELECT * FROM challenges WHERE user_id = $1::uuid AND state <> 'draft'"
            " ORDER BY created_at DESC LIMIT $2", user_id, max(1, min(limit, MAX_LIST)),
        ))

    async def stats(self, user_id: str) -> dict[str, Any]:
        """Success rate over decided challenges, the current and best streak of successes."""
        rows = await self.state.pool.fetch(
            "SELECT state, stake_minor, bonus_minor FROM challenges WHERE user_id = $1::uuid"
            " AND state IN ('succeeded', 'failed') ORDER BY resolved_at DESC, id", user_id,
        )
        won = sum(1 for r in rows if r["state"] == "succeeded")
        current = 0
        for r in rows:
            if r["state"] != "succeeded":
                break
            current += 1
        best = run = 0
        for r in reversed(rows):
            run = run + 1 if r["state"] == "succeeded" else 0
            best = max(best, run)
        open_count = await self.state.pool.fetchval(
            "SELECT count(*) FROM challenges WHERE user_id = $1::uuid AND state = 'open'", user_id)
        return {
            "decided": len(rows), "succeeded": won, "failed": len(rows) - won,
            "open": int(open_count),
            "success_rate_bps": (won * 10_000) // len(rows) if rows else None,
            "streak": current, "best_streak": best,
            "forfeited_minor": sum(r["stake_minor"] for r in rows if r["state"] == "failed"),
            "bonus_minor": sum(r["bonus_minor"] for r in rows),
        }

    async def proofs_of(self, challenge_id: Any) -> list[asyncpg.Record]:
        return list(await self.state.pool.fetch(
            "SELECT * FROM challenge_proofs WHERE challenge_id = $1 ORDER BY received_at",
            challenge_id))

    async def reminders_of(self, challenge_id: Any) -> list[asyncpg.Record]:
        return list(await self.state.pool.fetch(
            "SELECT * FROM challenge_reminders WHERE challenge_id = $1 ORDER BY due_at",
            challenge_id))


CHALLENGES: Slot[ChallengeService] = Slot("challenges", ChallengeService)


def service(state: AppState) -> ChallengeService:
    return state.need(CHALLENGES)


def _void(row: asyncpg.Record, why: str, code: str) -> TransferRequest:
    assert row["hold_id"] is not None
    return TransferRequest(
        id=transfer_id(row["id"], why), debit="", credit="", amount_minor=0, currency="",
        kind=TransferKind.VOID, pending_id=row["hold_id"], code=code,
    )


def _message(row: asyncpg.Record, kind: str, text: str, extra: str = "") -> OutboxMessage:
    return OutboxMessage(
        transfer_id(row["id"], kind, extra) if extra else transfer_id(row["id"], kind),
        "whatsapp", str(row["user_id"]), kind,
        {"challenge_id": str(row["id"]), "text": text},
    )


def _tz(row: asyncpg.Record) -> ZoneInfo:
    return zone_of(row["time_zone"], "UTC")


def _uuid(value: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise ChallengeError("challenge_not_found", "That challenge could not be found.",
                             404) from exc


def options_of(row: asyncpg.Record) -> list[datetime]:
    raw = row["options"]
    return [datetime.fromisoformat(str(o)) for o in raw or []]


def duration_text(seconds: int) -> str:
    """'2 h 5 min', '10 min', '30 days' for a player."""
    if seconds >= 2 * 86_400 and seconds % 86_400 == 0:
        return f"{seconds // 86_400} days"
    hours, rest = divmod(max(0, seconds), 3600)
    minutes = rest // 60
    if hours and minutes:
        return f"{hours} h {minutes} min"
    if hours:
        return f"{hours} h"
    return f"{max(minutes, 1)} min"


def public(row: asyncpg.Record, settings: ChallengeSettings) -> dict[str, Any]:
    """A challenge as its player's client sees it."""
    cancel_until = None
    if row["state"] == "open" and row["confirmed_at"] is not None:
        cancel_until = (row["confirmed_at"] + timedelta(seconds=settings.cooling_off_s)).isoformat()
    return {
        "id": str(row["id"]), "goal": row["goal"], "state": row["state"],
        "stake_minor": row["stake_minor"], "currency": row["currency"],
        "time_zone": row["time_zone"],
        "deadline_at": row["deadline_at"].isoformat() if row["deadline_at"] else None,
        "options": [o.isoformat() for o in options_of(row)],
        "created_at": row["created_at"].isoformat(),
        "confirmed_at": row["confirmed_at"].isoformat() if row["confirmed_at"] else None,
        "cancel_until": cancel_until,
        "resolved_at": row["resolved_at"].isoformat() if row["resolved_at"] else None,
        "outcome_reason": row["outcome_reason"], "bonus_minor": row["bonus_minor"],
        "forfeit_to": row["forfeit_to"], "source": row["source"],
    }


def public_proof(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(row["id"]), "challenge_id": str(row["challenge_id"]), "media": row["media"],
        "content_type": row["content_type"], "size_bytes": row["size_bytes"],
        "received_at": row["received_at"].isoformat(), "state": row["state"],
        "verifier": row["verifier"], "verifier_state": row["verifier_state"],
        "reason": row["reason"],
        "decided_at": row["decided_at"].isoformat() if row["decided_at"] else None,
    }
