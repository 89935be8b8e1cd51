"""Account owner keys: the one place that spells them. Nothing else types "user:" by hand.

An owner key names one account per currency: `user:<id>` for a player,
`escrow:<kind>` for the stakes of one game kind (or pool, or challenge),
`house` for the operator, `world` for money entering or leaving, and
`clearing:<provider>` for a payment provider's money in transit.
"""

from __future__ import annotations

HOUSE = "house"
WORLD = "world"
USER_PREFIX = "user:"
ESCROW_PREFIX = "escrow:"
CLEARING_PREFIX = "clearing:"
MAX_PART = 100


def _part(value: str, what: str) -> str:
    assert value and len(value) <= MAX_PART and ":" not in value, f"bad {what}: {value!r}"
    return value


def user_account(user_id: str) -> str:
    """The wallet of one player."""
    return USER_PREFIX + _part(user_id, "user id")


def escrow_account(kind: str, key: object | None = None) -> str:
    """Where the stakes of one kind of game (or pool, or challenge) wait for the outcome.

    With `key`, one escrow per instance (a football question, a pool week): `escrow:kind:key`.
    """
    base = ESCROW_PREFIX + _part(kind, "escrow kind")
    return base if key is None else f"{base}:{_part(str(key), 'escrow key')}"


def clearing_account(provider: str) -> str:
    """A payment provider's money in transit (deposits confirmed, payouts sent)."""
    return CLEARING_PREFIX + _part(provider, "provider")


def user_id_of(owner: str) -> str | None:
    """The player behind a `user:` owner key, or None for any other account."""
    return owner[len(USER_PREFIX):] if owner.startswith(USER_PREFIX) else None
