"""Login over HTTP: request a one-time code, verify it, refresh the session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from matchpot_client.errors import MatchpotError


@dataclass
class Session:
    """Tokens of a logged-in player. The access token is short-lived; refresh rotates both."""

    access_token: str
    refresh_token: str | None
    user: dict[str, Any]


def raise_for(response: httpx.Response) -> None:
    """MatchpotError(code, msg, status) for an HTTP error with the API's `{code, msg}` body."""
    if response.status_code < 400:
        return
    try:
        body = response.json()
        code, msg = str(body["code"]), str(body.get("msg", ""))
    except (ValueError, KeyError, TypeError):
        code, msg = "http_error", response.text[:200]
    raise MatchpotError(code, msg, status=response.status_code)


class AuthApi:
    """The login endpoints of one server (docs/api.md)."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def request_otp(self, phone: str) -> dict[str, Any]:
        response = await self._http.post("/auth/otp/request", json={"phone": phone})
        raise_for(response)
        return dict(response.json())

    async def verify_otp(self, phone: str, code: str) -> Session:
        response = await self._http.post("/auth/otp/verify", json={"phone": phone, "code": code})
        raise_for(response)
        return _session(response.json())

    async def refresh(self, refresh_token: str) -> Session:
        response = await self._http.post("/auth/refresh", json={"refresh_token": refresh_token})
        raise_for(response)
        return _session(response.json())


def _session(body: dict[str, Any]) -> Session:
    return Session(
        access_token=str(body["access_token"]), refresh_token=body.get("refresh_token"),
        user=dict(body.get("user") or {}),
    )
