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
WA_INBOUND = Counter("matchpot_whatsapp_inbound_total", "WhatsApp inbound items", ["kind"])
WA_SENT = Counter("matchpot_whatsapp_sends_total", "WhatsApp send attempts by outcome", ["outcome"])
WA_WEBHOOK_REJECTED = Counter(
    "matchpot_whatsapp_webhook_rejected_total", "WhatsApp webhooks refused", ["reason"]
)
MPESA_REQUESTS = Counter(
    "matchpot_mpesa_requests_total", "Daraja API calls by operation and outcome", ["op", "outcome"]
)
MPESA_DEPOSITS = Counter("matchpot_mpesa_deposits_total", "STK deposits settled", ["state"])
MPESA_CALLBACKS = Counter("matchpot_mpesa_callbacks_total", "Daraja callbacks", ["kind", "outcome"])
QUICK_BETS = Counter("matchpot_quick_bets_total", "Quick-game bets placed", ["game", "channel"])
OTP_SENT = Counter("matchpot_otp_sent_total", "Login codes sent", ["sender"])
LOGINS = Counter("matchpot_logins_total", "Logins by kind and outcome", ["kind", "outcome"])
WALLET_EVENTS = Counter(
    "matchpot_wallet_events_total", "Deposit and withdrawal requests and decisions",
    ["kind", "event"],
)
GC_PAUSE = Histogram(
    "matchpot_gc_pause_seconds", "Cyclic garbage collection pauses by generation", ["generation"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5),
)
LOOP_LAG = Histogram(
    "matchpot_event_loop_lag_seconds",
    "How much later than asked the event loop woke a 50 ms probe (server/loop_lag.py)",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0),
)
