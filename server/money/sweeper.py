"""Voids expired holds on every node, so no stake stays stuck (DESIGN principle 3)."""

from __future__ import annotations

import asyncio

import structlog

from server.state import AppState

log = structlog.get_logger(__name__)


async def _sweep_forever(state: AppState) -> None:
    interval_s = state.settings.hold_sweep_interval_s
    assert interval_s > 0
    while True:
        try:
            voided = await state.ledger.sweep_expired_holds()
            if voided:
                log.info("expired_holds_voided", count=voided)
        except Exception:
            log.exception("hold_sweep_failed")
        await asyncio.sleep(interval_s)


async def startup(state: AppState) -> None:
    state.spawn(_sweep_forever(state), "hold-sweeper")
