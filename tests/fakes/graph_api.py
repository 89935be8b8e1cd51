"""A stand-in for Meta's Graph API /messages endpoint on 127.0.0.1, for tests.

It checks every request the way the real API would (path, bearer token, JSON
shape, WhatsApp's button/list/text limits) and answers from a scriptable queue:

    fake.script("throughput", "ok")   # 429 with code 130429, then 200 with a wamid

Actions: "ok" (200 + wamid), "throughput" (429, 130429), "pair_rate" (400, 131056),
"server_error" (500, 131000), "bad_request" (400, 100), ("hang", seconds) (answer
200 only after `seconds`: an ambiguous timeout for a client that gave up).
A queue per recipient (`script(..., to=phone)`) goes first, so other traffic
cannot consume a test's script. When the queues are empty `default_action` answers.

Media: `media_id = fake.add_media(data, "image/jpeg")` serves the file the way the
real API does: `GET /{version}/{media_id}` (bearer token) answers its `url`,
`mime_type`, `sha256` and `file_size`; `GET <url>` (bearer token) answers the bytes.
`media_down = True` answers both with 500 (the API is down).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support import free_port
from tests.waiting import eventually

Action = str | tuple[str, float]
MAX_HANG_S = 30.0
MAX_RECORDED = 10_000

ERRORS: dict[str, tuple[int, int, str]] = {
    "throughput": (429, 130429, "Rate limit hit"),
    "pair_rate": (400, 131056, "(Business Account, Consumer Account) pair rate limit hit"),
    "server_error": (500, 131000, "Something went wrong"),
    "bad_request": (400, 100, "Invalid parameter"),
}


@dataclass
class Recorded:
    """One request as the fake saw it, and what it answered."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    status: int = 0
    wamid: str | None = None
    problems: list[str] = field(default_factory=list)
    at_s: float = 0.0

    @property
    def key(self) -> str | None:
        value = self.body.get("biz_opaque_callback_data")
        return value if isinstance(value, str) else None

    @property
    def text(self) -> str:
        """The human text of the message, whatever its type."""
        b = self.body
        if b.get("type") == "text":
            return str(b["text"]["body"])
        if b.get("type") == "interactive":
            return str(b["interactive"]["body"]["text"])
        if b.get("type") == "template":
            comps = b["template"].get("components", [])
            return " ".join(p["text"] for c in comps for p in c.get("parameters", []))
        return ""


def _check_len(problems: list[str], what: str, value: Any, limit: int) -> None:
    if not isinstance(value, str) or not value or len(value) > limit:
        problems.append(f"{what} must be 1-{limit} characters, got {value!r}")


def shape_problems(body: Any) -> list[str]:
    """What the real API would refuse in this body (the limits WhatsApp documents)."""
    if not isinstance(body, dict):
        return ["body is not a JSON object"]
    p: list[str] = []
    if body.get("messaging_product") != "whatsapp":
        p.append("messaging_product must be 'whatsapp'")
    to = body.get("to")
    if not isinstance(to, str) or not to.lstrip("+").isdigit():
        p.append("to must be a phone number")
    kind = body.get("type")
    if kind == "text":
        _check_len(p, "text.body", body.get("text", {}).get("body"), 4096)
    elif kind == "interactive":
        inter = body.get("interactive", {})
        _check_len(p, "interactive.body.text", inter.get("body", {}).get("text"), 1024)
        action = inter.get("action", {})
        if inter.get("type") == "button":
            buttons = action.get("buttons", [])
            if not 1 <= len(buttons) <= 3:
                p.append(f"1-3 buttons allowed, got {len(buttons)}")
            for b in buttons:
                _check_len(p, "button title", b.get("reply", {}).get("title"), 20)
                _check_len(p, "button id", b.get("reply", {}).get("id"), 256)
        elif inter.get("type") == "list":
            _check_len(p, "list button", action.get("button"), 20)
            rows = [r for s in action.get("sections", []) for r in s.get("rows", [])]
            if not 1 <= len(rows) <= 10:
                p.append(f"1-10 list rows allowed, got {len(rows)}")
            for r in rows:
                _check_len(p, "row title", r.get("title"), 24)
                _check_len(p, "row id", r.get("id"), 200)
                if "description" in r:
                    _check_len(p, "row description", r["description"], 72)
        else:
            p.append(f"unknown interactive type {inter.get('type')!r}")
    elif kind == "template":
        tpl = body.get("template", {})
        if not tpl.get("name") or not tpl.get("language", {}).get("code"):
            p.append("template needs a name and a language code")
    else:
        p.append(f"unknown message type {kind!r}")
    return p


