"""`/ws`: the websocket endpoint. Handshake, the reader loop, dispatch, limits.

Per socket there is one reader (this ASGI task, handling frames one at a time
in arrival order) and one writer task draining a bounded queue. The order of
checks on every frame is: size (1009), rate (rate_limited), decode
(malformed_frame), envelope (bad_frame / invalid_field), type (unknown_type),
then the handler. Bad frames cost a strike; too many strikes close with 1008.

The access token of `hello` bounds the socket's life: when it expires the hub
closes the socket (`token_expired`) unless the client sent `auth` with a fresh
token of the same player; a logout of its session closes it (`session_revoked`).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

import structlog
from starlette.routing import WebSocketRoute
from starlette.types import Receive, Scope, Send

from server import metrics
from server.auth import sessions
from server.auth.deps import MAX_TOKEN_CHARS, authenticate_token
from server.auth.tokens import Principal, TokenError
from server.auth.users import get_user
from server.errors import UNAVAILABLE, describe
from server.gateway import handlers as _builtin_handlers  # noqa: F401  (registers ping, balance)
from server.gateway.balances import read_balances
from server.gateway.connection import Connection
from server.gateway.hub import Hub, now_stamp_ns
from server.gateway.protocol import (
    Codec,
    MalformedFrame,
    Payload,
    ProtocolError,
    decode,
    encode,
    envelope,
    error_frame,
    safe_request_id,
)
from server.gateway.ratelimit import TokenBucket
from server.gateway.registry import disconnect_hooks, handler_for
from server.logs import log_outage, mask_phone, outage_kind
from server.state import AppState, Slot

log = structlog.get_logger(__name__)

HELLO_TIMEOUT_S: Final = 10.0  # capped by the idle timeout
BAD_FRAME_BURST: Final = 10  # bad frames tolerated at once ...
BAD_FRAME_REFILL_PER_S: Final = 1 / 6  # ... and one more every 6 s
DISCONNECT_HOOK_TIMEOUT_S: Final = 5.0

CLOSE_GOING_AWAY: Final = 1001
CLOSE_POLICY: Final = 1008
CLOSE_TOO_BIG: Final = 1009
CLOSE_INTERNAL: Final = 1011
CLOSE_TRY_AGAIN: Final = 1013

HUB: Slot[Hub] = Slot("gateway_hub", Hub)

_FRAMES_IN: dict[str, Any] = {}  # handled frame type -> its counter (labels() costs a lock)


def _count_in(t: str) -> None:
    """Count a handled frame; its type is a registered one, so the cache stays small."""
    counter = _FRAMES_IN.get(t)
    if counter is None:
        counter = _FRAMES_IN[t] = metrics.WS_FRAMES_IN.labels(t=t)
    counter.inc()


def hub_of(state: AppState) -> Hub:
    hub = state.need(HUB)
    assert isinstance(hub, Hub)
    return hub


def limits(state: AppState) -> dict[str, Any]:
    """The limits a client must respect, as announced in `welcome`."""
    s = state.settings
    return {
        "max_frame_bytes": s.ws_max_frame_bytes, "rate_per_s": s.ws_rate_per_s,
        "rate_burst": s.ws_rate_burst, "idle_timeout_s": s.ws_idle_timeout_s,
        "send_queue_max": s.ws_send_queue_max, "bad_frames_burst": BAD_FRAME_BURST,
    }


def _payload(message: MutableMapping[str, Any]) -> Payload | None:
    data = message.get("bytes")
    return data if data is not None else message.get("text")


class _Refused(Exception):
    """The handshake failed: send one error frame, then close with `close_code`."""

    def __init__(self, close_code: int, code: str, msg: str, rid: str | int | None = None) -> None:
        super().__init__(msg)
        self.close_code = close_code
        self.code = code
        self.msg = msg
        self.rid = rid


async def _refuse(send: Send, codec: Codec, refused: _Refused) -> None:
    metrics.ERRORS.labels(code=refused.code).inc()
    metrics.WS_CLOSED.labels(code=str(refused.close_code)).inc()
    payload = encode(error_frame(refused.code, refused.msg, refused.rid), codec)
    try:
        key = "bytes" if isinstance(payload, bytes) else "text"
        await send({"type": "websocket.send", key: payload})
        await send({"type": "websocket.close", "code": refused.close_code, "reason": refused.code})
    except OSError:
        pass


class GatewayEndpoint:
    """The ASGI app mounted at /ws."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state: AppState = scope["app"].state.mp
        hub = hub_of(state)
        if (await receive())["type"] != "websocket.connect":
            return
        conn_id = uuid.uuid4().hex[:16]
        with structlog.contextvars.bound_contextvars(conn_id=conn_id):
            await send({"type": "websocket.accept"})
            hub.open_sockets += 1
            metrics.WS_CONNECTIONS.inc()
            try:
                if state.draining:
                    await _refuse(send, "json", _Refused(
                        CLOSE_GOING_AWAY, "server_shutdown", "The server is restarting; reconnect.",
                    ))
                    return
                if hub.open_sockets > state.settings.ws_max_connections:
                    await _refuse(send, "json", _Refused(
                        CLOSE_TRY_AGAIN, "server_full",
                        "This server is at capacity; try again shortly.",
                    ))
                    return
                try:
                    await _session(state, hub, conn_id, receive, send)
                except Exception as exc:
                    # Postgres or Redis failed mid-handshake: say so instead of a bare drop.
                    code, reason = CLOSE_INTERNAL, "internal_error"
                    if outage_kind(exc) is not None:
                        log_outage(exc, "ws_session")
                        code, reason = CLOSE_TRY_AGAIN, "service_unavailable"
                    else:
                        log.exception("ws_session_failed")
                    with contextlib.suppress(Exception):
                        await send({"type": "websocket.close", "code": code, "reason": reason})
            finally:
                hub.open_sockets -= 1
                metrics.WS_CONNECTIONS.dec()


