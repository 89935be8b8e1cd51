"""A stand-in for an external vision-model verifier on 127.0.0.1 (docs/challenges.md).

It checks each request against the verifier contract (path, bearer token, JSON fields,
a decodable picture) and answers from a script:

    fake.script("down", "down", "approve")   # 500, 500, then {"decision": "approve"}

Actions: "approve" / "reject" / "unsure" (200 with that decision, confidence 0.97 for
approve), "down" (500), "bad" (200 with a body outside the contract), ("hang", s).
When the script is empty `default_action` answers.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support import free_port

Action = str | tuple[str, float]
FIELDS = ("version", "proof_id", "challenge_id", "goal", "created_at", "deadline_at",
          "received_at", "time_zone", "content_type", "image_base64")
MAX_RECORDED = 1000


@dataclass
class Seen:
    body: dict[str, Any]
    headers: dict[str, str]
    status: int = 0
    problems: list[str] = field(default_factory=list)


class FakeVision:
    def __init__(self, token: str = "vision-token") -> None:
        self.token = token
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1/verify"
        self.queue: deque[Action] = deque()
        self.default_action: Action = "unsure"
        self.requests: list[Seen] = []
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    def script(self, *actions: Action) -> None:
        self.queue.extend(actions)

    async def _verify(self, request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            body = {}
        seen = Seen(body if isinstance(body, dict) else {},
                    {k.lower(): v for k, v in request.headers.items()})
        if len(self.requests) < MAX_RECORDED:
            self.requests.append(seen)
        if seen.headers.get("authorization") != f"Bearer {self.token}":
            seen.problems.append("missing or wrong bearer token")
        missing = [f for f in FIELDS if f not in seen.body]
        if missing:
            seen.problems.append(f"missing fields {missing}")
        elif seen.headers.get("idempotency-key") != seen.body["proof_id"]:
            seen.problems.append("Idempotency-Key must be the proof id")
        else:
            try:
                base64.b64decode(seen.body["image_base64"], validate=True)
            except ValueError:
                seen.problems.append("image_base64 is not base64")
        if seen.problems:
            seen.status = 400
            return JSONResponse({"error": seen.problems}, status_code=400)
        action = self.queue.popleft() if self.queue else self.default_action
        if isinstance(action, tuple):
            name, seconds = action
            assert name == "hang" and 0 < seconds <= 30
            await asyncio.sleep(seconds)
            action = "unsure"
        if action == "down":
            seen.status = 500
            return JSONResponse({"error": "model unavailable"}, status_code=500)
        seen.status = 200
        if action == "bad":
            return JSONResponse({"verdict": "yes"})
        confidence = 0.97 if action == "approve" else 0.4
        return JSONResponse({"decision": action, "confidence": confidence,
                             "reason": f"fake says {action}"})

    async def __aenter__(self) -> FakeVision:
        app = Starlette(routes=[Route("/v1/verify", self._verify, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="off", access_log=False, timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None  # type: ignore[attr-defined]
        self._task = asyncio.create_task(self._server.serve())
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert not self._task.done(), "fake verifier failed to start"
            assert time.monotonic() < deadline, "fake verifier did not start in 10 s"
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None and self._task is not None
        self._server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._task, 10)
