"""The WhatsApp webhook (feature): verification, signed deliveries, and the inbound worker.

GET answers Meta's verification handshake. POST accepts a delivery only with a
valid X-Hub-Signature-256 (HMAC-SHA256 of the raw body under the app secret,
compared in constant time); anything else is refused before it is parsed and
nothing is recorded. Accepted messages and statuses are stored in the request
(one transaction) and the handler answers 200 at once; replies are sent by the
inbound worker afterwards.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from server import metrics
from server.channels.whatsapp import inbound
from server.channels.whatsapp.channel import close_channel, get_channel
from server.channels.whatsapp.payloads import PayloadError, parse_webhook
from server.channels.whatsapp.statuses import record_statuses
from server.errors import ApiError
from server.state import AppState
from server.web.bodies import read_raw_body

log = structlog.get_logger(__name__)

MAX_BODY_BYTES = 1024 * 1024
CHALLENGE_MAX_CHARS = 256
SIGNATURE_PREFIX = "sha256="


def signature_of(secret: str, body: bytes) -> str:
    """The X-Hub-Signature-256 header value Meta sends for `body`."""
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """Constant-time check of the header against the body; False without a secret."""
    if not secret or not header:
        return False
    return hmac.compare_digest(signature_of(secret, body).encode(), header.strip().encode())


def _state(request: Request) -> AppState:
    state: AppState = request.app.state.mp
    if not state.settings.whatsapp_enabled:
        raise ApiError(404, "whatsapp_disabled", "The WhatsApp channel is not enabled.")
    return state


async def verify(request: Request) -> Response:
    """Meta's subscription handshake: echo hub.challenge when the verify token matches."""
    state = _state(request)
    q = request.query_params
    token = state.settings.whatsapp_verify_token
    given = q.get("hub.verify_token", "")
    challenge = q.get("hub.challenge", "")
    if (
        q.get("hub.mode") != "subscribe" or not token
        or not hmac.compare_digest(given.encode(), token.encode())
        or not challenge or len(challenge) > CHALLENGE_MAX_CHARS
    ):
        metrics.WA_WEBHOOK_REJECTED.labels("verify_token").inc()
        raise ApiError(403, "verify_token_invalid", "The verify token does not match.")
    return PlainTextResponse(challenge)


async def receive(request: Request) -> Response:
    """Store a signed delivery's messages and statuses, wake the worker, answer 200."""
    state = _state(request)
    body = await read_raw_body(request, MAX_BODY_BYTES)
    header = request.headers.get("x-hub-signature-256")
    if header is None:
        metrics.WA_WEBHOOK_REJECTED.labels("signature_missing").inc()
        raise ApiError(401, "signature_missing", "X-Hub-Signature-256 is required.")
    if not signature_ok(state.settings.whatsapp_app_secret, body, header):
        metrics.WA_WEBHOOK_REJECTED.labels("signature_invalid").inc()
        raise ApiError(401, "signature_invalid", "The signature does not match the body.")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "invalid_json", "The body is not valid JSON.") from exc
    try:
        batch = parse_webhook(data, phone_number_id=state.settings.whatsapp_phone_number_id or None)
    except PayloadError:
        log.info("whatsapp_webhook_ignored", object=str(data.get("object"))[:40]
                 if isinstance(data, dict) else None)
        return JSONResponse({"received": 0})
    async with state.pool.acquire() as conn, conn.transaction():
        new = await inbound.persist(conn, batch.messages)
        await record_statuses(conn, batch.statuses)
    for st in batch.statuses:
        metrics.WA_INBOUND.labels("status_" + st.status).inc()
    if new:
        get_channel(state).inbound_wakeup.set()
    return JSONResponse({"received": new, "statuses": len(batch.statuses)})


routes = [
    Route("/webhooks/whatsapp", verify, methods=["GET"]),
    Route("/webhooks/whatsapp", receive, methods=["POST"]),
]


async def startup(state: AppState) -> None:
    """Start the inbound worker on this node when the channel is enabled."""
    if not state.settings.whatsapp_enabled:
        return
    channel = get_channel(state)
    channel.tasks.append(state.spawn(
        inbound.run_forever(state, channel.sender, channel.inbound_wakeup), "whatsapp-inbound"
    ))


async def shutdown(state: AppState) -> None:
    await close_channel(state)
