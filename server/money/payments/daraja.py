"""Daraja (Safaricom M-Pesa API) client: OAuth token cache, STK Push/Query and B2C.

The base URL comes from settings, so tests point it at a local stand-in. Every
call has a timeout; a token is reused until shortly before it expires.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx

from rooms.clock import wall_now
from server.config import Settings
from server.money.payments import mpesa

TOKEN_MARGIN_S = 60.0  # refresh this long before Daraja says the token expires
MAX_RESPONSE_BYTES = 64 * 1024


class DarajaError(Exception):
    """Daraja refused or could not be reached; `code` is stable snake_case."""

    def __init__(self, code: str, msg: str, *, retryable: bool = False) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.retryable = retryable


class DarajaClient:
    """One per process; safe to share between tasks."""

    def __init__(
        self, settings: Settings, *, http: httpx.AsyncClient | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = wall_now,
    ) -> None:
        self.settings = settings
        self.http = http or httpx.AsyncClient(timeout=settings.mpesa_timeout_s)
        self._monotonic = monotonic
        self._wall = wall
        self._token: str | None = None
        self._token_expires_at = 0.0
        self._token_lock = asyncio.Lock()

    @property
    def base_url(self) -> str:
        return self.settings.mpesa_base_url.rstrip("/")

    def callback_url(self, path: str) -> str:
        base = (self.settings.mpesa_callback_base_url or self.settings.resolved_public_url)
        token = self.settings.mpesa_callback_token
        assert token, "MATCHPOT_MPESA_CALLBACK_TOKEN must be set"
        return f"{base.rstrip('/')}/payments/mpesa/{path}/{token}"

    async def aclose(self) -> None:
        await self.http.aclose()

    async def token(self) -> str:
        """A bearer token, fetched once and cached until TOKEN_MARGIN_S before expiry."""
        async with self._token_lock:
            if self._token and self._monotonic() < self._token_expires_at:
                return self._token
            s = self.settings
            try:
                resp = await self.http.get(
                    f"{self.base_url}/oauth/v1/generate",
                    params={"grant_type": "client_credentials"},
                    auth=(s.mpesa_consumer_key, s.mpesa_consumer_secret),
                )
            except httpx.HTTPError as exc:
                raise DarajaError("provider_unavailable", "M-Pesa could not be reached.",
                                  retryable=True) from exc
            if resp.status_code != 200:
                raise DarajaError("provider_auth_failed",
                                  f"M-Pesa refused the credentials ({resp.status_code}).")
            data = resp.json()
            token = data.get("access_token")
            if not isinstance(token, str) or not token:
                raise DarajaError("provider_auth_failed", "M-Pesa sent no access token.")
            expires_in_s = float(data.get("expires_in", 3599))
            self._token = token
            self._token_expires_at = self._monotonic() + max(0.0, expires_in_s - TOKEN_MARGIN_S)
            return token

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        for attempt in range(2):  # a second try only after a rejected (stale) token
            token = await self.token()
            try:
                resp = await self.http.post(f"{self.base_url}{path}", json=body,
                                            headers={"Authorization": f"Bearer {token}"})
            except httpx.TimeoutException as exc:
                raise DarajaError("provider_timeout", "M-Pesa did not answer in time.",
                                  retryable=True) from exc
            except httpx.HTTPError as exc:
                raise DarajaError("provider_unavailable", "M-Pesa could not be reached.",
                                  retryable=True) from exc
            if resp.status_code == 401 and attempt == 0:
                async with self._token_lock:
                    self._token = None
                continue
            if len(resp.content) > MAX_RESPONSE_BYTES:
                raise DarajaError("provider_error", "M-Pesa sent an oversized answer.")
            try:
                data = resp.json()
            except ValueError as exc:
                raise DarajaError("provider_error", f"M-Pesa answered {resp.status_code}.",
                                  retryable=resp.status_code >= 500) from exc
            if not isinstance(data, dict):
                raise DarajaError("provider_error", "M-Pesa sent an unexpected answer.")
            if resp.status_code >= 400:
                msg = str(data.get("errorMessage") or data.get("ResponseDescription") or "")
                raise DarajaError("provider_rejected", f"M-Pesa refused the request: {msg}",
                                  retryable=resp.status_code >= 500)
            return data
        raise DarajaError("provider_auth_failed", "M-Pesa refused a fresh token.")

    def _password(self) -> tuple[str, str]:
        s = self.settings
        ts = mpesa.timestamp(self._wall())
        return mpesa.stk_password(s.mpesa_shortcode, s.mpesa_passkey, ts), ts

    async def stk_push(
        self, phone_e164: str, amount_minor: int, *, account_ref: str, description: str,
    ) -> dict[str, Any]:
        """Ask the phone to approve a payment; Daraja answers with the CheckoutRequestID."""
        s = self.settings
        amount_kes = mpesa.whole_kes(amount_minor)
        party = mpesa.msisdn(phone_e164)
        password, ts = self._password()
        body = {
            "BusinessShortCode": s.mpesa_shortcode, "Password": password, "Timestamp": ts,
            "TransactionType": "CustomerPayBillOnline", "Amount": amount_kes,
            "PartyA": party, "PartyB": s.mpesa_shortcode, "PhoneNumber": party,
            "CallBackURL": self.callback_url("stk"),
            "AccountReference": mpesa.clip(account_ref, mpesa.ACCOUNT_REF_MAX),
            "TransactionDesc": mpesa.clip(description, mpesa.TRANSACTION_DESC_MAX),
        }
        data = await self._post("/mpesa/stkpush/v1/processrequest", body)
        if str(data.get("ResponseCode")) != "0" or not data.get("CheckoutRequestID"):
            raise DarajaError("provider_rejected", str(data.get("ResponseDescription") or
                                                       data.get("errorMessage") or "refused"))
        return data

    async def stk_query(self, checkout_request_id: str) -> dict[str, Any]:
        """Ask for the outcome of an STK Push whose callback never came."""
        password, ts = self._password()
        return await self._post("/mpesa/stkpushquery/v1/query", {
            "BusinessShortCode": self.settings.mpesa_shortcode, "Password": password,
            "Timestamp": ts, "CheckoutRequestID": checkout_request_id,
        })

    async def b2c_payment(
        self, originator_conversation_id: str, phone_e164: str, amount_minor: int, *,
        remarks: str,
    ) -> dict[str, Any]:
        """Send money to a phone (BusinessPayment); the outcome arrives on the result URL."""
        s = self.settings
        data = await self._post("/mpesa/b2c/v3/paymentrequest", {
            "OriginatorConversationID": originator_conversation_id,
            "InitiatorName": s.mpesa_b2c_initiator,
            "SecurityCredential": s.mpesa_b2c_security_credential,
            "CommandID": "BusinessPayment", "Amount": mpesa.whole_kes(amount_minor),
            "PartyA": s.mpesa_b2c_shortcode or s.mpesa_shortcode,
            "PartyB": mpesa.msisdn(phone_e164), "Remarks": mpesa.clip(remarks, 100),
            "QueueTimeOutURL": self.callback_url("b2c/timeout"),
            "ResultURL": self.callback_url("b2c/result"), "Occasion": "Withdrawal",
        })
        if str(data.get("ResponseCode")) != "0":
            raise DarajaError("provider_rejected", str(data.get("ResponseDescription") or
                                                       data.get("errorMessage") or "refused"))
        return data

    async def b2c_status(self, originator_conversation_id: str) -> dict[str, Any]:
        """Ask for the outcome of a B2C payout whose result never came (Transaction Status).

        Asynchronous like B2C itself: the answer is only an acknowledgement and the status
        arrives on the b2c/status callback. Our OriginatorConversationID names the payout,
        and is also sent as `Occasion`, which Daraja echoes, so the result maps back to it.
        """
        s = self.settings
        data = await self._post("/mpesa/transactionstatus/v1/query", {
            "Initiator": s.mpesa_b2c_initiator,
            "SecurityCredential": s.mpesa_b2c_security_credential,
            "CommandID": "TransactionStatusQuery", "TransactionID": "",
            "OriginatorConversationID": originator_conversation_id,
            "PartyA": s.mpesa_b2c_shortcode or s.mpesa_shortcode, "IdentifierType": "4",
            "ResultURL": self.callback_url("b2c/status"),
            "QueueTimeOutURL": self.callback_url("b2c/status"),
            "Remarks": "Payout reconciliation", "Occasion": originator_conversation_id,
        })
        if str(data.get("ResponseCode")) != "0":
            raise DarajaError("provider_rejected", str(data.get("ResponseDescription") or
                                                       data.get("errorMessage") or "refused"))
        return data