async def _hello(
    state: AppState, conn_id: str, receive: Receive, send: Send,
) -> tuple[Connection, str | int | None] | None:
    """Wait for `hello`, authenticate it, and build the connection; None if the peer left."""
    settings = state.settings
    codec: Codec = "json"  # until the client's first frame tells us its codec
    try:
        try:
            async with asyncio.timeout(min(HELLO_TIMEOUT_S, settings.ws_idle_timeout_s)):
                message = await receive()
        except TimeoutError:
            raise _Refused(
                CLOSE_POLICY, "hello_timeout", "Send 'hello' with a token first."
            ) from None
        if message["type"] != "websocket.receive":
            return None
        payload = _payload(message)
        if payload is None:
            return None
        codec = "msgpack" if isinstance(payload, bytes) else "json"
        if len(payload) > settings.ws_max_frame_bytes:
            raise _Refused(CLOSE_TOO_BIG, "frame_too_large", "The frame is too large.")
        try:
            value, codec = decode(payload)
            t, rid = envelope(value)
        except ProtocolError as exc:
            raise _Refused(CLOSE_POLICY, exc.code, exc.msg) from None
        if t != "hello":
            raise _Refused(CLOSE_POLICY, "hello_required", "The first frame must be 'hello'.", rid)
        token = value.get("token")
        if token is None:
            raise _Refused(CLOSE_POLICY, "token_missing", "'hello' needs an access 'token'.", rid)
        if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
            raise _Refused(CLOSE_POLICY, "token_invalid", "The access token is not valid.", rid)
        try:
            principal = await authenticate_token(state, token)
        except TokenError as exc:
            raise _Refused(CLOSE_POLICY, exc.code, exc.msg, rid) from None
        if principal.kind != "player":
            raise _Refused(CLOSE_POLICY, "forbidden", "Only player tokens may open /ws.", rid)
        user = await get_user(state.pool, principal.subject)
        if user is None:
            raise _Refused(CLOSE_POLICY, "token_invalid", "The token's player does not exist.", rid)
    except _Refused as refused:
        log.info("ws_refused", code=refused.code)
        await _refuse(send, codec, refused)
        return None
    metrics.WS_FRAMES_IN.labels(t="hello").inc()
    conn = Connection(
        state, user.id, conn_id, codec, send_queue_max=settings.ws_send_queue_max,
        stamp_ns=now_stamp_ns(), now_s=asyncio.get_running_loop().time(),
    )
    conn.profile = {
        "id": user.id, "phone": mask_phone(user.phone_e164), "display_name": user.display_name,
    }
    conn.session_id = principal.session_id
    conn.token_expires_s = principal.expires_at
    return conn, rid


