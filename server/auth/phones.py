"""Phone numbers in one canonical form (E.164), so one person is one user."""

from __future__ import annotations

import phonenumbers

MAX_PHONE_CHARS = 32


class InvalidPhone(ValueError):
    """The text is not a valid, dialable phone number."""


def normalise_phone(raw: str, default_region: str) -> str:
    """E.164 for `raw`; a local number (0712...) is read in `default_region`."""
    if not raw or len(raw) > MAX_PHONE_CHARS:
        raise InvalidPhone("phone number missing or too long")
    try:
        parsed = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(str(exc)) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone("not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
