"""The outage log limiter and the classification of outage errors (server/logs.py)."""

from __future__ import annotations

from typing import Any

import asyncpg
from redis.exceptions import ConnectionError as RedisConnectionError

from matchmaking import ServiceUnavailable
from server.logs import RateLimitedLog, outage_kind


class Lines:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))


def test_one_line_per_kind_per_interval_with_the_suppressed_count() -> None:
    now = [0.0]
    out = Lines()
    limited = RateLimitedLog(out, interval_s=10.0, clock=lambda: now[0])
    for _ in range(1000):
        limited.warning("service_unavailable", "redis:queue_join", RedisConnectionError("x"))
    limited.warning("service_unavailable", "postgres:http")
    assert [f["kind"] for _, f in out.lines] == ["redis:queue_join", "postgres:http"]
    now[0] = 10.0
    limited.warning("service_unavailable", "redis:queue_join")
    assert out.lines[-1][1]["suppressed"] == 999


def test_outages_are_told_from_bugs_through_the_cause_chain() -> None:
    try:
        try:
            raise RedisConnectionError("Connection refused")
        except RedisConnectionError as exc:
            raise ServiceUnavailable("down") from exc
    except ServiceUnavailable as wrapped:
        assert outage_kind(wrapped) == "redis"
    assert outage_kind(asyncpg.exceptions.ConnectionDoesNotExistError("gone")) == "postgres"
    assert outage_kind(TimeoutError()) == "timeout"
    assert outage_kind(KeyError("bug")) is None