async def _session(
    state: AppState, hub: Hub, conn_id: str, receive: Receive, send: Send,
) -> None:
    hello = await _hello(state, conn_id, receive, send)
    if hello is None:
        return
    conn, rid = hello
    structlog.contextvars.bind_contextvars(user_id=conn.user_id)
    conn.start_writer(send)
    try:
        await hub.add(conn)
        # Subscribed now: a logout from here on reaches this socket through the hub; one
        # that happened since `hello` was checked left its key, so look once more.
        if await sessions.is_revoked(state, conn.session_id):
            conn.close_with_error(
                CLOSE_POLICY, "session_revoked", "This session was logged out; log in again."
            )
        else:
            welcome: dict[str, Any] = {
                "t": "welcome", "user": conn.profile,
                "balances": await read_balances(state, conn.user_id),
                "server_time_ms": conn.state.clock.now_ms(), "conn_id": conn.conn_id,
                "node": state.settings.node_id, "money_mode": state.settings.money_mode,
                "limits": limits(state),
                "token_expires_at_ms": int(conn.token_expires_s * 1000),
            }
            if rid is not None:
                welcome["rid"] = rid
            if conn.send_welcome(welcome):
                hub.balances.changed(conn.user_id)
            log.info("ws_connected")
        await _read_loop(state, conn, receive)
    finally:
        await hub.remove(conn)
        await conn.stop_writer()
        await _run_disconnect_hooks(conn)
        log.info("ws_disconnected")


async def _run_disconnect_hooks(conn: Connection) -> None:
    for hook in disconnect_hooks():
        try:
            async with asyncio.timeout(DISCONNECT_HOOK_TIMEOUT_S):
                await hook(conn)
        except Exception:
            log.exception("ws_disconnect_hook_failed", hook=getattr(hook, "__qualname__", "?"))


async def _read_loop(state: AppState, conn: Connection, receive: Receive) -> None:
    settings = state.settings
    loop = asyncio.get_running_loop()
    rate = TokenBucket(settings.ws_rate_per_s, settings.ws_rate_burst, loop.time)
    strikes = TokenBucket(BAD_FRAME_REFILL_PER_S, BAD_FRAME_BURST, loop.time)
    max_frame_bytes = settings.ws_max_frame_bytes
    limited_in_a_row = 0
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return
        conn.last_rx_s = loop.time()
        payload = _payload(message)
        if payload is None or conn.closing:
            continue  # after a close is queued, frames are read and dropped until the peer closes
        if len(payload) > max_frame_bytes:
            conn.close_with_error(CLOSE_TOO_BIG, "frame_too_large", "The frame is too large.")
            continue
        if not rate.take():
            limited_in_a_row += 1
            metrics.WS_FRAMES_IN.labels(t="rate_limited").inc()
            if limited_in_a_row > settings.ws_rate_burst:
                conn.close_with_error(
                    CLOSE_POLICY, "rate_limited", "Too many frames, for too long; closing."
                )
                continue
            rid = None
            try:
                rid = safe_request_id(decode(payload)[0])
            except MalformedFrame:
                pass
            _reply_error(conn, conn.codec, "rate_limited",
                         f"At most {settings.ws_rate_per_s:g} frames per second; slow down.", rid)
            continue
        limited_in_a_row = 0
        await _dispatch(conn, payload, strikes)


def _reply_error(
    conn: Connection, codec: Codec, code: str, msg: str, rid: str | int | None,
) -> None:
    metrics.ERRORS.labels(code=code).inc()
    conn.send_payload(encode(error_frame(code, msg, rid), codec))


