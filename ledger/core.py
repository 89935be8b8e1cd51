"""The Ledger: the async API every other part of Matchpot moves money through."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import structlog

from ledger import outbox as outbox_mod
from ledger.accounts import ESCROW_PREFIX, USER_PREFIX
from ledger.errors import (
    ERRORS_BY_CODE,
    InvalidTransfer,
    LedgerBusy,
    LedgerError,
)
from ledger.group_commit import Coalescer
from ledger.invariants import DEFAULT_EXPIRY_GRACE_S, check_invariants
from ledger.rows import (
    APPLY_METAS,
    APPLY_SQL,
    LOCK_SQL,
    TRANSFER_COLUMNS,
    TRANSFER_JOINS,
    Conn,
    apply_args,
    lock_args,
    transfer_from_row,
    transfers_from_requests,
    wire_args,
)
from ledger.types import (
    AccountKind,
    Balance,
    OutboxMessage,
    Transfer,
    TransferKind,
    TransferRequest,
    transfer_id,
)
from ledger.validate import MAX_APPLY_ITEMS, check_batch, check_currency, check_owner

log = structlog.get_logger(__name__)

OnCommit = Callable[[Sequence[Transfer]], None]
Clock = Callable[[], datetime]

MAX_DB_RETRIES = 8  # deadlock / serialization failures retried with the same ids
MAX_GROUP_RETRIES = 3  # a group that raced a concurrent insert of its own id
MAX_RERUNS = 2  # a job whose call failed without a known outcome is run again to learn it
MAX_HISTORY_LIMIT = 500
MAX_SWEEP_LIMIT = 10_000
SWEEP_CHUNK = 200
NOTIFY_WAIT_S = 30.0  # apply(): how long to wait for the caller's transaction to end
NOTIFY_POLL_S = 0.002
RETRYABLE = (asyncpg.exceptions.DeadlockDetectedError, asyncpg.exceptions.SerializationError)


def auto_floor(owner: str) -> int | None:
    """The floor an account gets when created on first use: users and escrows cannot go negative."""
    return 0 if owner.startswith((USER_PREFIX, ESCROW_PREFIX)) else None


class _RaceLost(Exception):
    """A concurrent transaction inserted the same transfer id first: run again to replay it."""


@dataclass
class _Job:
    reqs: list[TransferRequest]
    future: asyncio.Future[list[Transfer]]
    attempts: int = 0  # re-runs after losing a race on its own id
    reruns: int = 0  # re-runs after a failed shared call
    # A call that carried this job failed without telling whether it committed: its replays
    # may be this job's own commit, which nobody has reported to on_commit yet.
    maybe_committed: bool = False


@dataclass
class _Outcome:
    transfers: list[Transfer] = field(default_factory=list)
    new: list[Transfer] = field(default_factory=list)
    replayed: list[Transfer] = field(default_factory=list)
    error: str | None = None  # "code|message" of the item that failed the group


def _raise_for(error: str) -> None:
    code, _, message = error.partition("|")
    raise ERRORS_BY_CODE.get(code, LedgerError)(message)


def _outcome_unknown(exc: BaseException) -> bool:
    """Whether a failed autocommit call may still have committed.

    If the server answered with an error, the call rolled back. A lost connection, a
    cancellation or a failure in our own code after the call leaves it unknown.
    """
    if isinstance(exc, LedgerBusy):
        return False  # raised only after every attempt was answered with a deadlock
    if isinstance(exc, asyncpg.PostgresConnectionError):
        return True
    return not isinstance(exc, asyncpg.PostgresError)


def _outcomes(
    rows: Sequence[asyncpg.Record], groups: Sequence[Sequence[TransferRequest]],
    metas: Sequence[str],
) -> list[_Outcome]:
    """Each group's outcome from ledger_apply's answer to the call that carried `groups`.

    The answer is one row per item, or a single 'fast' row: every item of the call was a new
    transfer written as requested at that row's t_created_at (`metas`: the items' meta JSON,
    as sent).
    """
    if len(rows) == 1 and rows[0]["status"] == "fast":
        created_at = rows[0]["t_created_at"]
        out = []
        pos = 0
        for g in groups:
            made = transfers_from_requests(g, metas[pos : pos + len(g)], created_at)
            out.append(_Outcome(transfers=made, new=list(made)))
            pos += len(g)
        return out
    assert len(rows) == sum(len(g) for g in groups), "ledger_apply returns one row per item"
    out = []
    pos = 0
    for g in groups:
        outcome = _Outcome()
        for row in rows[pos : pos + len(g)]:
            status = row["status"]
            if status == "error":
                outcome.error = row["err"]
            elif status in ("new", "replay"):
                t = transfer_from_row(row)
                outcome.transfers.append(t)
                (outcome.new if status == "new" else outcome.replayed).append(t)
        if outcome.error is not None:
            outcome.transfers.clear()
            outcome.new.clear()
            outcome.replayed.clear()
        pos += len(g)
        out.append(outcome)
    return out


class Ledger:
    """Double-entry ledger on Postgres: accounts, transfers, holds, linked batches, the outbox.

    Concurrent `transfer()`/`batch()` calls are coalesced into shared round trips (group
    commit) without changing their all-or-nothing meaning. `clock` (tests inject one) decides
    hold expiry; by default the database's `now()` does.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        on_commit: OnCommit | None = None,
        clock: Clock | None = None,
        max_inflight: int | None = None,
        max_chunk_items: int = 1000,
        max_queued_jobs: int = 100_000,
        rng: random.Random | None = None,
    ) -> None:
        self._pool = pool
        self._on_commit = on_commit
        self._clock = clock
        self._rng = rng or random.Random()
        if max_inflight is None:
            max_inflight = max(1, min(4, pool.get_max_size() // 2))
        self._max_chunk_items = max_chunk_items
        self._coalescer: Coalescer[_Job] = Coalescer(
            self._flush, size=lambda j: len(j.reqs), max_inflight=max_inflight,
            max_chunk_items=max_chunk_items, max_queued_jobs=max_queued_jobs,
            abandon=self._abandon,
        )
        self._background: set[asyncio.Task[None]] = set()

    # ---- accounts and reads -------------------------------------------------------------

    async def open_account(
        self, owner: str, currency: str, *, kind: AccountKind, floor_minor: int | None = 0
    ) -> Balance:
        """Create the account if it does not exist (an existing one keeps its settings)."""
        check_owner(owner)
        check_currency(currency)
        kind = AccountKind(kind)
        if floor_minor is not None and floor_minor > 0:
            raise InvalidTransfer("floor_minor must be <= 0 or None (no floor)")
        await self._pool.execute(
            "INSERT INTO accounts (owner, currency, kind, floor_minor) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (owner, currency) DO NOTHING",
            owner, currency, kind.value, floor_minor,
        )
        return await self.balance(owner, currency)

    async def balance(self, owner: str, currency: str) -> Balance:
        """The account's position; an account never used reads as empty."""
        row = await self._pool.fetchrow(
            "SELECT credits_posted - debits_posted AS posted, debits_pending, credits_pending,"
            " floor_minor FROM accounts WHERE owner = $1 AND currency = $2",
            owner, currency,
        )
        if row is None:
            return Balance(owner, currency, 0, 0, 0, auto_floor(owner))
        return Balance(
            owner, currency, row["posted"], row["debits_pending"], row["credits_pending"],
            row["floor_minor"],
        )

    async def balances(self, owner: str) -> list[Balance]:
        """Every currency the owner has an account in, by currency."""
        rows = await self._pool.fetch(
            "SELECT currency, credits_posted - debits_posted AS posted, debits_pending,"
            " credits_pending, floor_minor FROM accounts WHERE owner = $1 ORDER BY currency",
            owner,
        )
        return [
            Balance(owner, r["currency"], r["posted"], r["debits_pending"],
                    r["credits_pending"], r["floor_minor"])
            for r in rows
        ]

    async def balances_of(self, owners: Sequence[str]) -> dict[str, list[Balance]]:
        """`balances()` of many owners in one read; an owner without accounts maps to []."""
        assert len(owners) <= MAX_SWEEP_LIMIT, "a bounded read"
        out: dict[str, list[Balance]] = {o: [] for o in owners}
        if not owners:
            return out
        rows = await self._pool.fetch(
            "SELECT owner, currency, credits_posted - debits_posted AS posted, debits_pending,"
            " credits_pending, floor_minor FROM accounts WHERE owner = ANY($1::text[])"
            " ORDER BY owner, currency",
            list(out),
        )
        for r in rows:
            out[r["owner"]].append(Balance(
                r["owner"], r["currency"], r["posted"], r["debits_pending"],
                r["credits_pending"], r["floor_minor"]))
        return out

    async def history(
        self, owner: str, currency: str, *, limit: int = 50, before: int | None = None
    ) -> tuple[list[Transfer], int | None]:
        """Newest first; pass the returned cursor as `before` for the next page (None: no more)."""
        if not 1 <= limit <= MAX_HISTORY_LIMIT:
            raise InvalidTransfer(f"limit must be 1..{MAX_HISTORY_LIMIT}")
        account_id = await self._pool.fetchval(
            "SELECT id FROM accounts WHERE owner = $1 AND currency = $2", owner, currency
        )
        if account_id is None:
            return [], None
        rows = await self._pool.fetch(
            f"SELECT {TRANSFER_COLUMNS} FROM ("
            " (SELECT * FROM transfers WHERE debit_account_id = $1"
            "   AND ($2::bigint IS NULL OR seq < $2) ORDER BY seq DESC LIMIT $3)"
            " UNION ALL"
            " (SELECT * FROM transfers WHERE credit_account_id = $1"
            "   AND ($2::bigint IS NULL OR seq < $2) ORDER BY seq DESC LIMIT $3)"
            f") t {TRANSFER_JOINS} ORDER BY t.seq DESC LIMIT $3",
            account_id, before, limit + 1,
        )
        page = [transfer_from_row(r) for r in rows[:limit]]
        cursor = rows[limit - 1]["t_seq"] if len(rows) > limit else None
        return page, cursor

    async def get_transfer(self, id: uuid.UUID) -> Transfer | None:
        row = await self._pool.fetchrow(
            f"SELECT {TRANSFER_COLUMNS} FROM transfers t {TRANSFER_JOINS} WHERE t.id = $1", id
        )
        return None if row is None else transfer_from_row(row)

    async def get_transfers(self, ids: Sequence[uuid.UUID]) -> list[Transfer]:
        """The transfers of `ids` that exist, in one read (in no particular order)."""
        if not ids:
            return []
        assert len(ids) <= MAX_SWEEP_LIMIT, "a bounded read"
        rows = await self._pool.fetch(
            f"SELECT {TRANSFER_COLUMNS} FROM transfers t {TRANSFER_JOINS}"
            " WHERE t.id = ANY($1::uuid[])", list(ids),
        )
        return [transfer_from_row(r) for r in rows]

    # ---- moving money ---------------------------------------------------------------------

    async def transfer(
        self, req: TransferRequest, *, outbox: Sequence[OutboxMessage] = ()
    ) -> Transfer:
        """Commit one transfer (or return the first result of the same id and content)."""
        return (await self.batch([req], outbox=outbox))[0]

    async def batch(
        self, reqs: Sequence[TransferRequest], *, outbox: Sequence[OutboxMessage] = ()
    ) -> list[Transfer]:
        """Commit linked transfers: all of them or none; `outbox` rows commit with them."""
        reqs = list(reqs)
        check_batch(reqs)
        if outbox:
            return await self._batch_with_outbox(reqs, outbox)
        job = _Job(reqs, asyncio.get_running_loop().create_future())
        await self._coalescer.submit(job)
        return await job.future

    async def apply(
        self,
        conn: Conn,
        reqs: Sequence[TransferRequest],
        *,
        outbox: Sequence[OutboxMessage] = (),
    ) -> list[Transfer]:
        """Like batch(), inside the caller's open transaction on `conn`; up to MAX_APPLY_ITEMS.

        The caller commits (or rolls back) its own rows together with the money. The ledger's
        part runs in a savepoint, so a deadlock (or a lost race on an id) is retried with the
        same ids without disturbing the caller's transaction; after MAX_DB_RETRIES it raises
        LedgerBusy. A batch larger than one call first locks every account it touches in one
        sorted statement, then applies chunk by chunk: its lock order stays global, so it
        cannot deadlock with a concurrent transfer. A business error rolls back the savepoint
        (every chunk) and raises; the caller's transaction stays usable.
        on_commit runs once the caller's transaction has ended and the transfers exist.
        """
        reqs = list(reqs)
        check_batch(reqs, max_items=MAX_APPLY_ITEMS)
        assert conn.is_in_transaction(), "apply() runs inside the caller's transaction"
        for attempt in range(MAX_DB_RETRIES):
            try:
                async with conn.transaction():  # a savepoint inside the caller's transaction
                    if outbox:  # first: the accounts' row locks are then held for less
                        await outbox_mod.enqueue(conn, outbox)
                    outcome = await self._apply_linked(conn, reqs)
            except (*RETRYABLE, _RaceLost):
                log.info("ledger_apply_retry", attempt=attempt)
                await asyncio.sleep(self._rng.uniform(0, 0.002 * 2**attempt))
                continue
            if outcome.new and self._on_commit is not None:
                task = asyncio.get_running_loop().create_task(
                    self._notify_after(conn, outcome.new)
                )
                self._background.add(task)
                task.add_done_callback(self._background.discard)
            return outcome.transfers
        raise LedgerBusy(f"gave up after {MAX_DB_RETRIES} deadlocks or lost races")

    async def _apply_linked(self, conn: Conn, reqs: list[TransferRequest]) -> _Outcome:
        """All of `reqs` as one linked group, in chunks of at most max_chunk_items per call.

        Raises the group's error (the caller's savepoint then undoes every chunk) or _RaceLost.
        """
        chunk = self._max_chunk_items
        if len(reqs) > chunk:
            await conn.execute(LOCK_SQL, *lock_args(reqs))
        total = _Outcome()
        for start in range(0, len(reqs), chunk):
            (outcome,) = await self._apply_groups(
                conn, [reqs[start : start + chunk]], allow_expired=False
            )
            if outcome.error is not None and outcome.error.startswith("retry|"):
                raise _RaceLost(outcome.error)
            if outcome.error is not None:
                _raise_for(outcome.error)
            total.transfers.extend(outcome.transfers)
            total.new.extend(outcome.new)
            total.replayed.extend(outcome.replayed)
        return total

    async def hold(
        self,
        id: uuid.UUID,
        debit: str,
        credit: str,
        amount_minor: int,
        currency: str,
        *,
        timeout_s: int,
        code: str,
        meta: dict[str, Any] | None = None,
    ) -> Transfer:
        """Reserve `amount_minor` of `debit` for `credit` until posted, voided or expired."""
        return await self.transfer(TransferRequest(
            id=id, debit=debit, credit=credit, amount_minor=amount_minor, currency=currency,
            kind=TransferKind.PENDING, timeout_s=timeout_s, code=code, meta=meta or {},
        ))

    async def post(
        self, id: uuid.UUID, pending_id: uuid.UUID, amount_minor: int | None = None, *,
        code: str = "post",
    ) -> Transfer:
        """Complete a hold: all of it, or `amount_minor` of it (the rest is released)."""
        if amount_minor is not None and (
            not isinstance(amount_minor, int) or isinstance(amount_minor, bool) or amount_minor <= 0
        ):
            raise InvalidTransfer("amount_minor must be a positive integer (or None: all)")
        return await self.transfer(TransferRequest(
            id=id, debit="", credit="", amount_minor=amount_minor or 0, currency="",
            kind=TransferKind.POST, pending_id=pending_id, code=code,
        ))

    async def void(self, id: uuid.UUID, pending_id: uuid.UUID, *, code: str = "void") -> Transfer:
        """Cancel a hold: the whole amount becomes available to the debit account again."""
        return await self.transfer(TransferRequest(
            id=id, debit="", credit="", amount_minor=0, currency="",
            kind=TransferKind.VOID, pending_id=pending_id, code=code,
        ))

    async def sweep_expired_holds(self, *, limit: int = 1000) -> int:
        """Void up to `limit` holds past their expiry; returns how many this call voided.

        Void ids are derived from the hold (transfer_id(hold_id, "expire")), so two nodes
        sweeping at once void each hold once and the other sees a replay.
        """
        if not 1 <= limit <= MAX_SWEEP_LIMIT:
            raise InvalidTransfer(f"limit must be 1..{MAX_SWEEP_LIMIT}")
        hold_ids = await self._pool.fetch(
            "SELECT id FROM transfers WHERE kind = 'pending' AND resolved_at IS NULL"
            " AND expires_at <= coalesce($1::timestamptz, now()) ORDER BY expires_at LIMIT $2",
            self._now(), limit,
        )
        voided: list[Transfer] = []
        for start in range(0, len(hold_ids), SWEEP_CHUNK):
            groups = [
                [TransferRequest(
                    id=transfer_id(r["id"], "expire"), debit="", credit="", amount_minor=0,
                    currency="", kind=TransferKind.VOID, pending_id=r["id"], code="expire",
                )]
                for r in hold_ids[start : start + SWEEP_CHUNK]
            ]
            outcomes = await self._run_with_retry(groups, allow_expired=True)
            for outcome in outcomes:
                voided.extend(outcome.new)  # an error here is a hold resolved meanwhile
        self._notify(voided)
        return len(voided)

    async def check_invariants(self, *, expiry_grace_s: float = DEFAULT_EXPIRY_GRACE_S) -> None:
        """Raise InvariantViolation if the books are inconsistent (see docs/ledger.md)."""
        async with self._pool.acquire() as conn:
            await check_invariants(conn, now=self._now(), expiry_grace_s=expiry_grace_s)

    # ---- internals ------------------------------------------------------------------------

    def _now(self) -> datetime | None:
        return None if self._clock is None else self._clock()

    async def _apply_groups(
        self, conn: Conn, groups: Sequence[Sequence[TransferRequest]], *,
        allow_expired: bool,
    ) -> list[_Outcome]:
        args = apply_args(groups, self._now(), allow_expired)
        rows = await conn.fetch(APPLY_SQL, *wire_args(args))
        return _outcomes(rows, groups, args[APPLY_METAS])

    async def _run_with_retry(
        self, groups: Sequence[Sequence[TransferRequest]], *, allow_expired: bool
    ) -> list[_Outcome]:
        """One autocommit call of ledger_apply; deadlocks are retried with the same ids."""
        for attempt in range(MAX_DB_RETRIES):
            try:
                async with self._pool.acquire() as conn:
                    return await self._apply_groups(conn, groups, allow_expired=allow_expired)
            except RETRYABLE:
                log.info("ledger_retry", attempt=attempt)
                await asyncio.sleep(self._rng.uniform(0, 0.002 * 2**attempt))
        raise LedgerBusy(f"gave up after {MAX_DB_RETRIES} deadlocks or serialization failures")

    async def _flush(self, jobs: list[_Job]) -> list[_Job]:
        """Run queued jobs in one call; settle their futures; return the jobs to run again."""
        groups = [j.reqs for j in jobs]
        try:
            outcomes = await self._run_with_retry(groups, allow_expired=False)
        except Exception as exc:
            unknown = _outcome_unknown(exc)
            if unknown:
                for job in jobs:
                    job.maybe_committed = True
            if len(jobs) > 1 or (unknown and jobs[0].reruns < MAX_RERUNS):
                # Run each job alone: that isolates a job that broke the shared call, and
                # after an unknown outcome it tells each caller what is in the books.
                again: list[_Job] = []
                for job in jobs:
                    job.reruns += 1
                    again.extend(await self._flush([job]))
                return again
            if not jobs[0].future.done():
                jobs[0].future.set_exception(exc)
            return []
        again = []
        committed: list[Transfer] = []
        for job, outcome in zip(jobs, outcomes, strict=True):
            if outcome.error is not None and outcome.error.startswith("retry|"):
                job.attempts += 1
                if job.attempts <= MAX_GROUP_RETRIES:
                    again.append(job)
                    continue
                outcome.error = "ledger_busy|" + outcome.error.partition("|")[2]
            committed.extend(outcome.new)
            if job.maybe_committed:
                # Possibly committed by the failed call and never reported: report it now.
                # (A replay of an older commit is then reported twice; on_commit consumers
                # must tolerate that rare repeat, never a loss.)
                committed.extend(outcome.replayed)
            if job.future.done():
                continue  # the caller was cancelled; the transfers stand regardless
            if outcome.error is not None:
                try:
                    _raise_for(outcome.error)
                except LedgerError as err:
                    job.future.set_exception(err)
            else:
                job.future.set_result(outcome.transfers)
        self._notify(committed)
        return again

    def _abandon(self, jobs: Sequence[_Job], exc: BaseException | None) -> None:
        """A flush ended without settling these jobs (it was cancelled or crashed).

        Their callers must not wait for ever: they get LedgerBusy, and retrying with the same
        ids is safe whether or not the interrupted call committed (it then replays).
        """
        if exc is not None:
            log.error("ledger_flush_failed", jobs=len(jobs), error=repr(exc))
        for job in jobs:
            if not job.future.done():
                job.future.set_exception(LedgerBusy(
                    "the ledger call was interrupted before its outcome was known;"
                    " retry with the same ids"
                ))

    async def _batch_with_outbox(
        self, reqs: list[TransferRequest], outbox: Sequence[OutboxMessage]
    ) -> list[Transfer]:
        for attempt in range(MAX_DB_RETRIES):
            try:
                async with self._pool.acquire() as conn, conn.transaction():
                    (outcome,) = await self._apply_groups(conn, [reqs], allow_expired=False)
                    if outcome.error is not None and outcome.error.startswith("retry|"):
                        raise _RaceLost(outcome.error)
                    if outcome.error is not None:
                        _raise_for(outcome.error)  # rolls back, outbox rows included
                    await outbox_mod.enqueue(conn, outbox)
            except (*RETRYABLE, _RaceLost):
                await asyncio.sleep(self._rng.uniform(0, 0.002 * 2**attempt))
                continue
            self._notify(outcome.new)
            return outcome.transfers
        raise LedgerBusy(f"gave up after {MAX_DB_RETRIES} attempts")

    async def _notify_after(self, conn: Conn, transfers: list[Transfer]) -> None:
        """Wait (bounded) for the caller's transaction to end, then report what committed."""
        for _ in range(int(NOTIFY_WAIT_S / NOTIFY_POLL_S)):
            try:
                if not conn.is_in_transaction():
                    break
            except asyncpg.InterfaceError:
                break  # released back to the pool: the caller's transaction is over
            await asyncio.sleep(NOTIFY_POLL_S)
        try:
            rows = await self._pool.fetch(
                "SELECT id FROM transfers WHERE id = ANY($1::uuid[])", [t.id for t in transfers]
            )
        except Exception:
            log.exception("ledger_notify_lookup_failed")
            return
        present = {r["id"] for r in rows}
        self._notify([t for t in transfers if t.id in present])

    def _notify(self, transfers: list[Transfer]) -> None:
        if not transfers or self._on_commit is None:
            return
        try:
            self._on_commit(transfers)
        except Exception:
            log.exception("ledger_on_commit_failed", count=len(transfers))

