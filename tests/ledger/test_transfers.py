"""Single transfers, batches, idempotency and validation: every rule and its error code."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from ledger import (
    AccountKind,
    AccountNotFound,
    DuplicateExtRef,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidTransfer,
    Ledger,
    TransferKind,
    TransferRequest,
    transfer_id,
)
from tests.ledger.helpers import CUR, deposit, new_escrow, new_user, req
from tests.waiting import eventually


async def test_deposit_moves_money_from_world_to_user(ledger: Ledger) -> None:
    user = new_user()
    t = await ledger.transfer(req("world", user, 10_000, code="deposit", meta={"ref": "A1"}))
    assert (t.debit, t.credit, t.amount_minor, t.kind) == ("world", user, 10_000, "single")
    assert t.meta == {"ref": "A1"}
    bal = await ledger.balance(user, CUR)
    assert (bal.posted_minor, bal.available_minor, bal.floor_minor) == (10_000, 10_000, 0)
    assert await ledger.get_transfer(t.id) == t


async def test_user_cannot_spend_more_than_balance(ledger: Ledger) -> None:
    user = new_user()
    await deposit(ledger, user, 500)
    with pytest.raises(InsufficientFunds) as err:
        await ledger.transfer(req(user, "house", 501))
    assert err.value.code == "insufficient_funds"
    assert (await ledger.balance(user, CUR)).posted_minor == 500
    await ledger.transfer(req(user, "house", 500))
    assert (await ledger.balance(user, CUR)).posted_minor == 0


async def test_accounts_without_floor_may_go_negative(ledger: Ledger) -> None:
    before = (await ledger.balance("world", CUR)).posted_minor
    await deposit(ledger, new_user(), 7)
    assert (await ledger.balance("world", CUR)).posted_minor == before - 7


async def test_unknown_account_kind_must_be_opened_first(ledger: Ledger) -> None:
    stranger = f"promo-{uuid.uuid4()}"
    with pytest.raises(AccountNotFound):
        await ledger.transfer(req("world", stranger, 100))
    await ledger.open_account(stranger, CUR, kind=AccountKind.HOUSE, floor_minor=None)
    await ledger.transfer(req("world", stranger, 100))
    assert (await ledger.balance(stranger, CUR)).posted_minor == 100


async def test_open_account_is_idempotent_and_sets_floor(ledger: Ledger) -> None:
    owner = f"user:{uuid.uuid4()}"
    first = await ledger.open_account(owner, CUR, kind=AccountKind.USER, floor_minor=-1_000)
    again = await ledger.open_account(owner, CUR, kind=AccountKind.USER, floor_minor=0)
    assert first.floor_minor == again.floor_minor == -1_000
    await ledger.transfer(req(owner, "house", 1_000))  # a credit line of 10 KES
    with pytest.raises(InsufficientFunds):
        await ledger.transfer(req(owner, "house", 1))


async def test_replay_returns_first_result_and_changes_nothing(ledger: Ledger) -> None:
    user = new_user()
    r = req("world", user, 250, code="deposit")
    first = await ledger.transfer(r)
    again = await ledger.transfer(TransferRequest(**_fields(r)))
    assert again == first
    assert (await ledger.balance(user, CUR)).posted_minor == 250


@pytest.mark.parametrize(
    "change",
    [{"amount_minor": 251}, {"credit": "house"}, {"debit": "clearing:mpesa"},
     {"currency": "USD"}, {"kind": TransferKind.PENDING, "timeout_s": 60}],
)
async def test_same_id_with_other_content_is_a_conflict(
    ledger: Ledger, change: dict[str, Any]
) -> None:
    user = new_user()
    r = req("world", user, 250)
    await ledger.transfer(r)
    with pytest.raises(IdempotencyConflict) as err:
        await ledger.transfer(TransferRequest(**{**_fields(r), **change}))
    assert err.value.code == "idempotency_conflict"
    assert (await ledger.balance(user, CUR)).posted_minor == 250


@pytest.mark.parametrize(
    ("change", "field"),
    [({"ext_ref": "RCPT-other"}, "ext_ref"), ({"ext_ref": None}, "ext_ref"),
     ({"code": "bonus"}, "code"), ({"meta": {"ref": "B2"}}, "meta"), ({"meta": {}}, "meta"),
     ({"amount_minor": 1}, "amount_minor")],
)
async def test_a_replay_must_match_every_field(
    ledger: Ledger, change: dict[str, Any], field: str
) -> None:
    """Like TigerBeetle's exists_with_different_*: the conflict names the field."""
    user = new_user()
    r = req("world", user, 250, code="deposit", meta={"ref": "B1"},
            ext_ref=f"RCPT-{uuid.uuid4().hex[:12]}")
    first = await ledger.transfer(r)
    with pytest.raises(IdempotencyConflict) as err:
        await ledger.transfer(TransferRequest(**{**_fields(r), **change}))
    assert err.value.message.endswith(f"already exists with a different {field}")
    assert await ledger.get_transfer(r.id) == first
    assert (await ledger.balance(user, CUR)).posted_minor == 250