def _strike(
    conn: Connection, strikes: TokenBucket, codec: Codec, code: str, msg: str,
    rid: str | int | None,
) -> None:
    """Answer a bad frame; close with 1008 once the client keeps sending them."""
    _reply_error(conn, codec, code, msg, rid)
    if not strikes.take():
        conn.close_with_error(
            CLOSE_POLICY, "too_many_bad_frames", "Too many invalid frames; closing."
        )


async def _dispatch(conn: Connection, payload: Payload, strikes: TokenBucket) -> None:
    frames_in = metrics.WS_FRAMES_IN
    try:
        value, codec = decode(payload)
    except MalformedFrame as exc:
        frames_in.labels(t="malformed").inc()
        codec = "msgpack" if isinstance(payload, bytes) else "json"
        _strike(conn, strikes, codec, exc.code, exc.msg, None)
        return
    conn.codec = codec
    try:
        t, rid = envelope(value)
    except ProtocolError as exc:
        frames_in.labels(t="invalid").inc()
        _strike(conn, strikes, codec, exc.code, exc.msg, safe_request_id(value))
        return
    if t == "hello":
        frames_in.labels(t=t).inc()
        _reply_error(conn, codec, "already_authenticated",
                     "This connection has already said hello.", rid)
        return
    if t == "auth":
        frames_in.labels(t=t).inc()
        await _reauthenticate(conn, value, codec, rid)
        return
    handler = handler_for(t)
    if handler is None:
        frames_in.labels(t="unknown").inc()
        _strike(conn, strikes, codec, "unknown_type", f"Unknown message type {t!r}.", rid)
        return
    _count_in(t)
    try:
        reply = await handler(conn, value)
    except Exception as exc:
        problem = describe(exc)  # the one mapping of errors to codes and player sentences
        if problem is None and outage_kind(exc) is not None:  # wrapped outage (cause chain)
            problem = describe(TimeoutError())
        if problem is None:
            log.exception("ws_handler_failed", t=t)
            _reply_error(conn, codec, "internal_error", "Something went wrong on our side.", rid)
        elif problem.code == "invalid_field":
            _strike(conn, strikes, codec, problem.code, problem.msg, rid)
        else:
            if problem.code == UNAVAILABLE:
                log_outage(exc, t)
            _reply_error(conn, codec, problem.code, problem.msg, rid)
        return
    if reply is None:
        if rid is None:
            return
        reply = {"t": "ok"}
    reply.setdefault("t", "ok")
    if rid is not None:
        reply["rid"] = rid
    conn.send_payload(encode(reply, codec))


async def _reauthenticate(
    conn: Connection, frame: dict[str, Any], codec: Codec, rid: str | int | None,
) -> None:
    """`auth`: a fresh access token of the same player extends the socket past the first
    token's expiry. A refused token leaves the socket as it was (it still ends at the old
    expiry), so a client can retry with another token."""
    token = frame.get("token")
    if not isinstance(token, str):
        _reply_error(conn, codec, "token_missing", "'auth' needs an access 'token'.", rid)
        return
    try:
        principal: Principal = await authenticate_token(conn.state, token)
    except TokenError as exc:
        _reply_error(conn, codec, exc.code, exc.msg, rid)
        return
    if principal.kind != "player" or principal.subject != conn.user_id:
        _reply_error(conn, codec, "forbidden", "The token is not for this connection's player.",
                     rid)
        return
    conn.session_id = principal.session_id
    conn.token_expires_s = principal.expires_at
    reply: dict[str, Any] = {"t": "authed", "token_expires_at_ms": principal.expires_at * 1000}
    if rid is not None:
        reply["rid"] = rid
    conn.send_payload(encode(reply, codec))


async def startup(state: AppState) -> None:
    hub = Hub(state)
    await hub.start()
    state.provide(HUB, hub)


async def shutdown(state: AppState) -> None:
    hub = state.drop(HUB)
    if isinstance(hub, Hub):
        await hub.close()


_endpoint: Callable[[Scope, Receive, Send], Awaitable[None]] = GatewayEndpoint()
routes = [WebSocketRoute("/ws", _endpoint)]
