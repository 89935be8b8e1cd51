"""Wallet over HTTP: a player asks for a deposit, a finance admin approves it (docs/api.md).

    http = httpx.AsyncClient(base_url="http://127.0.0.1:8000")
    deposit = await WalletApi(http).request_deposit(player_token, 10_000, "QAB12CD34E")
    admin_token = await AdminApi(http).login("alice", password)
    await AdminApi(http).approve_deposit(admin_token, deposit["id"])

Both calls are idempotent on the server: the same reference and amount return
the same request, and approving again credits nothing more.
"""

from __future__ import annotations

from typing import Any

import httpx

from matchpot_client.auth import raise_for

__all__ = ["AdminApi", "WalletApi"]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class WalletApi:
    """The player's wallet endpoints."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def me(self, access_token: str) -> dict[str, Any]:
        """`GET /me`: the user, balances and money mode."""
        response = await self._http.get("/me", headers=_bearer(access_token))
        raise_for(response)
        return dict(response.json())

    async def request_deposit(
        self, access_token: str, amount_minor: int, reference: str
    ) -> dict[str, Any]:
        """`POST /wallet/deposits`: a pending deposit request (the same one for a repeated call)."""
        response = await self._http.post(
            "/wallet/deposits", headers=_bearer(access_token),
            json={"amount_minor": amount_minor, "reference": reference},
        )
        raise_for(response)
        return dict(response.json())


class AdminApi:
    """The admin endpoints a load test needs: log in and decide deposits."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def login(self, username: str, password: str) -> str:
        """`POST /admin/login`: an admin access token."""
        response = await self._http.post(
            "/admin/login", json={"username": username, "password": password}
        )
        raise_for(response)
        return str(response.json()["access_token"])

    async def approve_deposit(self, admin_token: str, deposit_id: str) -> dict[str, Any]:
        """`POST /admin/deposits/{id}/approve` (finance or superadmin): credit it, exactly once."""
        response = await self._http.post(
            f"/admin/deposits/{deposit_id}/approve", headers=_bearer(admin_token)
        )
        raise_for(response)
        return dict(response.json())
