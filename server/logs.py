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
import time
from collections.abc import Callable, MutableMapping
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


def outage_kind(exc: BaseException) -> str | None:
    """'redis' or 'postgres' if `exc` means that service is down or too slow, else None.

    These are the failures a client should see as `service_unavailable` (retry later), not
    as `internal_error` (a bug): a lost or refused connection, or a bounded wait running out.
    """
    import asyncpg
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:  # the cause chain, bounded
        seen.add(id(current))
        if isinstance(current, RedisConnectionError | RedisTimeoutError):
            return "redis"
        if isinstance(current, asyncpg.PostgresConnectionError
                      | asyncpg.exceptions.ConnectionDoesNotExistError
                      | asyncpg.exceptions.QueryCanceledError
                      | asyncpg.exceptions.LockNotAvailableError
                      | asyncpg.exceptions.CannotConnectNowError):
            return "postgres"
        if isinstance(current, TimeoutError | ConnectionError):  # pool acquire, sockets
            return "timeout" if isinstance(current, TimeoutError) else "connection"
        current = current.__cause__ or current.__context__
    return None


class RateLimitedLog:
    """One structured line per failure kind per `interval_s`, carrying how many were dropped.

    An outage fails every request the same way; one traceback per request filled a MiB of
    log in seconds. This logs the first failure of a kind at once (no traceback: the kind,
    the exception type and message say it), then at most one line per interval with
    `suppressed` = how many were left out since the last line.
    """

    MAX_KINDS = 256

    def __init__(
        self, logger: Any, interval_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        assert interval_s > 0
        self._log = logger
        self._interval_s = interval_s
        self._clock = clock
        self._state: dict[str, tuple[float, int]] = {}  # kind -> (last line at, suppressed)

    def warning(self, event: str, kind: str, exc: BaseException | None = None,
                **fields: Any) -> bool:
        """Log `event` for `kind` unless one was logged within the interval; True if logged."""
        now = self._clock()
        last, suppressed = self._state.get(kind, (float("-inf"), 0))
        if now - last < self._interval_s:
            self._state[kind] = (last, suppressed + 1)
            return False
        if kind not in self._state and len(self._state) >= self.MAX_KINDS:
            self._state.clear()  # bounded: forget old kinds rather than grow
        self._state[kind] = (now, 0)
        if exc is not None:
            fields.update(error=type(exc).__name__, detail=str(exc)[:300])
        self._log.warning(event, kind=kind, suppressed=suppressed, **fields)
        return True


_OUTAGE_LOG: RateLimitedLog | None = None


def outage_log(logger: Any = None, interval_s: float | None = None) -> RateLimitedLog:
    """The process's shared limiter for outage lines (one per kind per interval)."""
    global _OUTAGE_LOG
    if _OUTAGE_LOG is None or interval_s is not None:
        _OUTAGE_LOG = RateLimitedLog(
            logger or structlog.get_logger("matchpot.outage"), interval_s or 10.0
        )
    return _OUTAGE_LOG


def log_outage(exc: BaseException, where: str, **fields: Any) -> str:
    """Record one outage failure (rate limited) and return its kind ('redis', 'postgres')."""
    kind = outage_kind(exc) or "service"
    outage_log().warning("service_unavailable", f"{kind}:{where}:{type(exc).__name__}",
                         exc, service=kind, where=where, **fields)
    return kind