async def test_a_replayed_hold_must_have_the_same_timeout(ledger: Ledger) -> None:
    user, escrow = new_user(), new_escrow()
    await deposit(ledger, user, 500)
    hold_id = uuid.uuid4()
    first = await ledger.hold(hold_id, user, escrow, 300, CUR, timeout_s=60, code="stake")
    assert await ledger.hold(hold_id, user, escrow, 300, CUR, timeout_s=60, code="stake") == first
    with pytest.raises(IdempotencyConflict) as err:
        await ledger.hold(hold_id, user, escrow, 300, CUR, timeout_s=61, code="stake")
    assert err.value.message.endswith("a different timeout_s")
    await ledger.void(uuid.uuid4(), hold_id)


async def test_ext_ref_is_unique_across_transfers(ledger: Ledger) -> None:
    user = new_user()
    receipt = f"MPESA-{uuid.uuid4().hex[:10]}"
    await ledger.transfer(req("clearing:mpesa", user, 100, ext_ref=receipt))
    with pytest.raises(DuplicateExtRef) as err:
        await ledger.transfer(req("clearing:mpesa", user, 100, ext_ref=receipt))
    assert err.value.code == "duplicate_ext_ref"
    assert isinstance(err.value, IdempotencyConflict)
    assert (await ledger.balance(user, CUR)).posted_minor == 100


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"amount_minor": 0}, "positive"),
        ({"amount_minor": -5}, "positive"),
        ({"amount_minor": True}, "integer"),
        ({"amount_minor": 1.5}, "integer"),
        ({"amount_minor": 10**16}, "exceeds"),
        ({"credit": "world"}, "different"),
        ({"currency": "kes"}, "currency"),
        ({"currency": ""}, "currency"),
        ({"debit": ""}, "owner"),
        ({"code": ""}, "code"),
        ({"kind": TransferKind.PENDING}, "timeout_s"),
        ({"timeout_s": 30}, "only for holds"),
        ({"pending_id": uuid.uuid4()}, "pending_id"),
        ({"meta": {"x": object()}}, "JSON"),
        ({"kind": TransferKind.POST}, "pending_id"),
    ],
)
async def test_malformed_request_is_rejected_and_changes_nothing(
    ledger: Ledger, fields: dict[str, Any], message: str
) -> None:
    user = new_user()
    bad = TransferRequest(**{**_fields(req("world", user, 100)), **fields})
    with pytest.raises(InvalidTransfer, match=message) as err:
        await ledger.transfer(bad)
    assert err.value.code == "invalid_transfer"
    assert await ledger.get_transfer(bad.id) is None
    assert await ledger.balances(user) == []


async def test_batch_is_all_or_nothing(ledger: Ledger) -> None:
    a, b, escrow = new_user(), new_user(), new_escrow()
    await deposit(ledger, a, 1_000)
    await deposit(ledger, b, 300)
    stakes = [req(a, escrow, 500), req(b, escrow, 500)]  # b cannot afford it
    with pytest.raises(InsufficientFunds):
        await ledger.batch(stakes)
    assert (await ledger.balance(a, CUR)).posted_minor == 1_000
    assert (await ledger.balance(escrow, CUR)).posted_minor == 0
    for s in stakes:
        assert await ledger.get_transfer(s.id) is None


async def test_batch_items_apply_in_order(ledger: Ledger) -> None:
    a, b = new_user(), new_user()
    # b receives before it spends: fine in this order, refused in the other.
    ok = await ledger.batch([req("world", b, 100), req(b, a, 100)])
    assert [t.amount_minor for t in ok] == [100, 100]
    with pytest.raises(InsufficientFunds):
        await ledger.batch([req(a, b, 200), req("world", a, 100)])
    assert (await ledger.balance(a, CUR)).posted_minor == 100


async def test_replayed_batch_returns_first_results(ledger: Ledger) -> None:
    room = uuid.uuid4()
    a, b, escrow = new_user(), new_user(), new_escrow()
    await deposit(ledger, a, 1_000)
    await deposit(ledger, b, 1_000)
    batch = [req(a, escrow, 400, id=transfer_id(room, "stake", a)),
             req(b, escrow, 400, id=transfer_id(room, "stake", b))]
    first = await ledger.batch(batch)
    assert await ledger.batch(batch) == first
    assert (await ledger.balance(escrow, CUR)).posted_minor == 800


