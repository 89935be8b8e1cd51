"""Random operation sequences against a simple in-memory model of the ledger (hypothesis)."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from ledger import (
    AccountKind,
    HoldAlreadyResolved,
    IdempotencyConflict,
    InsufficientFunds,
    Ledger,
    Transfer,
    TransferKind,
    TransferRequest,
)
from server.db import create_pool
from server.migrate import migrate

T = TypeVar("T")
AMOUNTS = st.integers(min_value=1, max_value=2_000)


@dataclass
class Account:
    owner: str
    floor: int | None
    posted: int = 0
    pending_debits: int = 0
    pending_credits: int = 0

    @property
    def available(self) -> int:
        return self.posted - self.pending_debits

    def can_spend(self, amount: int) -> bool:
        return self.floor is None or self.available - amount >= self.floor


@dataclass
class Hold:
    id: uuid.UUID
    debit: Account
    credit: Account
    amount: int
    resolved: bool = False


class LedgerModel(RuleBasedStateMachine):
    """Each example gets its own currency, so its accounts start empty."""

    runner: asyncio.Runner
    ledger: Ledger

    def __init__(self) -> None:
        super().__init__()
        self.currency = "T" + uuid.uuid4().hex[:10].upper()
        self.world = Account("world", None)
        self.house = Account("house", None)
        self.users = [Account(f"user:{uuid.uuid4()}", 0) for _ in range(3)]
        self.holds: list[Hold] = []
        self.done: list[tuple[TransferRequest, Transfer]] = []

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coro)

    @property
    def accounts(self) -> list[Account]:
        return [self.world, self.house, *self.users]

    def _req(self, debit: Account, credit: Account, amount: int, **kw: Any) -> TransferRequest:
        return TransferRequest(id=uuid.uuid4(), debit=debit.owner, credit=credit.owner,
                               amount_minor=amount, currency=self.currency, **kw)

    def _commit(self, r: TransferRequest) -> None:
        self.done.append((r, self.run(self.ledger.transfer(r))))

    @initialize(amounts=st.lists(AMOUNTS, min_size=3, max_size=3))
    def fund(self, amounts: list[int]) -> None:
        for user, amount in zip(self.users, amounts, strict=True):
            self.deposit(user, amount)

    def deposit(self, user: Account, amount: int) -> None:
        self._commit(self._req(self.world, user, amount, code="deposit"))
        self.world.posted -= amount
        user.posted += amount

    @rule(i=st.integers(0, 2), amount=AMOUNTS)
    def top_up(self, i: int, amount: int) -> None:
        self.deposit(self.users[i], amount)

    @rule(floor=st.integers(-1_000, 0))
    def open_account(self, floor: int) -> None:
        owner = f"user:{uuid.uuid4()}"
        self.run(self.ledger.open_account(owner, self.currency, kind=AccountKind.USER,
                                          floor_minor=floor))
        self.users.append(Account(owner, floor))

    @rule(data=st.data(), amount=AMOUNTS)
    def transfer(self, data: st.DataObject, amount: int) -> None:
        src = data.draw(st.sampled_from(self.users))
        dst = data.draw(st.sampled_from([a for a in self.accounts if a is not src]))
        r = self._req(src, dst, amount)
        if not src.can_spend(amount):
            with pytest.raises(InsufficientFunds):
                self.run(self.ledger.transfer(r))
            return
        self._commit(r)
        src.posted -= amount
        dst.posted += amount

    @rule(data=st.data(), amount=AMOUNTS)
    def hold(self, data: st.DataObject, amount: int) -> None:
        src = data.draw(st.sampled_from(self.users))
        dst = data.draw(st.sampled_from([a for a in self.accounts if a is not src]))
        r = self._req(src, dst, amount, kind=TransferKind.PENDING, timeout_s=3600, code="stake")
        if not src.can_spend(amount):
            with pytest.raises(InsufficientFunds):
                self.run(self.ledger.transfer(r))
            return
        self._commit(r)
        src.pending_debits += amount
        dst.pending_credits += amount
        self.holds.append(Hold(r.id, src, dst, amount))

    @precondition(lambda self: bool(self.holds))
    @rule(data=st.data(), part=st.none() | st.floats(0.01, 1.0))
    def post(self, data: st.DataObject, part: float | None) -> None:
        h = data.draw(st.sampled_from(self.holds))
        amount = None if part is None else max(1, int(h.amount * part))
        if h.resolved:
            with pytest.raises(HoldAlreadyResolved):
                self.run(self.ledger.post(uuid.uuid4(), h.id, amount))
            return
        t = self.run(self.ledger.post(uuid.uuid4(), h.id, amount))
        assert t.amount_minor == (amount or h.amount)
        h.resolved = True
        h.debit.pending_debits -= h.amount
        h.credit.pending_credits -= h.amount
        h.debit.posted -= t.amount_minor
        h.credit.posted += t.amount_minor

    @precondition(lambda self: bool(self.holds))
    @rule(data=st.data())
    def void(self, data: st.DataObject) -> None:
        h = data.draw(st.sampled_from(self.holds))
        if h.resolved:
            with pytest.raises(HoldAlreadyResolved):
                self.run(self.ledger.void(uuid.uuid4(), h.id))
            return
        t = self.run(self.ledger.void(uuid.uuid4(), h.id))
        assert t.amount_minor == h.amount
        h.resolved = True
        h.debit.pending_debits -= h.amount
        h.credit.pending_credits -= h.amount

    @precondition(lambda self: bool(self.done))
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        r, first = data.draw(st.sampled_from(self.done))
        again = self.run(self.ledger.transfer(r))
        # The first result, except that a hold reports whether it has been resolved since.
        resolved = any(h.resolved for h in self.holds if h.id == r.id)
        assert again == dataclasses.replace(first, resolved=resolved)

    @precondition(lambda self: bool(self.done))
    @rule(data=st.data())
    def conflicting_replay(self, data: st.DataObject) -> None:
        r, _ = data.draw(st.sampled_from(self.done))
        if r.kind in (TransferKind.POST, TransferKind.VOID):
            return
        other = TransferRequest(id=r.id, debit=r.debit, credit=r.credit,
                                amount_minor=r.amount_minor + 1, currency=r.currency,
                                kind=r.kind, timeout_s=r.timeout_s)
        with pytest.raises(IdempotencyConflict):
            self.run(self.ledger.transfer(other))

    @rule(data=st.data(), size=st.integers(1, 4))
    def batch(self, data: st.DataObject, size: int) -> None:
        moves = []
        for _ in range(size):
            src = data.draw(st.sampled_from(self.users))
            dst = data.draw(st.sampled_from([a for a in self.accounts if a is not src]))
            moves.append((src, dst, data.draw(AMOUNTS)))
        # Apply to a scratch copy in order; commit to the model only if every step fits.
        scratch = {id(a): a.posted for a in self.accounts}
        fits = True
        for src, dst, amount in moves:
            if src.floor is not None and scratch[id(src)] - src.pending_debits - amount < src.floor:
                fits = False
            scratch[id(src)] -= amount
            scratch[id(dst)] += amount
        reqs = [self._req(s, d, a) for s, d, a in moves]
        if not fits:
            with pytest.raises(InsufficientFunds):
                self.run(self.ledger.batch(reqs))
            for r in reqs:
                assert self.run(self.ledger.get_transfer(r.id)) is None
            return
        results = self.run(self.ledger.batch(reqs))
        self.done.extend(zip(reqs, results, strict=True))
        for a in self.accounts:
            a.posted = scratch[id(a)]

    @rule(data=st.data(), size=st.integers(1, 6))
    def settle_batch(self, data: st.DataObject, size: int) -> None:
        """A linked batch mixing singles, new holds, posts and voids, as a settlement sends.

        Posts and voids sometimes spell out the hold's accounts, currency and amount and
        sometimes leave them to the hold; a hold may be one already resolved, or resolved
        twice in the batch. The model applies the items in order on a scratch copy: the first
        item that fails must fail the batch with its error and change nothing.
        """
        state = {id(a): (a.posted, a.pending_debits, a.pending_credits) for a in self.accounts}
        resolved = {h.id for h in self.holds if h.resolved}
        reqs: list[TransferRequest] = []
        new_holds: list[Hold] = []
        posted_holds: list[Hold] = []
        error: type[Exception] | None = None
        for _ in range(size):
            kinds = ["single", "pending"] + (["post", "void"] if self.holds else [])
            kind = data.draw(st.sampled_from(kinds))
            if kind in ("single", "pending"):
                src = data.draw(st.sampled_from(self.users))
                dst = data.draw(st.sampled_from([a for a in self.accounts if a is not src]))
                amount = data.draw(AMOUNTS)
                posted, pd, pc = state[id(src)]
                if error is None and src.floor is not None and posted - pd - amount < src.floor:
                    error = InsufficientFunds
                if kind == "single":
                    reqs.append(self._req(src, dst, amount))
                    state[id(src)] = (posted - amount, pd, pc)
                    d_posted, d_pd, d_pc = state[id(dst)]
                    state[id(dst)] = (d_posted + amount, d_pd, d_pc)
                else:
                    r = self._req(src, dst, amount, kind=TransferKind.PENDING, timeout_s=3600,
                                  code="stake")
                    reqs.append(r)
                    state[id(src)] = (posted, pd + amount, pc)
                    d_posted, d_pd, d_pc = state[id(dst)]
                    state[id(dst)] = (d_posted, d_pd, d_pc + amount)
                    new_holds.append(Hold(r.id, src, dst, amount))
                continue
            h = data.draw(st.sampled_from(self.holds))
            named = data.draw(st.booleans())
            if kind == "post":
                part = data.draw(st.none() | st.floats(0.01, 1.0))
                amount = h.amount if part is None else max(1, int(h.amount * part))
                asked = amount if named or part is not None else 0
            else:
                amount = 0
                asked = h.amount if named else 0
            reqs.append(TransferRequest(
                id=uuid.uuid4(), debit=h.debit.owner if named else "",
                credit=h.credit.owner if named else "", amount_minor=asked,
                currency=self.currency if named else "",
                kind=TransferKind.POST if kind == "post" else TransferKind.VOID,
                pending_id=h.id, code="settle"))
            if h.id in resolved:
                error = error or HoldAlreadyResolved
                continue
            resolved.add(h.id)
            posted_holds.append(h)
            d_posted, d_pd, d_pc = state[id(h.debit)]
            state[id(h.debit)] = (d_posted - amount, d_pd - h.amount, d_pc)
            c_posted, c_pd, c_pc = state[id(h.credit)]
            state[id(h.credit)] = (c_posted + amount, c_pd, c_pc - h.amount)
        if error is not None:
            with pytest.raises(error):
                self.run(self.ledger.batch(reqs))
            for r in reqs:
                assert self.run(self.ledger.get_transfer(r.id)) is None
            return
        results = self.run(self.ledger.batch(reqs))
        for r, t in zip(reqs, results, strict=True):
            # What the batch answered is what is stored (whichever path wrote it).
            assert self.run(self.ledger.get_transfer(r.id)) == t
            assert (t.kind, t.pending_id) == (r.kind, r.pending_id)
        self.done.extend(zip(reqs, results, strict=True))
        for a in self.accounts:
            a.posted, a.pending_debits, a.pending_credits = state[id(a)]
        for h in posted_holds:
            h.resolved = True
        self.holds.extend(new_holds)

    @invariant()
    def balances_match_the_model(self) -> None:
        for a in self.accounts:
            got = self.run(self.ledger.balance(a.owner, self.currency))
            assert (got.posted_minor, got.pending_debits_minor, got.pending_credits_minor) == (
                a.posted, a.pending_debits, a.pending_credits), a.owner
        assert sum(a.posted for a in self.accounts) == 0


async def _migrate(pool: Any) -> None:
    async with pool.acquire() as conn:
        await migrate(conn)


def test_random_operations_match_the_model(test_services: Any) -> None:
    with asyncio.Runner() as runner:
        pool = runner.run(create_pool(test_services.database_url, min_size=1, max_size=4))
        try:
            runner.run(_migrate(pool))
            ledger = Ledger(pool)
            LedgerModel.runner = runner
            LedgerModel.ledger = ledger
            run_state_machine_as_test(LedgerModel, settings=settings(
                max_examples=80, stateful_step_count=20, deadline=None,
                suppress_health_check=list(HealthCheck),
            ))
            runner.run(ledger.check_invariants())
        finally:
            runner.run(pool.close())