class FakeGraphApi:
    """Run with `async with FakeGraphApi() as fake:`; point whatsapp_api_base at fake.url."""

    def __init__(
        self, token: str = "test-token", phone_number_id: str = "1234567890",
        version: str = "v21.0",
    ) -> None:
        self.token = token
        self.phone_number_id = phone_number_id
        self.version = version
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests: list[Recorded] = []
        self.queue: deque[Action] = deque()
        self.queues_to: dict[str, deque[Action]] = {}
        self.default_action: Action = "ok"
        self._ids = itertools.count(1)
        self.media: dict[str, tuple[bytes, str]] = {}
        self.media_requests: list[str] = []  # paths of media lookups and downloads
        self.media_down = False
        self._media_ids = itertools.count(int(time.time()) % 100_000 * 1000 + 1)
        self._changed = asyncio.Condition()
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    def script(self, *actions: Action, to: str | None = None) -> None:
        """Queue answers: for any request, or only for requests to the number `to`."""
        if to is None:
            self.queue.extend(actions)
        else:
            self.queues_to.setdefault(to.lstrip("+"), deque()).extend(actions)

    def _next_action(self, to: object) -> Action:
        own = self.queues_to.get(str(to))
        if own:
            return own.popleft()
        return self.queue.popleft() if self.queue else self.default_action

    def add_media(self, data: bytes, mime_type: str) -> str:
        """Serve `data` as a media object; returns its media id (digits, as Meta's are)."""
        media_id = str(next(self._media_ids))
        self.media[media_id] = (data, mime_type)
        return media_id

    def _media_auth(self, request: Request) -> Response | None:
        if len(self.media_requests) < MAX_RECORDED:
            self.media_requests.append(request.url.path)
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return JSONResponse({"error": {"code": 190, "message": "Invalid OAuth access token"}},
                                status_code=401)
        if self.media_down:
            return JSONResponse({"error": {"code": 131000, "message": "Something went wrong"}},
                                status_code=500)
        return None

    async def _media_info(self, request: Request) -> Response:
        refused = self._media_auth(request)
        if refused is not None:
            return refused
        media_id = request.path_params["media_id"]
        if media_id not in self.media:
            return JSONResponse({"error": {"code": 100, "message": "Unknown media"}},
                                status_code=404)
        data, mime = self.media[media_id]
        return JSONResponse({
            "messaging_product": "whatsapp", "id": media_id, "mime_type": mime,
            "sha256": hashlib.sha256(data).hexdigest(), "file_size": len(data),
            "url": f"{self.url}/download/{media_id}",
        })

    async def _media_download(self, request: Request) -> Response:
        refused = self._media_auth(request)
        if refused is not None:
            return refused
        found = self.media.get(request.path_params["media_id"])
        if found is None:
            return Response(status_code=404)
        return Response(found[0], media_type=found[1])

    def accepted(self, key: str | None = None) -> list[Recorded]:
        """Requests answered 200 (optionally only those carrying `key`)."""
        return [r for r in self.requests if r.status == 200 and (key is None or r.key == key)]

    def to(self, phone_e164: str) -> list[Recorded]:
        return [r for r in self.requests if r.body.get("to") == phone_e164.lstrip("+")]

    def problems(self) -> list[str]:
        return [p for r in self.requests for p in r.problems]

    async def wait_for(
        self, predicate: Callable[[FakeGraphApi], bool], timeout_s: float = 15.0
    ) -> None:
        """Wait until `predicate(self)` holds (checked after every request)."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: predicate(self)), timeout_s)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _messages(self, request: Request) -> JSONResponse:
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        rec = Recorded(
            path=request.url.path, headers={k.lower(): v for k, v in request.headers.items()},
            body=body if isinstance(body, dict) else {}, at_s=time.monotonic(),
        )
        if len(self.requests) < MAX_RECORDED:
            self.requests.append(rec)
        expected_path = f"/{self.version}/{self.phone_number_id}/messages"
        if rec.path != expected_path:
            rec.problems.append(f"path {rec.path} != {expected_path}")
        if rec.headers.get("authorization") != f"Bearer {self.token}":
            rec.status = 401
            rec.problems.append("missing or wrong bearer token")
            await self._notify()
            return JSONResponse({"error": {"code": 190, "message": "Invalid OAuth access token"}},
                                status_code=401)
        rec.problems.extend(shape_problems(body))
        action = self._next_action(rec.body.get("to"))
        if rec.problems:
            action = "bad_request"
        if isinstance(action, tuple):
            name, seconds = action
            assert name == "hang" and 0 < seconds <= MAX_HANG_S
            # A slow answer on purpose (the sender's HTTP timeout is under test), not a wait.
            await asyncio.sleep(seconds)
            action = "ok"
        if action == "ok":
            rec.status = 200
            rec.wamid = f"wamid.FAKE{next(self._ids):06d}{uuid.uuid4().hex}"
            await self._notify()
            return JSONResponse({
                "messaging_product": "whatsapp",
                "contacts": [{"input": rec.body.get("to"), "wa_id": rec.body.get("to")}],
                "messages": [{"id": rec.wamid}],
            })
        status, code, message = ERRORS[action]
        rec.status = status
        await self._notify()
        return JSONResponse({"error": {"message": message, "type": "OAuthException",
                                       "code": code, "fbtrace_id": "fake"}}, status_code=status)

    async def __aenter__(self) -> FakeGraphApi:
        app = Starlette(routes=[
            Route("/{version}/{number}/messages", self._messages, methods=["POST"]),
            Route("/download/{media_id}", self._media_download, methods=["GET"]),
            Route("/{version}/{media_id}", self._media_info, methods=["GET"]),
        ])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="off", access_log=False, timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None  # type: ignore[attr-defined]
        server, task = self._server, asyncio.create_task(self._server.serve())
        self._task = task

        def started() -> bool:
            assert not task.done(), "fake Graph API failed to start"
            return bool(server.started)

        await eventually(started, what="the fake Graph API to start")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None and self._task is not None
        self._server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._task, 10)


@contextlib.asynccontextmanager
async def running_fake(**kwargs: Any) -> AsyncIterator[FakeGraphApi]:
    async with FakeGraphApi(**kwargs) as fake:
        yield fake
