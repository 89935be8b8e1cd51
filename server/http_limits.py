"""Limits on the HTTP layer below Starlette: how long and how large a request's headers
may be.

Uvicorn has a keep-alive timeout between requests but none while a request's
headers are arriving: a client that opens a connection and sends half a request
line or half a websocket handshake holds a connection (and counts against
`limit_concurrency`) forever, and with the httptools parser there is no cap on
the header size either. `guarded_http_protocol()` returns uvicorn's httptools
protocol with both limits: the headers of every request (the first one from the
moment the connection is made, later ones from their first byte) must be
complete within `header_timeout_s` and `max_header_bytes`, or the connection is
closed. The websocket upgrade happens once the headers are complete, so the
opening handshake is covered too.

A reverse proxy in front (deploy/nginx.conf) has the same protection through
nginx's `client_header_timeout` (60 s by default) and header buffer limits.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

log = structlog.get_logger(__name__)


def guarded_http_protocol(header_timeout_s: float, max_header_bytes: int) -> type[Any] | None:
    """Uvicorn's httptools protocol with header limits, or None without httptools
    (uvicorn's h11 protocol then applies `h11_max_incomplete_event_size`, not the timeout)."""
    assert header_timeout_s > 0 and max_header_bytes > 0
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return None

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        """HttpToolsProtocol that closes connections whose headers are too slow or too big."""

        _header_timer: asyncio.TimerHandle | None = None
        _header_bytes = 0
        _awaiting_headers = False

        def _arm(self) -> None:
            self._disarm()
            self._awaiting_headers = True
            self._header_bytes = 0
            self._header_timer = self.loop.call_later(header_timeout_s, self._headers_too_slow)

        def _disarm(self) -> None:
            self._awaiting_headers = False
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if self._awaiting_headers and not self.transport.is_closing():
                log.info("http_header_timeout", client=_client(self.client))
                self.transport.close()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._awaiting_headers:
                self._header_bytes += len(data)
                if self._header_bytes > max_header_bytes and not self.transport.is_closing():
                    log.info("http_headers_too_large", client=_client(self.client))
                    self._disarm()
                    self.transport.close()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if not self._awaiting_headers:
                self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

    return GuardedHttpToolsProtocol


def _client(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "?"
