"""Shutting the app down is bounded: a background task that ignores its cancellation, or a
database connection never handed back, is reported and left behind, and the process still
gets to exit."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import pytest

from server import app as app_module
from server.app import build_state, close_state
from server.channels import outbox_worker
from server.channels.whatsapp import inbound
from server.channels.whatsapp.channel import close_channel, get_channel
from server.config import Settings
from server.gateway.events import COMMIT_FANOUT
from tests.support import TestServices
from tests.waiting import eventually

STOP_TIMEOUT_S = 0.3
STUBBORN_S = 3.0  # how long the stubborn task keeps going after its cancellation
WAIT_S = 20.0  # a generous bound for what should take milliseconds


async def _stubborn(ignored: list[str]) -> None:
    """A background task with the bug: it swallows the cancellation and carries on."""
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        ignored.append("cancel")
    await asyncio.sleep(STUBBORN_S)


async def test_a_task_ignoring_its_cancellation_is_named_and_does_not_hold_the_exit(
    settings: Settings, test_services: TestServices, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(app_module, "TASK_STOP_TIMEOUT_S", STOP_TIMEOUT_S)
    state = await build_state(settings, test_services.services_for_run())
    ignored: list[str] = []
    stubborn = state.spawn(_stubborn(ignored), "stubborn")
    polite = state.spawn(asyncio.sleep(3600), "polite")
    await asyncio.sleep(0)

    started = time.monotonic()
    stuck = await close_state(state, stop_services=False)
    took_s = time.monotonic() - started

    assert stuck == ["stubborn"]
    assert ignored == ["cancel"]
    assert polite.cancelled()
    assert not stubborn.done()
    assert took_s < STUBBORN_S, "close_state waited for the stubborn task"
    stubborn.cancel()  # its second cancellation lands in the sleep after the swallowed one
    with pytest.raises(asyncio.CancelledError):
        await stubborn


async def test_a_connection_never_handed_back_does_not_hold_the_exit(
    settings: Settings, test_services: TestServices, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(app_module, "CLOSE_TIMEOUT_S", STOP_TIMEOUT_S)
    state = await build_state(settings, test_services.services_for_run())
    held: Any = await state.pool.acquire()  # e.g. a handler stuck mid-request

    assert await close_state(state, stop_services=False) == []

    assert state.pool.is_closing()
    with pytest.raises(asyncpg.InterfaceError):  # terminated with the pool
        await held.fetchval("SELECT 1")


@pytest.mark.parametrize("worker", [inbound.run_forever, outbox_worker.run_forever],
                         ids=["whatsapp-inbound", "whatsapp-outbox"])
async def test_a_worker_cancelled_in_the_step_it_is_woken_stops(
    settings: Settings, test_services: TestServices, worker: Any,
) -> None:
    """The workers idle on a wake-up event between rounds; a shutdown that cancels one just
    as a message wakes it must still stop it (on 3.11 `asyncio.wait_for` lost that
    cancellation, and the worker ran on, holding the process's exit)."""
    state = await build_state(settings, test_services.services_for_run())
    try:
        wakeup = asyncio.Event()
        task = asyncio.create_task(worker(state, get_channel(state).sender, wakeup))
        # Idle: its round found nothing and it waits on the event (asyncio's own waiters).
        await eventually(lambda: bool(wakeup._waiters), what="the worker to idle")

        wakeup.set()
        task.cancel()
        await asyncio.wait([task], timeout=WAIT_S)

        assert task.cancelled(), "the worker took the wake-up and dropped the cancellation"
    finally:
        if not task.done():
            task.cancel()
        await close_channel(state)
        await close_state(state, stop_services=False)


async def test_the_balance_fanout_ends_when_told_without_being_cancelled(
    settings: Settings, test_services: TestServices,
) -> None:
    """Shutdown tells the fanout to stop before cancelling it: a cancellation lost inside a
    Redis call (seen once) must not leave it waiting for ever."""
    state = await build_state(settings, test_services.services_for_run())
    try:
        (task,) = [t for t in state.tasks if t.get_name() == "ledger-commit-fanout"]
        await asyncio.sleep(0)

        state.need(COMMIT_FANOUT).stop()
        await asyncio.wait([task], timeout=WAIT_S)

        assert task.done() and not task.cancelled(), "it ended by itself, not by a cancel"
    finally:
        assert await close_state(state, stop_services=False) == []
