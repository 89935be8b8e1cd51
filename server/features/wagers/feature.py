"""Feature: wager matches (docs/wagers.md). Needs `rooms.games.wager` in MATCHPOT_GAMES.

Settings come from `MATCHPOT_WAGERS_*`, then `Settings.game_settings["wagers"]`
(tests and the CLI override there). At start-up the feature binds the wager
room's Postgres journal, wraps the play service's settler so wager rooms
settle with their ratings and stats, and starts the loop that resumes matches
without a live room (after a restart, or from a node that died).
"""

from __future__ import annotations

import structlog
from starlette.routing import Route

from server.features.play.service import PLAY
from server.features.wagers import http, ws
from server.features.wagers.queue import WagerQueues
from server.features.wagers.service import WAGERS, WagerService
from server.features.wagers.settings import WagersSettings
from server.state import AppState

log = structlog.get_logger(__name__)

__all__ = ["routes", "shutdown", "startup", "ws"]


async def startup(state: AppState) -> None:
    play = state.find(PLAY)
    if play is None or "wager" not in play.kinds:
        log.info("wagers_off", reason="rooms.games.wager is not in MATCHPOT_GAMES")
        return
    settings = WagersSettings(**state.settings.game_settings.get("wagers", {}))
    svc = WagerService(state, play, settings)
    svc.install()
    state.provide(WAGERS, svc)
    svc.queues = WagerQueues(svc)
    await svc.adopt_once()  # this node's own matches come back before anyone asks
    state.spawn(svc.run_adopter(), "wager-adopter")
    state.spawn(svc.queues.run(), "wager-pairing")


async def shutdown(state: AppState) -> None:
    svc = state.find(WAGERS)
    if svc is not None:
        svc.stop()
        if svc.queues is not None:
            svc.queues.stop()
        svc.uninstall()


routes = [
    Route("/wagers/options", http.options, methods=["GET"]),
    Route("/wagers/profile", http.profile_get, methods=["GET"]),
    Route("/wagers/profile", http.profile_put, methods=["PUT"]),
    Route("/wagers/challenges", http.challenges_get, methods=["GET"]),
    Route("/wagers/challenges", http.challenge_post, methods=["POST"]),
    Route("/wagers/challenges/{id}/accept", http.challenge_accept, methods=["POST"]),
    Route("/wagers/challenges/{id}/cancel", http.challenge_cancel, methods=["POST"]),
    Route("/wagers/matches", http.matches_get, methods=["GET"]),
    Route("/wagers/matches/{room_id}", http.match_get, methods=["GET"]),
    Route("/wagers/matches/{room_id}/evidence", http.evidence_post, methods=["POST"]),
    Route("/wagers/evidence/{id}", http.evidence_get, methods=["GET"]),
    Route("/wagers/leaderboard", http.leaderboard, methods=["GET"]),
    Route("/wagers/players/{user_id}", http.player_public, methods=["GET"]),
    Route("/admin/wagers/disputes", http.admin_disputes, methods=["GET"]),
    Route("/admin/wagers/disputes/{id}", http.admin_dispute, methods=["GET"]),
    Route("/admin/wagers/disputes/{id}/claim", http.admin_dispute_claim, methods=["POST"]),
    Route("/admin/wagers/disputes/{id}/notes", http.admin_dispute_note, methods=["POST"]),
    Route("/admin/wagers/disputes/{id}/rule", http.admin_dispute_rule, methods=["POST"]),
    Route("/admin/wagers/players/{user_id}/opponents", http.admin_opponents, methods=["GET"]),
    Route("/admin/wagers/flagged", http.admin_flagged, methods=["GET"]),
]
