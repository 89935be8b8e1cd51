"""Structured logs: JSON lines with a request or connection id, phone numbers masked,
credentials redacted.

Tokens must never reach a log: a log line outlives the token's expiry in files,
aggregators and screenshots. Clients send the access token in `hello`, not the
URL, but a client may still put `?token=` in a URL, and uvicorn logs websocket
request lines (`"WebSocket /ws?token=..." [accepted]` on `uvicorn.error`, at INFO,
even with the access log off). `RedactSecrets` is a logging filter that rewrites
such values (and anything shaped like a JWT) in every record of the uvicorn
loggers and the root handlers; structlog events get the same treatment.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

# A phone number stands alone: digits inside a longer token (a UUID, a hash) are not one.
PHONE_RE = re.compile(r"(?<![\w-])\+?\d{9,15}(?![\w-])")
# `token=...`, `access_token=...`, `refresh_token=...`, `jwt=...` in a query string or text.
SECRET_PARAM_RE = re.compile(
    r"(?i)(\b(?:[a-z_]*token|jwt|password|secret)=)[^&\s\"'<>]+"
)
# Three base64url segments starting with a JSON header: a JWT wherever it appears.
JWT_RE = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
REDACTED = "[redacted]"
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def redact_secrets(text: str) -> str:
    """`text` with token-like query values and JWTs replaced by [redacted]."""
    if "=" in text:
        text = SECRET_PARAM_RE.sub(lambda m: m.group(1) + REDACTED, text)
    if "eyJ" in text:
        text = JWT_RE.sub(REDACTED, text)
    return text


class RedactSecrets(logging.Filter):
    """Rewrites a record whose rendered message carries a secret (never drops it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the logger's problem, not ours
            return True
        redacted = redact_secrets(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


_FILTER = RedactSecrets()


def install_secret_filter() -> None:
    """Attach the redaction filter to uvicorn's loggers and every root handler (idempotent).

    A logger's filters only see records created on that logger, so the uvicorn
    loggers get it directly; root handlers get it for records of any other logger.
    Call again after uvicorn has (re)configured logging.
    """
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
        for handler in logger.handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
    for handler in logging.getLogger().handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)


def mask_phone(value: str) -> str:
    """Keep the country code and the last 3 digits: +2547******123."""
    digits = value.lstrip("+")
    if len(digits) < 7:
        return "***"
    sign = "+" if value.startswith("+") else ""
    return sign + digits[:4] + "*" * (len(digits) - 7) + digits[-3:]


def _redact_secrets(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event.items()):
        if isinstance(value, str):
            event[key] = redact_secrets(value)
    return event


def _mask_phones(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event.items()):
        if isinstance(value, str) and key != "event" and PHONE_RE.search(value):
            event[key] = PHONE_RE.sub(lambda m: mask_phone(m.group(0)), value)
    return event


def configure(level: str = "INFO", fmt: str = "json") -> None:
    """Configure structlog and the stdlib root logger once per process."""
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _mask_phones,
            _redact_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level]),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    install_secret_filter()
