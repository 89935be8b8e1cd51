"""Demo mode (MATCHPOT_DEMO=1 or `matchpot serve --demo`): a finance admin named
`demo`, and a task that approves small deposit requests as that admin after a
short delay, so a newcomer sees a deposit approved and the balance change live.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import structlog

from server.admin.accounts import ensure_admin
from server.money.wallets import service
from server.state import AppState

log = structlog.get_logger(__name__)

DEMO_ADMIN = "demo"
DEMO_ADMIN_PASSWORD = "demo-finance"  # demo mode only; printed at start-up
DEMO_ADMIN_ROLE = "finance"
AUTO_APPROVE_MAX_MINOR = 1_000_000
AUTO_APPROVE_DELAY_S = 2.0
POLL_INTERVAL_S = 1.0
BATCH = 20


async def approve_due(state: AppState, admin_id: str, *, now: datetime | None = None) -> int:
    """Approve, as the demo admin, pending requests of at most AUTO_APPROVE_MAX_MINOR that
    waited AUTO_APPROVE_DELAY_S; at most BATCH per call. Returns how many were approved.
    """
    cutoff = (now or state.now()) - timedelta(seconds=AUTO_APPROVE_DELAY_S)
    due = await service.list_deposits(
        state, status="pending", limit=BATCH, older_than=cutoff,
        max_amount_minor=AUTO_APPROVE_MAX_MINOR,
    )
    approved = 0
    for dep in due:
        try:
            await service.credit_deposit(state, dep.id, admin_id=admin_id)
        except service.WalletError as exc:  # decided meanwhile by someone else
            log.info("demo_deposit_skipped", deposit_id=dep.id, code=exc.code)
            continue
        approved += 1
        log.info(
            "demo deposit approved by the demo admin", deposit_id=dep.id, user_id=dep.user_id,
            amount_minor=dep.amount_minor, currency=dep.currency,
        )
    return approved


async def _auto_approve_forever(state: AppState, admin_id: str) -> None:
    while True:
        try:
            await approve_due(state, admin_id)
        except Exception:
            log.exception("demo_auto_approve_failed")
        await asyncio.sleep(POLL_INTERVAL_S)


async def startup(state: AppState) -> None:
    if not state.settings.demo:
        return
    admin_id = await ensure_admin(state.pool, DEMO_ADMIN, DEMO_ADMIN_PASSWORD, DEMO_ADMIN_ROLE)
    state.spawn(_auto_approve_forever(state, admin_id), "demo-auto-approve")
    url = state.settings.resolved_public_url
    log.info(
        "demo mode: next steps",
        open_app=f"{url}/ in a browser: log in with any Kenyan number, deposit, then stake"
                 " in a quiz duel (the demo bot takes the other seat after 3 s)",
        admin_page=f"{url}/admin as {DEMO_ADMIN} / {DEMO_ADMIN_PASSWORD}",
        step_1=f"POST {url}/auth/otp/request {{\"phone\": \"0712 345 678\"}}"
               " (any valid number) - the login code appears in this log",
        step_2=f"POST {url}/auth/otp/verify {{\"phone\": ..., \"code\": ...}} - gives a token",
        step_3=f"POST {url}/wallet/deposits {{\"amount_minor\": 10000, \"reference\": \"demo-1\"}}"
               f" - the demo admin approves up to {AUTO_APPROVE_MAX_MINOR} minor units"
               f" after {AUTO_APPROVE_DELAY_S:.0f} s",
        step_4=f"GET {url}/wallet, or watch the balance live on {url.replace('http', 'ws')}/ws",
        admin=f"POST {url}/admin/login {{\"username\": \"{DEMO_ADMIN}\","
              f" \"password\": \"{DEMO_ADMIN_PASSWORD}\"}}",
    )
