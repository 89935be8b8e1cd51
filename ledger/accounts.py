"""Account owner names: the one place that spells them.

Every part of Matchpot names ledger accounts through these functions instead of typing
"user:..." or "house" by hand, so a typo cannot open a stray account that the books then
carry for ever (accounts of these shapes are created on first use, see docs/ledger.md).
The SQL side recognises the same shapes in `ledger_auto_kind` (ledger/migrations).
"""

from __future__ import annotations

HOUSE = "house"
"""The operator: rake, losing stakes and rounding remainders go here; it has no floor."""

WORLD = "world"
"""Money entering or leaving the system (deposits, withdrawals); it has no floor."""

USER_PREFIX = "user:"
ESCROW_PREFIX = "escrow:"
CLEARING_PREFIX = "clearing:"


def _part(name: str, value: object) -> str:
    """One segment of an owner key: non-empty text without ':' (the separator)."""
    text = str(value)
    assert text, f"{name} must not be empty"
    assert ":" not in text, f"{name} must not contain ':' ({text!r})"
    assert text == text.strip(), f"{name} must not start or end with spaces ({text!r})"
    return text


def user_account(user_id: object) -> str:
    """`user:<id>`: a player's wallet (floor 0). `user_id` is the `users` row id (uuid or str)."""
    return USER_PREFIX + _part("user_id", user_id)


def escrow_account(kind: str, ref: object | None = None) -> str:
    """`escrow:<kind>` or `escrow:<kind>:<ref>`: stakes waiting for an outcome (floor 0).

    `kind` is the game or product (`quiz`, `football`); `ref` optionally narrows it to one
    match, question or pool, e.g. escrow_account("football", question_id).
    """
    owner = ESCROW_PREFIX + _part("escrow kind", kind)
    if ref is not None:
        owner += ":" + _part("escrow ref", ref)
    return owner


def clearing_account(provider: str) -> str:
    """`clearing:<provider>`: money in transit at a payment provider (mpesa, withdrawals)."""
    return CLEARING_PREFIX + _part("provider", provider)


def user_id_of(owner: str) -> str | None:
    """The user id of a `user:<id>` owner; None for any other account."""
    if owner.startswith(USER_PREFIX) and len(owner) > len(USER_PREFIX):
        return owner[len(USER_PREFIX):]
    return None
