"""Structured logs: JSON lines with a request or connection id, phone numbers masked."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

# A phone number stands alone: digits inside a longer token (a UUID, a hash) are not one.
PHONE_RE = re.compile(r"(?<![\w-])\+?\d{9,15}(?![\w-])")


def mask_phone(value: str) -> str:
    """Keep the country code and the last 3 digits: +2547******123."""
    digits = value.lstrip("+")
    if len(digits) < 7:
        return "***"
    sign = "+" if value.startswith("+") else ""
    return sign + digits[:4] + "*" * (len(digits) - 7) + digits[-3:]


def _mask_phones(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
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
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level]),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
