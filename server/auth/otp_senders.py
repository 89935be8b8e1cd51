"""How a login code reaches a player. Senders are looked up by name
(settings.otp_sender), so a channel such as WhatsApp can plug in later with
`register_sender("whatsapp", factory)` from its own feature module.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import structlog

from server.logs import mask_phone

if TYPE_CHECKING:
    from server.state import AppState

log = structlog.get_logger(__name__)


class OtpSender(Protocol):
    """Delivers a login code. Raise to report that delivery failed."""

    async def send(self, phone_e164: str, code: str, ttl_s: int) -> None: ...


class LogSender:
    """Development sender: writes the code to the server log with the number masked.

    As a development aid it also remembers the last code per phone (at most
    `max_remembered` numbers), so local tools and tests can log in without
    reading the console. Never use it in production: the code is in clear.
    """

    def __init__(self, max_remembered: int = 1000) -> None:
        assert max_remembered > 0
        self.max_remembered = max_remembered
        self._last: OrderedDict[str, str] = OrderedDict()

    async def send(self, phone_e164: str, code: str, ttl_s: int) -> None:
        self._last[phone_e164] = code
        self._last.move_to_end(phone_e164)
        while len(self._last) > self.max_remembered:
            self._last.popitem(last=False)
        log.info(f"login code for {mask_phone(phone_e164)}: {code}", valid_s=ttl_s)

    def last_code(self, phone_e164: str) -> str | None:
        """The last code sent to this E.164 number, if still remembered."""
        return self._last.get(phone_e164)


SenderFactory = Callable[["AppState"], OtpSender]

_SENDERS: dict[str, SenderFactory] = {"log": lambda state: LogSender()}


class UnknownSender(LookupError):
    """settings.otp_sender names a sender that no feature registered."""


def register_sender(name: str, factory: SenderFactory) -> None:
    """Make a sender available under `name` (the value of MATCHPOT_OTP_SENDER)."""
    assert name and name.isidentifier()
    _SENDERS[name] = factory


def build_sender(name: str, state: AppState) -> OtpSender:
    """A new sender by name, or UnknownSender."""
    factory = _SENDERS.get(name)
    if factory is None:
        raise UnknownSender(f"no OTP sender named {name!r}; known: {', '.join(sorted(_SENDERS))}")
    return factory(state)
