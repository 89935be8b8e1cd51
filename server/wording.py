"""Product text for amounts: credits mode speaks of credits, real mode of the currency."""

from __future__ import annotations

from server.config import Settings


def amount_text(settings: Settings, amount_minor: int) -> str:
    """'150 credits' in credits mode, 'KES 150.00' in real-money mode."""
    assert amount_minor >= 0
    whole, cents = divmod(amount_minor, 100)
    if settings.money_mode == "credits":
        return f"{whole} credits" if cents == 0 else f"{whole}.{cents:02d} credits"
    return f"{settings.currency} {whole}.{cents:02d}"


def units_text(amount_minor: int) -> str:
    """The bare number a player types for an amount: '150', or '150.50' with cents."""
    assert amount_minor >= 0
    whole, cents = divmod(amount_minor, 100)
    return f"{whole}" if cents == 0 else f"{whole}.{cents:02d}"
