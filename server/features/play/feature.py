"""Feature: live play on this node (pairing loop, rooms, drain) plus its HTTP routes.

HTTP: GET /games (the room kinds offered here, public), GET /duels/history
(player), GET /admin/rooms and /admin/rooms/{id}, POST /admin/rooms/{id}/signal
(an operator's instruction to a live room on this node, audited)
(admin, any node's rooms from the Redis directory), and /admin/ws, where an
admin spectates a room hosted on this node.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Any

import structlog
from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from rooms.api import Signal
from rooms.errors import RoomError
from rooms.history import BadCursor, duel_history
from server.admin.audit import audit
from server.auth.deps import authenticate_admin_token, require_admin, require_player
from server.auth.tokens import TokenError
from server.errors import ApiError
from server.features.play import demo_bot
from server.features.play.service import PLAY, PlayService, service
from server.features.play.ws import route_game_messages
from server.state import GAME_LIST, AppState
from server.web.bodies import StrictBody, read_body

log = structlog.get_logger(__name__)

SPECTATOR_QUEUE_MAX = 512
ADMIN_RECHECK_S = 5.0  # an open admin socket re-checks its token and admin this often
ADMIN_FRAME_MAX_BYTES = 4096


async def history_http(request: Request) -> JSONResponse:
    principal = await require_player(request)
    try:
        limit = int(request.query_params.get("limit", "20"))
    except ValueError as exc:
        raise ApiError(400, "invalid_request", "limit must be a whole number") from exc
    if not 1 <= limit <= 100:
        raise ApiError(400, "invalid_request", "limit must be 1 to 100")
    before = request.query_params.get("before")
    try:
        items = await duel_history(request.app.state.mp.pool, principal.subject, limit, before)
    except BadCursor as exc:
        raise ApiError(400, "bad_cursor", str(exc)) from exc
    return JSONResponse({
        "items": [i.to_dict() for i in items],
        "next": items[-1].cursor if len(items) == limit else None,
    })


async def games_http(request: Request) -> JSONResponse:
    """Every room kind this server offers, with its stake tiers (the PWA's game list)."""
    return JSONResponse({"items": service(request.app.state.mp).describe()})


async def my_rooms_http(request: Request) -> JSONResponse:
    """The caller's live rooms on any node (the same list as the `my_rooms` message)."""
    from server.features.play import mine

    principal = await require_player(request)
    state: AppState = request.app.state.mp
    items = await mine.live_rooms(state, service(state).directory, principal.subject)
    return JSONResponse({"items": items})


async def rooms_http(request: Request) -> JSONResponse:
    await require_admin(request, "viewer", "operator", "finance")
    play = service(request.app.state.mp)
    items = await play.directory.list_live(200)
    return JSONResponse({"items": items})


async def room_http(request: Request) -> JSONResponse:
    await require_admin(request, "viewer", "operator", "finance")
    entry = await service(request.app.state.mp).directory.get(request.path_params["room_id"])
    if entry is None:
        raise ApiError(404, "room_not_found", "That room is not live.")
    return JSONResponse({"info": entry.info, "snapshot": entry.snapshot})


class SignalBody(StrictBody):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    payload: dict[str, Any] = Field(default_factory=dict)
    reason: str = Field(min_length=1, max_length=500)


async def room_signal_http(request: Request) -> JSONResponse:
    """Send a signal (e.g. a ruling) into a live room; the game answers or refuses it.

    The room must live on this node (the directory says which node does). The
    signal is audited before it is delivered, with the reason the operator gave.
    """
    admin = await require_admin(request, "operator")
    body = await read_body(request, SignalBody)
    state: AppState = request.app.state.mp
    room_id = request.path_params["room_id"]
    play = service(state)
    room = play.rooms.find(room_id)
    if room is None:
        entry = await play.directory.get(room_id)
        if entry is not None and entry.info.get("node") != state.settings.node_id:
            raise ApiError(409, "wrong_node", f"That room lives on node {entry.info['node']}.")
        raise ApiError(404, "room_not_found", "That room is not live.")
    async with state.pool.acquire() as conn, conn.transaction():
        await audit(conn, admin.subject, "room.signal", f"room:{room_id}",
                    {"name": body.name, "reason": body.reason, "payload": body.payload})
    try:
        answer = await room.signal(Signal(body.name, body.payload, sender=f"admin:{admin.subject}"))
    except RoomError as exc:
        raise ApiError(409, exc.code, exc.message) from exc
    return JSONResponse({"room_id": room_id, "answer": answer})


async def admin_ws(websocket: WebSocket) -> None:
    """Spectate: {"t":"hello","token"} then {"t":"spectate","room_id"}; JSON text frames."""
    state: AppState = websocket.app.state.mp
    await websocket.accept()
    conn_id = "adm-" + uuid.uuid4().hex[:12]
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(SPECTATOR_QUEUE_MAX)
    watching: list[Any] = []
    guards: list[asyncio.Task[None]] = []

    def push(frame: dict[str, Any]) -> None:
        try:
            outbox.put_nowait(frame)
        except asyncio.QueueFull:
            log.warning("spectator_too_slow", conn=conn_id)

    async def writer() -> None:
        while True:
            await websocket.send_text(json.dumps(await outbox.get(), default=str))

    writer_task = asyncio.create_task(writer())
    try:
        async with asyncio.timeout(10):
            hello = await websocket.receive_text()
        try:
            frame = json.loads(hello) if len(hello) <= ADMIN_FRAME_MAX_BYTES else {}
            principal = await authenticate_admin_token(state, str(frame.get("token", "")))
        except (ValueError, AttributeError, TokenError):
            push({"t": "error", "code": "token_invalid", "msg": "Send hello with an admin token."})
            await asyncio.sleep(0.05)
            await websocket.close(1008)
            return
        if principal.kind != "admin":
            await websocket.close(1008)
            return
        push({"t": "welcome", "admin": principal.subject, "node": state.settings.node_id})
        token = str(frame.get("token", ""))

        async def still_allowed() -> bool:
            """A disabled admin, a revoked session or an expired token ends spectating."""
            try:
                await authenticate_admin_token(state, token)
            except TokenError as exc:
                push({"t": "error", "code": exc.code, "msg": exc.msg})
                await asyncio.sleep(0.05)  # let the writer send the reason before the close
                await websocket.close(1008)
                return False
            return True

        async def guard() -> None:
            while True:
                await asyncio.sleep(ADMIN_RECHECK_S)  # a periodic re-check, not a wait loop
                if not await still_allowed():
                    return

        guard_task = asyncio.create_task(guard())
        guards.append(guard_task)
        while True:
            text = await websocket.receive_text()
            if not await still_allowed():
                return
            if len(text) > ADMIN_FRAME_MAX_BYTES:
                await websocket.close(1009)
                return
            try:
                frame = json.loads(text)
                room_id = frame["room_id"] if frame.get("t") == "spectate" else None
            except (ValueError, KeyError, TypeError, AttributeError):
                room_id = None
            if not isinstance(room_id, str):
                push({"t": "error", "code": "bad_frame", "msg": "Send {t: spectate, room_id}."})
                continue
            room = service(state).rooms.find(room_id)
            if room is None:
                push({"t": "error", "code": "room_not_found",
                      "msg": "That room is not live on this node."})
                continue
            try:
                await room.watch(conn_id, push)
            except RoomError as exc:
                push({"t": "error", "code": exc.code, "msg": exc.message})
                continue
            watching.append(room)
    except (WebSocketDisconnect, TimeoutError):
        pass
    finally:
        for task in (writer_task, *guards):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        for room in watching:
            with contextlib.suppress(Exception):
                await room.leave(None, conn_id)


async def startup(state: AppState) -> None:
    play = PlayService(state)
    route_game_messages(play)
    state.provide(PLAY, play)
    state.provide(GAME_LIST, play.describe())
    await play.start()
    if state.settings.demo and "quiz" in play.kinds:
        state.spawn(demo_bot.run(state, play), "demo-bot")


async def shutdown(state: AppState) -> None:
    play = state.find(PLAY)
    if play is not None:
        await play.stop()


routes = [
    Route("/games", games_http),
    Route("/duels/history", history_http),
    Route("/me/rooms", my_rooms_http),
    Route("/admin/rooms", rooms_http),
    Route("/admin/rooms/{room_id}", room_http),
    Route("/admin/rooms/{room_id}/signal", room_signal_http, methods=["POST"]),
    WebSocketRoute("/admin/ws", admin_ws),
]
