"""Feature: the admin console's HTTP side (docs/console.md).

GET /admin/dashboard: live figures of every node (stats.py).
GET /admin/console/rooms: live rooms with player names and their latest snapshot.
GET /admin/players?q=, GET /admin/players/{id}, GET /admin/players/{id}/ledger,
POST /admin/players/{id}/suspend and /unsuspend (players.py).
The page itself is clients/web/admin.html with one ES module per screen.
"""

from __future__ import annotations

from typing import Any, Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.auth.deps import require_admin
from server.features.console import players, stats
from server.features.play.service import PLAY
from server.state import AppState

MAX_ROOMS: Final = 100  # rooms drawn on one console page


async def dashboard(request: Request) -> Response:
    state: AppState = request.app.state.mp
    await require_admin(request, *players.READERS)
    return JSONResponse(await stats.dashboard(state))


async def rooms(request: Request) -> Response:
    """Live rooms (every node) with names and each room's public snapshot."""
    state: AppState = request.app.state.mp
    await require_admin(request, *players.READERS)
    play = state.find(PLAY)
    if play is None:
        return JSONResponse({"items": [], "names": {}})
    listed = await play.directory.list_live(MAX_ROOMS)
    items: list[dict[str, Any]] = []
    for info in listed:
        entry = await play.directory.get(str(info["room_id"]))
        items.append({**info, "snapshot": entry.snapshot if entry else None})
    names = await players.names_of(state, [p for i in items for p in i.get("players", [])])
    return JSONResponse({"items": items, "names": names, "node": state.settings.node_id})


async def startup(state: AppState) -> None:
    state.spawn(stats.NodeSampler(state).run(), "console-node-figures")


routes = [
    Route("/admin/dashboard", dashboard, methods=["GET"]),
    Route("/admin/console/rooms", rooms, methods=["GET"]),
    Route("/admin/players", players.search, methods=["GET"]),
    Route("/admin/players/{user_id}", players.profile, methods=["GET"]),
    Route("/admin/players/{user_id}/ledger", players.ledger_page, methods=["GET"]),
    Route("/admin/players/{user_id}/suspend", players.suspend, methods=["POST"]),
    Route("/admin/players/{user_id}/unsuspend", players.unsuspend, methods=["POST"]),
]
