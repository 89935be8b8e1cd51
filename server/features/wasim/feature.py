"""Feature: try the WhatsApp channel without a Meta app, in demo mode only.

See docs/whatsapp-simulator.md.

`matchpot serve --demo` turns the WhatsApp channel on with demo credentials
(`demo_env`) and points its Graph API base at this very server, where
`POST /demo/graph/{version}/{phone_number_id}/messages` stands in for Meta: it
checks the bearer token and the body's shape, records the message, and answers
with a wamid as Meta does. The chat page (`/demo/whatsapp`) builds webhook
deliveries shaped as Meta's, signs them in the browser with the app secret
(HMAC-SHA256, header X-Hub-Signature-256) and posts them to the real
`/webhooks/whatsapp`; it then shows the replies the stand-in received.

Nothing here runs outside demo mode (every route answers 404), and the stand-in
answers only loopback callers.
"""

from __future__ import annotations

import itertools
import os
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from server.errors import ApiError
from server.state import AppState, Slot
from server.web.static import web_dir

MAX_RECORDED: Final = 2_000
MAX_PAGE: Final = 100
LOOPBACK: Final = frozenset({"127.0.0.1", "::1", "localhost"})
WA_ID = re.compile(r"^[1-9][0-9]{6,14}$")
DEMO_APP_SECRET: Final = "demo-app-secret-not-for-production"
DEMO_ACCESS_TOKEN: Final = "demo-graph-token"
DEMO_PHONE_NUMBER_ID: Final = "100000000000001"
DEMO_VERIFY_TOKEN: Final = "demo-verify"


def demo_env(host: str, port: int) -> dict[str, str]:
    """Environment defaults that turn the channel on against this server's stand-in.

    The CLI applies them in demo mode unless the operator configured WhatsApp.
    """
    loop_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return {
        "MATCHPOT_WHATSAPP_ENABLED": "1",
        "MATCHPOT_WHATSAPP_APP_SECRET": DEMO_APP_SECRET,
        "MATCHPOT_WHATSAPP_ACCESS_TOKEN": DEMO_ACCESS_TOKEN,
        "MATCHPOT_WHATSAPP_PHONE_NUMBER_ID": DEMO_PHONE_NUMBER_ID,
        "MATCHPOT_WHATSAPP_VERIFY_TOKEN": DEMO_VERIFY_TOKEN,
        "MATCHPOT_WHATSAPP_API_BASE": f"http://{loop_host}:{port}/demo/graph",
        "MATCHPOT_WHATSAPP_PAIR_INTERVAL_S": "0",
    }


def apply_demo_env(host: str, port: int) -> None:
    """Set `demo_env` into os.environ where WhatsApp is not configured already."""
    if "MATCHPOT_WHATSAPP_ENABLED" in os.environ:
        return
    for key, value in demo_env(host, port).items():
        os.environ.setdefault(key, value)


@dataclass
class Outbox:
    """Messages the stand-in received, oldest first, bounded."""

    items: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MAX_RECORDED))
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


SIM: Slot[Outbox] = Slot("whatsapp_simulator", Outbox)


def _enabled(request: Request) -> AppState:
    state: AppState = request.app.state.mp
    s = state.settings
    if not (s.demo and s.whatsapp_enabled):
        raise ApiError(404, "not_found", "The WhatsApp simulator runs in demo mode only.")
    return state


async def graph_messages(request: Request) -> Response:
    """The Graph API stand-in: Meta's answer shape, Meta's auth check, loopback callers only."""
    state = _enabled(request)
    client = request.client.host if request.client else ""
    if client not in LOOPBACK:
        raise ApiError(403, "forbidden", "The stand-in answers only this machine.")
    if request.path_params["phone_id"] != state.settings.whatsapp_phone_number_id:
        raise ApiError(404, "not_found", "Unknown phone number id.")
    if request.headers.get("authorization") != f"Bearer {state.settings.whatsapp_access_token}":
        return JSONResponse({"error": {"message": "Invalid OAuth access token.", "code": 190}},
                            401)
    body = await request.json()
    to = body.get("to") if isinstance(body, dict) else None
    if not isinstance(to, str) or not WA_ID.match(to) or body.get("messaging_product") != \
            "whatsapp":
        return JSONResponse({"error": {"message": "Invalid parameter", "code": 100}}, 400)
    sim = state.find(SIM) or state.provide(SIM, Outbox())
    n = next(sim.counter)
    wamid = f"wamid.SIM{n:010d}"
    sim.items.append({"n": n, "to": to, "wamid": wamid, "body": body,
                      "at_ms": state.clock.now_ms()})
    return JSONResponse({"messaging_product": "whatsapp",
                         "contacts": [{"input": to, "wa_id": to}],
                         "messages": [{"id": wamid}]})


async def sim_config(request: Request) -> Response:
    """What the chat page needs to sign deliveries as Meta does (demo secrets only)."""
    state = _enabled(request)
    s = state.settings
    return JSONResponse({"app_secret": s.whatsapp_app_secret,
                         "phone_number_id": s.whatsapp_phone_number_id,
                         "webhook": "/webhooks/whatsapp", "currency": s.currency,
                         "money_mode": s.money_mode})


async def replies(request: Request) -> Response:
    """Messages the stand-in received for ?to=<wa_id>, after ?after=<n>."""
    state = _enabled(request)
    to = request.query_params.get("to", "")
    after = request.query_params.get("after", "0")
    if not WA_ID.match(to) or not after.isdigit():
        raise ApiError(400, "invalid_request", "Give to=<digits of the number> and after=<n>.")
    sim = state.find(SIM)
    items = [i for i in (sim.items if sim else []) if i["to"] == to and i["n"] > int(after)]
    return JSONResponse({"items": items[:MAX_PAGE]})


async def page(request: Request) -> Response:
    state = _enabled(request)
    path = web_dir(state) / "whatsapp.html"
    if not path.exists():
        raise ApiError(404, "not_found", "whatsapp.html is not installed.")
    return FileResponse(path, media_type="text/html", headers={"Cache-Control": "no-cache"})


async def startup(state: AppState) -> None:
    if state.settings.demo and state.settings.whatsapp_enabled:
        state.provide(SIM, Outbox())


routes = [
    Route("/demo/graph/{version}/{phone_id}/messages", graph_messages, methods=["POST"]),
    Route("/demo/whatsapp", page, methods=["GET"]),
    Route("/demo/whatsapp/config", sim_config, methods=["GET"]),
    Route("/demo/whatsapp/replies", replies, methods=["GET"]),
]
