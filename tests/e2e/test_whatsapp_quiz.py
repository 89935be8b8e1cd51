"""`quiz 100` over WhatsApp joins the quiz-duel queue and links to the PWA; a reprocessed
`deposit` message asks M-Pesa once."""

from __future__ import annotations

import asyncpg
import httpx

from ledger import Ledger, TransferRequest, transfer_id
from server.features.play.service import service
from tests.fakes.daraja import FakeDaraja
from tests.fakes.graph_api import FakeGraphApi
from tests.support import LiveServer
from tests.waiting import eventually
from tests.whatsapp.helpers import Chat


async def _user_id(live: LiveServer, chat: Chat) -> str:
    return str(await live.state.pool.fetchval(
        "SELECT id FROM users WHERE phone_e164 = $1", chat.phone))


async def test_quiz_joins_the_queue_and_links_to_the_app(
    e2e_server: LiveServer, client: httpx.AsyncClient, fake: FakeGraphApi, ledger: Ledger,
) -> None:
    chat = Chat(client, fake)
    broke = await chat.say("quiz 100")
    assert "balance is too low" in broke.text and "100 credits" in broke.text
    user_id = await _user_id(e2e_server, chat)
    owner = f"user:{user_id}"
    assert (await ledger.balance(owner, "KES")).pending_debits_minor == 0

    await ledger.transfer(TransferRequest(transfer_id("e2e-quiz", user_id), "world", owner,
                                          30_000, "KES", code="deposit"))
    not_offered = await chat.say("quiz 7")
    assert "50, 100, 500" in not_offered.text
    assert (await ledger.balance(owner, "KES")).pending_debits_minor == 0

    joined = await chat.say("quiz 100")
    url = f"{e2e_server.state.settings.resolved_public_url}/?stake=100"
    assert url in joined.text and "queue" in joined.text and "100 credits" in joined.text
    assert "win" not in joined.text.lower()
    bal = await ledger.balance(owner, "KES")
    assert (bal.pending_debits_minor, bal.available_minor) == (10_000, 20_000)  # stake held

    again = await chat.say("quiz 100")
    assert "already waiting" in again.text and url in again.text
    assert (await ledger.balance(owner, "KES")).pending_debits_minor == 10_000  # one hold

    ticket = await service(e2e_server.state).matchmaker.leave(user_id)
    assert ticket.user_id == user_id
    assert (await ledger.balance(owner, "KES")).available_minor == 30_000


async def test_quiz_follows_the_real_money_setting(
    e2e_server: LiveServer, client: httpx.AsyncClient, fake: FakeGraphApi, ledger: Ledger,
) -> None:
    state = e2e_server.state
    before = state.settings
    state.settings = before.model_copy(update={"money_mode": "real", "whatsapp_real_money": False})
    try:
        chat = Chat(client, fake)
        refused = await chat.say("quiz 100")
    finally:
        state.settings = before
    assert "not available on WhatsApp" in refused.text
    user_id = await _user_id(e2e_server, chat)
    assert (await ledger.balance(f"user:{user_id}", "KES")).pending_debits_minor == 0


async def test_a_reprocessed_deposit_message_asks_mpesa_once(
    e2e_server: LiveServer, client: httpx.AsyncClient, fake: FakeGraphApi,
    fake_daraja: FakeDaraja,
) -> None:
    """A crash after the STK Push but before the message was marked done makes the worker
    process it again: the deposit is keyed by the wamid, so no second push or request."""
    pool = e2e_server.state.pool
    chat = Chat(client, fake)
    await chat.say("deposit 200")
    wamid = chat.last_wamid
    user_id = await _user_id(e2e_server, chat)
    done_sql = "SELECT attempts FROM wa_inbound WHERE wamid = $1 AND processed_at IS NOT NULL"
    assert await _poll(pool, done_sql, wamid) == 1
    # As if the node died before marking the message processed: its lease lapses.
    await pool.execute("UPDATE wa_inbound SET processed_at = NULL, claimed_until = NULL"
                       " WHERE wamid = $1", wamid)
    assert await _poll(pool, done_sql, wamid, 2) == 2  # processed a second time
    pushes = [p for p in fake_daraja.stk_pushes() if p.body["PhoneNumber"] == chat.wa_id]
    assert len(pushes) == 1
    assert await pool.fetchval(
        "SELECT count(*) FROM mpesa_requests WHERE user_id = $1::uuid", user_id) == 1
    replies = [r for r in fake.to(chat.phone) if r.key == f"reply:{wamid}:0"]
    assert len(replies) == 1  # the reply already had its wamid: not sent again


async def _poll(pool: asyncpg.Pool, sql: str, arg: str, want: int | None = None) -> int:
    """The value of `sql` once it exists (and equals `want`)."""

    async def value() -> tuple[int] | None:  # a tuple: a value of 0 counts as existing
        got = await pool.fetchval(sql, arg)
        return (int(got),) if got is not None and (want is None or got == want) else None

    expected = "set" if want is None else want
    (found,) = await eventually(value, what=f"{sql!r} for {arg} to be {expected}")
    return found


async def test_a_reprocessed_withdraw_message_holds_once(
    e2e_server: LiveServer, client: httpx.AsyncClient, fake: FakeGraphApi,
) -> None:
    """`withdraw` is keyed by the wamid too: a message processed again holds the amount once."""
    pool = e2e_server.state.pool
    chat = Chat(client, fake)
    await chat.say("balance")
    user_id = await _user_id(e2e_server, chat)
    await Ledger(pool).transfer(TransferRequest(
        id=transfer_id("wa-withdraw-test", user_id), debit="world", credit=f"user:{user_id}",
        amount_minor=100_000, currency="KES", code="deposit"))
    await chat.say("withdraw 200")
    wamid = chat.last_wamid
    done_sql = "SELECT attempts FROM wa_inbound WHERE wamid = $1 AND processed_at IS NOT NULL"
    assert await _poll(pool, done_sql, wamid) == 1
    await pool.execute("UPDATE wa_inbound SET processed_at = NULL, claimed_until = NULL"
                       " WHERE wamid = $1", wamid)
    assert await _poll(pool, done_sql, wamid, 2) == 2
    assert await pool.fetchval(
        "SELECT count(*) FROM withdrawal_requests WHERE user_id = $1::uuid", user_id) == 1
    bal = await Ledger(pool).balance(f"user:{user_id}", "KES")
    assert bal.available_minor == 100_000 - 20_000
