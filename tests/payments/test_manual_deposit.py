"""With the default manual provider, a deposit is a request an admin approves."""

from __future__ import annotations

import pytest

from ledger import Ledger
from server.money.payments.service import PaymentError, start_deposit
from server.money.wallets.service import credit_deposit
from tests.payments.conftest import new_player
from tests.support import LiveServer

pytestmark = pytest.mark.usefixtures("ledger")


async def test_manual_deposit_is_a_request_until_approved(server: LiveServer,
                                                          ledger: Ledger) -> None:
    state = server.state
    assert state.settings.payments_provider == "manual"
    player = await new_player(state.pool, state.jwt_secret)
    started = await start_deposit(state, player.user_id, 20_000, channel="whatsapp")
    assert started.provider == "manual" and started.state == "pending"
    assert "200 credits" in started.text
    assert (await ledger.balance(player.owner, "KES")).available_minor == 0
    await credit_deposit(state, started.request_id, provider_ref=None)
    assert (await ledger.balance(player.owner, "KES")).available_minor == 20_000


async def test_out_of_range_deposit_is_refused(server: LiveServer) -> None:
    player = await new_player(server.state.pool, server.state.jwt_secret)
    with pytest.raises(PaymentError) as err:
        await start_deposit(server.state, player.user_id, 1, channel="http")
    assert err.value.code == "amount_out_of_range"
    assert await server.state.pool.fetchval(
        "SELECT count(*) FROM deposit_requests WHERE user_id = $1::uuid", player.user_id) == 0
