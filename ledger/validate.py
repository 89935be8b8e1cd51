"""Reject malformed requests before they reach the database, so bad input changes nothing."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from ledger.errors import InvalidTransfer
from ledger.types import TransferKind, TransferRequest

MAX_AMOUNT_MINOR = 10**15  # far above any real stake; keeps every sum inside BIGINT
MAX_BATCH_ITEMS = 1000  # transfer()/batch(): one call of ledger_apply
MAX_APPLY_ITEMS = 10_000  # apply(): chunked inside the caller's transaction
MAX_HOLD_TIMEOUT_S = 90 * 24 * 3600
MAX_OWNER_CHARS = 200
MAX_CODE_CHARS = 64
MAX_EXT_REF_CHARS = 200
MAX_META_BYTES = 8192
CURRENCY_RE = re.compile(r"^[A-Z][A-Z0-9_]{1,15}$")
# Codes that matched CURRENCY_RE: a batch names the same one or two over and over, and a set
# look-up is cheaper than the pattern. Bounded: past the bound a code is matched every time.
_ACCEPTED_CURRENCIES: set[str] = set()
MAX_ACCEPTED_CURRENCIES = 64

_SINGLE = TransferKind.SINGLE
_PENDING = TransferKind.PENDING


def check_currency(currency: str) -> None:
    if type(currency) is str and currency in _ACCEPTED_CURRENCIES:
        return
    if not isinstance(currency, str) or not CURRENCY_RE.match(currency):
        raise InvalidTransfer(f"currency {currency!r} is not an upper-case code like KES")
    if type(currency) is str and len(_ACCEPTED_CURRENCIES) < MAX_ACCEPTED_CURRENCIES:
        _ACCEPTED_CURRENCIES.add(currency)


def check_owner(owner: str) -> None:
    if not isinstance(owner, str) or not 1 <= len(owner) <= MAX_OWNER_CHARS:
        raise InvalidTransfer(f"account owner must be 1..{MAX_OWNER_CHARS} characters")


def meta_json(req: TransferRequest) -> str:
    """The request's meta as JSON text, bounded in size."""
    if type(req.meta) is dict and not req.meta:
        return "{}"  # what json.dumps gives, without the encoder
    try:
        text = json.dumps(req.meta, separators=(",", ":"), sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise InvalidTransfer(f"meta of {req.id} is not JSON: {exc}") from exc
    if len(text.encode()) > MAX_META_BYTES:
        raise InvalidTransfer(f"meta of {req.id} exceeds {MAX_META_BYTES} bytes")
    return text


def check_request(req: TransferRequest) -> None:
    """Raise InvalidTransfer unless `req` is well formed for its kind.

    It runs for every item of every batch, so it reads each field once into a local.
    """
    kind = req.kind
    if not isinstance(kind, TransferKind):
        raise InvalidTransfer(f"unknown transfer kind {kind!r}")
    amount = req.amount_minor
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise InvalidTransfer("amount_minor must be an integer number of minor units")
    if amount > MAX_AMOUNT_MINOR:
        raise InvalidTransfer(f"amount_minor exceeds {MAX_AMOUNT_MINOR}")
    code = req.code
    if not isinstance(code, str) or not 1 <= len(code) <= MAX_CODE_CHARS:
        raise InvalidTransfer(f"code must be 1..{MAX_CODE_CHARS} characters")
    ext_ref = req.ext_ref
    if ext_ref is not None and not 1 <= len(ext_ref) <= MAX_EXT_REF_CHARS:
        raise InvalidTransfer(f"ext_ref must be 1..{MAX_EXT_REF_CHARS} characters")
    if kind is _SINGLE or kind is _PENDING:
        if amount <= 0:
            raise InvalidTransfer("amount_minor must be positive")
        debit = req.debit
        credit = req.credit
        check_owner(debit)
        check_owner(credit)
        check_currency(req.currency)
        if debit == credit:
            raise InvalidTransfer("debit and credit must be different accounts")
        if req.pending_id is not None:
            raise InvalidTransfer("pending_id is only for post and void")
        timeout = req.timeout_s
        if kind is _PENDING:
            if not isinstance(timeout, int) or not 1 <= timeout <= MAX_HOLD_TIMEOUT_S:
                raise InvalidTransfer(f"a hold needs timeout_s in 1..{MAX_HOLD_TIMEOUT_S}")
        elif timeout is not None:
            raise InvalidTransfer("timeout_s is only for holds")
        return
    # POST / VOID: accounts and currency may be left empty ("those of the hold").
    if req.pending_id is None:
        raise InvalidTransfer(f"a {req.kind} needs pending_id")
    if amount < 0:
        raise InvalidTransfer("amount_minor must not be negative (0 means the whole hold)")
    if req.timeout_s is not None:
        raise InvalidTransfer("timeout_s is only for holds")
    if req.currency:
        check_currency(req.currency)
    if req.debit and req.credit and req.debit == req.credit:
        raise InvalidTransfer("debit and credit must be different accounts")


def check_batch(reqs: Sequence[TransferRequest], *, max_items: int = MAX_BATCH_ITEMS) -> None:
    """A linked batch: 1..max_items well-formed requests with distinct ids."""
    if not 1 <= len(reqs) <= max_items:
        raise InvalidTransfer(f"a batch holds 1..{max_items} transfers")
    for req in reqs:
        check_request(req)
    if len({r.id for r in reqs}) != len(reqs):
        raise InvalidTransfer("a batch must not repeat a transfer id")
