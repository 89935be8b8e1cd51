"""Serves the PWA, the admin page and the public client configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from server.state import GAME_LIST, AppState

DEFAULT_WEB_DIR = Path(__file__).resolve().parents[2] / "clients" / "web"


def web_dir(state: AppState) -> Path:
    return state.settings.web_dir or DEFAULT_WEB_DIR


def _file(name: str, media_type: str | None = None) -> object:
    async def endpoint(request: Request) -> Response:
        path = web_dir(request.app.state.mp) / name
        if not path.exists():
            return JSONResponse({"code": "not_found", "msg": f"{name} is not installed"}, 404)
        headers = {"Cache-Control": "no-cache"}
        return FileResponse(path, media_type=media_type, headers=headers)

    return endpoint


async def public_config(request: Request) -> JSONResponse:
    """What a client needs before login: currency, wording mode, the games and their stakes."""
    mp: AppState = request.app.state.mp
    s = mp.settings
    found = mp.find(GAME_LIST)
    games: list[dict[str, Any]] = list(found) if found is not None else []
    quiz = next((g for g in games if g["name"] == "quiz"), None)
    body: dict[str, object] = {
        "currency": s.currency,
        "money_mode": s.money_mode,
        "minor_per_unit": 100,
        "games": games,
        "quiz_stakes_minor": list(quiz["stakes_minor"]) if quiz else [],
        "node_id": s.node_id,
        "demo": s.demo,
        "limits": {  # wallet request bounds, for the app's hints
            "deposit_min_minor": s.deposit_min_minor, "deposit_max_minor": s.deposit_max_minor,
            "withdraw_min_minor": s.withdraw_min_minor, "withdraw_max_minor": s.withdraw_max_minor,
        },
        "whatsapp": {
            "enabled": s.whatsapp_enabled,
            "simulator": "/demo/whatsapp" if s.demo and s.whatsapp_enabled else None,
        },
    }
    return JSONResponse(body)


class _Static(StaticFiles):
    """StaticFiles whose directory is resolved from settings at start-up."""

    def __init__(self) -> None:
        super().__init__(directory=None, check_dir=False)

    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        if self.directory is None:
            self.directory = str(web_dir(scope["app"].state.mp))
            self.all_directories = self.get_directories(self.directory, None)
        await super().__call__(scope, receive, send)


routes = [
    Route("/", _file("index.html", "text/html")),  # type: ignore[arg-type]
    Route("/admin", _file("admin.html", "text/html")),  # type: ignore[arg-type]
    Route("/sw.js", _file("sw.js", "text/javascript")),  # type: ignore[arg-type]
    Route("/config", public_config),
    Mount("/static", app=_Static(), name="static"),
]
