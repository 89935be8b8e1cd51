"""Every Prometheus metric of the process, in one place."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

WS_CONNECTIONS = Gauge("matchpot_ws_connections", "Open websocket connections")
WS_FRAMES_IN = Counter("matchpot_ws_frames_in_total", "Frames received", ["t"])
WS_FRAMES_OUT = Counter("matchpot_ws_frames_out_total", "Frames sent")
WS_CLOSED = Counter("matchpot_ws_closed_total", "Websocket closes by code", ["code"])
ERRORS = Counter("matchpot_errors_total", "Errors returned to clients by stable code", ["code"])
LEDGER_TRANSFERS = Counter("matchpot_ledger_transfers_total", "Ledger transfers committed")
HTTP_REQUESTS = Counter("matchpot_http_requests_total", "HTTP requests", ["method", "status"])
HTTP_LATENCY = Histogram("matchpot_http_request_seconds", "HTTP request latency")
ROOMS_LIVE = Gauge("matchpot_rooms_live", "Live rooms on this node")
MATCHES_MADE = Counter("matchpot_matches_total", "Pairs made by matchmaking", ["game"])
OUTBOX_SENT = Counter("matchpot_outbox_sent_total", "Outbox messages delivered", ["channel"])
