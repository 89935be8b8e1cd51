"""Approving a withdrawal: the one place where the wallet and the payout provider meet.

With M-Pesa payouts on, approval starts the B2C payment (the hold moves to the
provider's clearing account; Daraja's result completes it); otherwise the
admin's approval completes the withdrawal at once (paid by hand). Kept apart
from `wallets` and `payments` so neither has to import the other's routes.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.auth.deps import require_admin
from server.money.payments import b2c
from server.money.wallets import service
from server.money.wallets.http import DECIDERS


async def approve_withdrawal(request: Request) -> Response:
    """Approve a withdrawal. With M-Pesa payouts on, this starts the B2C payment and the
    withdrawal stays pending until Daraja's result posts or voids its hold."""
    state = request.app.state.mp
    admin = await require_admin(request, *DECIDERS)
    if b2c.b2c_enabled(state):
        out = await b2c.approve_withdrawal(state, request.path_params["id"],
                                           admin_id=admin.subject)
        return JSONResponse(dict(out["withdrawal"], payout="mpesa", b2c_state=out["b2c_state"]))
    w = await service.complete_withdrawal(
        state, request.path_params["id"], paid=True, provider_ref=None, admin_id=admin.subject,
    )
    return JSONResponse(w.public())


routes = [
    Route("/admin/withdrawals/{id}/approve", approve_withdrawal, methods=["POST"]),
]
