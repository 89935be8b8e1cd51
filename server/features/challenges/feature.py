"""The challenges feature: its routes, its service, and the background round (docs/challenges.md).

Every node runs the round every `tick_s` seconds: due reminders into the outbox,
deadlines settled, queued proofs sent to the http verifier. Each step takes `now` from
`state.clock` and is safe to run on several nodes at once (row locks, SKIP LOCKED).
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import httpx
import structlog

from server.features.challenges.http import routes as http_routes
from server.features.challenges.service import CHALLENGES, ChallengeService
from server.features.challenges.settings import ChallengeSettings
from server.state import AppState
from server.storage import LocalStorage

log = structlog.get_logger(__name__)

routes = http_routes


async def _run_forever(svc: ChallengeService) -> None:
    while True:
        try:
            await svc.run_due()
        except Exception:
            log.exception("challenges_round_failed")
        await asyncio.sleep(svc.settings.tick_s)  # read each round: a test may shorten it


async def startup(state: AppState) -> None:
    """Build the service (settings read once here) and start the round on this node."""
    settings = ChallengeSettings()
    root = Path(settings.uploads_dir or state.settings.data_dir / "uploads")
    svc = ChallengeService(
        state=state, settings=settings, storage=LocalStorage(root),
        http=httpx.AsyncClient(limits=httpx.Limits(max_connections=8)),
    )
    state.provide(CHALLENGES, svc)
    state.spawn(_run_forever(svc), "challenges-round")


async def shutdown(state: AppState) -> None:
    svc = state.drop(CHALLENGES)
    if svc is not None:
        with contextlib.suppress(Exception):
            await svc.http.aclose()