async def test_batch_rejects_repeated_ids_and_oversize(ledger: Ledger) -> None:
    user = new_user()
    r = req("world", user, 1)
    with pytest.raises(InvalidTransfer, match="repeat"):
        await ledger.batch([r, r])
    with pytest.raises(InvalidTransfer, match="batch"):
        await ledger.batch([])
    with pytest.raises(InvalidTransfer, match="batch"):
        await ledger.batch([req("world", user, 1) for _ in range(1001)])
    assert await ledger.balances(user) == []


async def test_on_commit_sees_new_transfers_once(pool: Any, ledger: Ledger) -> None:
    seen: list[uuid.UUID] = []
    listening = Ledger(pool, on_commit=lambda ts: seen.extend(t.id for t in ts))
    user = new_user()
    r = req("world", user, 100)
    await listening.transfer(r)
    await listening.transfer(r)
    await ledger.transfer(req("world", user, 5))  # another Ledger's commits are not reported
    assert seen == [r.id]


async def test_on_commit_failure_does_not_break_the_caller(pool: Any, ledger: Ledger) -> None:
    def explode(_: Any) -> None:
        raise RuntimeError("listener bug")

    failing = Ledger(pool, on_commit=explode)
    user = new_user()
    t = await failing.transfer(req("world", user, 100))
    assert t.amount_minor == 100
    assert (await ledger.balance(user, CUR)).posted_minor == 100


async def test_history_pages_newest_first(ledger: Ledger) -> None:
    user = new_user()
    made = [await ledger.transfer(req("world", user, n)) for n in range(1, 8)]
    page1, cursor = await ledger.history(user, CUR, limit=3)
    assert [t.amount_minor for t in page1] == [7, 6, 5]
    assert cursor is not None
    page2, cursor = await ledger.history(user, CUR, limit=3, before=cursor)
    page3, end = await ledger.history(user, CUR, limit=3, before=cursor)
    assert [t.amount_minor for t in page2 + page3] == [4, 3, 2, 1]
    assert end is None
    assert {t.id for t in page1 + page2 + page3} == {t.id for t in made}
    assert await ledger.history(new_user(), CUR) == ([], None)
    with pytest.raises(InvalidTransfer):
        await ledger.history(user, CUR, limit=0)


async def test_balances_lists_every_currency(ledger: Ledger) -> None:
    user = new_user()
    await ledger.transfer(req("world", user, 5, currency="KES"))
    await ledger.transfer(req("world", user, 9, currency="CREDITS"))
    got = {(b.currency, b.posted_minor) for b in await ledger.balances(user)}
    assert got == {("KES", 5), ("CREDITS", 9)}


async def test_apply_commits_with_the_callers_rows(ledger: Ledger, pool: Any) -> None:
    user = new_user()
    async with pool.acquire() as conn:
        async with conn.transaction():
            await ledger.apply(conn, [req("world", user, 40)])
        with pytest.raises(InsufficientFunds):
            async with conn.transaction():
                await ledger.apply(conn, [req(user, "house", 10)])
                await ledger.apply(conn, [req(user, "house", 31)])
        rolled = req("world", user, 1_000)
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await ledger.apply(conn, [rolled])
                raise RuntimeError("caller fails after the money moved")
    assert (await ledger.balance(user, CUR)).posted_minor == 40
    assert await ledger.get_transfer(rolled.id) is None


def _fields(r: TransferRequest) -> dict[str, Any]:
    return {name: getattr(r, name) for name in TransferRequest.__dataclass_fields__}


async def test_apply_reports_only_what_the_caller_committed(pool: Any, ledger: Ledger) -> None:
    seen: list[uuid.UUID] = []
    listening = Ledger(pool, on_commit=lambda ts: seen.extend(t.id for t in ts))
    user = new_user()
    kept, dropped = req("world", user, 10), req("world", user, 20)
    async with pool.acquire() as conn:
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await listening.apply(conn, [dropped])
                raise RuntimeError("caller rolls back")
        async with conn.transaction():
            await listening.apply(conn, [kept])
            assert seen == []  # not before the caller commits
    await eventually(lambda: seen, what="the background notifier to report the commit")
    assert seen == [kept.id]


async def test_every_code_the_database_answers_has_its_own_error(pool: Any) -> None:
    """ledger_apply reports failures as 'code|message'; none may fall back to the base class."""
    import re

    from ledger.errors import ERRORS_BY_CODE, LedgerBusy, LedgerError

    source = "".join([
        await pool.fetchval("SELECT pg_get_functiondef($1::regproc)", name)
        for name in ("ledger_apply", "ledger_lock", "ledger_undo")
    ])
    codes = set(re.findall(r"'([a-z_]+)\|", source))
    assert {"insufficient_funds", "hold_expired", "idempotency_conflict", "retry"} <= codes
    for code in codes | {"ledger_busy", "invariant_violation"}:
        cls = ERRORS_BY_CODE.get(code, LedgerError)
        assert cls is not LedgerError, code
        assert cls.code == code or (code, cls) == ("retry", LedgerBusy)

