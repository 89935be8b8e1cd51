"""Pure M-Pesa helpers: phone and amount formats, the STK password, callback parsing.

Daraja signs nothing, so callbacks are trusted only through the secret path
token and then only for requests we created ourselves.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

try:
    from zoneinfo import ZoneInfo

    NAIROBI: Any = ZoneInfo("Africa/Nairobi")
except Exception:  # no tz database: Kenya has kept UTC+3 without DST since 1942
    NAIROBI = timezone(timedelta(hours=3), "EAT")

ACCOUNT_REF_MAX = 12
TRANSACTION_DESC_MAX = 13
KENYA_MOBILE = re.compile(r"^\+254([17]\d{8})$")
RESULT_CANCELLED = 1032


class MpesaFormatError(ValueError):
    """Input that M-Pesa cannot take; `code` is stable."""

    def __init__(self, code: str, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


def msisdn(phone_e164: str) -> str:
    """'+254712345678' -> '254712345678' (Daraja's PartyA/PhoneNumber); Kenyan mobiles only."""
    m = KENYA_MOBILE.match(phone_e164)
    if m is None:
        raise MpesaFormatError("phone_not_mpesa", "M-Pesa needs a Kenyan mobile number (+2547…).")
    return "254" + m.group(1)


def whole_kes(amount_minor: int) -> int:
    """M-Pesa moves whole shillings: 10_000 minor -> 100; refuse cents rather than round."""
    if type(amount_minor) is not int or amount_minor <= 0:
        raise MpesaFormatError("invalid_amount", "The amount must be a positive whole number.")
    if amount_minor % 100:
        raise MpesaFormatError("amount_not_whole", "M-Pesa amounts must be whole shillings.")
    return amount_minor // 100


def timestamp(now: datetime) -> str:
    """YYYYMMDDHHMMSS in Nairobi time, as Daraja expects."""
    assert now.tzinfo is not None, "pass an aware datetime"
    return now.astimezone(NAIROBI).strftime("%Y%m%d%H%M%S")


def stk_password(shortcode: str, passkey: str, ts: str) -> str:
    """base64(shortcode + passkey + timestamp)."""
    return base64.b64encode(f"{shortcode}{passkey}{ts}".encode()).decode()


def clip(text: str, limit: int) -> str:
    """Daraja refuses long references; keep only characters it accepts, within `limit`."""
    cleaned = re.sub(r"[^A-Za-z0-9 ]", "", text)[:limit]
    assert len(cleaned) <= limit
    return cleaned or "Matchpot"[:limit]


@dataclass(frozen=True, slots=True)
class StkResult:
    """One parsed STK callback (or STK Query answer)."""

    checkout_request_id: str
    merchant_request_id: str | None
    result_code: int
    result_desc: str
    amount_kes: int | None = None
    receipt: str | None = None
    transaction_date: str | None = None
    phone: str | None = None


def _int(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError("bool is not a code")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValueError(f"not an integer: {value!r}")


def parse_stk_callback(body: object) -> StkResult:
    """Read Body.stkCallback; metadata items are looked up by Name, never by position."""
    try:
        cb = body["Body"]["stkCallback"]  # type: ignore[index]
        checkout = cb["CheckoutRequestID"]
        assert isinstance(checkout, str) and 1 <= len(checkout) <= 100
        items = (cb.get("CallbackMetadata") or {}).get("Item") or []
        assert isinstance(items, list) and len(items) <= 32
        meta = {i.get("Name"): i.get("Value") for i in items if isinstance(i, dict)}
        amount = meta.get("Amount")
        receipt = meta.get("MpesaReceiptNumber")
        return StkResult(
            checkout_request_id=checkout,
            merchant_request_id=cb.get("MerchantRequestID"),
            result_code=_int(cb["ResultCode"]),
            result_desc=str(cb.get("ResultDesc", ""))[:200],
            amount_kes=_int(amount) if amount is not None else None,
            receipt=str(receipt)[:40] if receipt else None,
            transaction_date=str(meta["TransactionDate"]) if "TransactionDate" in meta else None,
            phone=str(meta["PhoneNumber"]) if "PhoneNumber" in meta else None,
        )
    except (KeyError, TypeError, ValueError, AssertionError, AttributeError) as exc:
        raise MpesaFormatError("invalid_callback", "Not an STK callback body.") from exc


@dataclass(frozen=True, slots=True)
class B2cResult:
    originator_conversation_id: str
    conversation_id: str | None
    result_code: int
    result_desc: str
    receipt: str | None
    amount_kes: int | None


def parse_b2c_result(body: object) -> B2cResult:
    """Read a B2C Result (or queue-timeout) body; parameters are looked up by Key."""
    try:
        r = body["Result"]  # type: ignore[index]
        oid = r["OriginatorConversationID"]
        assert isinstance(oid, str) and 1 <= len(oid) <= 100
        params = ((r.get("ResultParameters") or {}).get("ResultParameter")) or []
        if isinstance(params, dict):
            params = [params]
        assert isinstance(params, list) and len(params) <= 32
        kv = {p.get("Key"): p.get("Value") for p in params if isinstance(p, dict)}
        receipt = kv.get("TransactionReceipt") or r.get("TransactionID")
        amount = kv.get("TransactionAmount")
        return B2cResult(
            originator_conversation_id=oid,
            conversation_id=r.get("ConversationID"),
            result_code=_int(r["ResultCode"]),
            result_desc=str(r.get("ResultDesc", ""))[:200],
            receipt=str(receipt)[:40] if receipt else None,
            amount_kes=_int(amount) if amount is not None else None,
        )
    except (KeyError, TypeError, ValueError, AssertionError, AttributeError) as exc:
        raise MpesaFormatError("invalid_callback", "Not a B2C result body.") from exc


# Transaction Status values (ResultParameter "TransactionStatus") that settle a payout.
STATUS_COMPLETED = "completed"
STATUS_FAILED = frozenset({"failed", "declined", "cancelled", "expired", "reversed"})


@dataclass(frozen=True, slots=True)
class B2cStatus:
    """A Transaction Status result about one of our payouts."""

    payout_originator_id: str | None  # our B2C OriginatorConversationID, if it names one
    result_code: int  # of the status query itself: 0 means the status below is known
    result_desc: str
    status: str | None  # TransactionStatus, lower case ("completed", "failed", ...)
    receipt: str | None

    def settled(self) -> bool | None:
        """True: paid; False: confirmed not paid; None: unknown yet (ask again later)."""
        if self.result_code != 0 or self.status is None:
            return None
        if self.status == STATUS_COMPLETED:
            return True
        return False if self.status in STATUS_FAILED else None


def parse_b2c_status(body: object) -> B2cStatus:
    """Read a Transaction Status result; the payout is named by the ResultParameter
    OriginatorConversationID or, failing that, by the echoed Occasion."""
    try:
        r = body["Result"]  # type: ignore[index]
        params = ((r.get("ResultParameters") or {}).get("ResultParameter")) or []
        if isinstance(params, dict):
            params = [params]
        assert isinstance(params, list) and len(params) <= 64
        kv = {p.get("Key"): p.get("Value") for p in params if isinstance(p, dict)}
        refs = ((r.get("ReferenceData") or {}).get("ReferenceItem")) or []
        if isinstance(refs, dict):
            refs = [refs]
        assert isinstance(refs, list) and len(refs) <= 16
        ref = {i.get("Key"): i.get("Value") for i in refs if isinstance(i, dict)}
        payout = kv.get("OriginatorConversationID") or ref.get("Occasion")
        status = kv.get("TransactionStatus")
        receipt = kv.get("ReceiptNo")
        return B2cStatus(
            payout_originator_id=str(payout)[:100] if payout else None,
            result_code=_int(r["ResultCode"]),
            result_desc=str(r.get("ResultDesc", ""))[:200],
            status=str(status).strip().lower()[:40] if status else None,
            receipt=str(receipt)[:40] if receipt else None,
        )
    except (KeyError, TypeError, ValueError, AssertionError, AttributeError) as exc:
        raise MpesaFormatError("invalid_callback", "Not a Transaction Status body.") from exc


def failure_text(result_code: int, result_desc: str) -> str:
    """A short sentence for the player about a failed payment."""
    if result_code == RESULT_CANCELLED:
        return "You cancelled the M-Pesa request. Nothing was charged."
    if result_code == 1:
        return "The M-Pesa balance was too low for this deposit. Nothing was charged."
    if result_code in (1037, 1019):
        return "The M-Pesa request timed out before it was confirmed. Nothing was charged."
    if result_code == 2001:
        return "The M-Pesa PIN was wrong. Nothing was charged."
    return f"M-Pesa did not complete the deposit ({result_code}). Nothing was charged."
