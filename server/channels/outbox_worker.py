"""Delivers WhatsApp alerts from the transactional outbox (feature; runs on every node).

An alert row is committed in the same transaction as the ledger change that
caused it. Workers claim due rows with a lease (SKIP LOCKED), render the text,
and send it through the WhatsApp sender under the row's id as the per-alert key:

- the send intent is recorded before the request, and a key that already has a
  wamid is never sent again, so the user sees each alert once even when the
  worker dies after sending and the lease hands the row to another node;
- alerts off (users.alerts_enabled) -> recorded as skipped, nothing sent;
- outside the 24-hour window -> the kind's configured utility template (one body
  parameter: the alert text), or recorded as unsendable when none is configured;
- pair rate: a user's alerts are spaced (waited for within the lease, else
  rescheduled), never merged;
- retriable API errors -> rescheduled with backoff; ambiguous failures ->
  rechecked after `whatsapp_unknown_grace_s` (a status webhook may resolve them).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from datetime import timedelta

import structlog

from ledger import ClaimedMessage, outbox
from server import metrics
from server.channels.whatsapp import messages
from server.channels.whatsapp.channel import get_channel
from server.channels.whatsapp.limits import in_window
from server.channels.whatsapp.sender import Delivery, Sender
from server.channels.whatsapp.texts import render_alert
from server.state import AppState

log = structlog.get_logger(__name__)

CHANNEL = "whatsapp"
CLAIM_BATCH = 50
LEASE_S = 120.0
INLINE_WAIT_MAX_S = 15.0  # wait this long for a user's pair-rate slot inside the lease
POLL_INTERVAL_S = 0.5
STALE_WHEN_DISABLED_S = 3600.0


async def deliver_alert(state: AppState, sender: Sender, msg: ClaimedMessage) -> Delivery:
    """Send one alert (or decide not to) and settle its outbox row accordingly."""
    key = str(msg.id)
    pool = state.pool
    user = await pool.fetchrow(
        "SELECT id::text AS id, phone_e164, alerts_enabled FROM users WHERE id::text = $1",
        msg.recipient,
    )
    if user is None:
        await outbox.mark_failed(pool, msg, "unknown_recipient")
        return Delivery("failed", error="unknown_recipient")
    user_id = str(user["id"])
    if not user["alerts_enabled"]:
        await sender.decide(key, user_id, msg.kind, "skipped", "alerts_disabled")
        await outbox.mark_sent(pool, msg, "skipped:alerts_disabled")
        return Delivery("skipped")
    text = render_alert(state.settings, msg.kind, msg.payload)
    template_name: str | None = None
    if await in_window(pool, user_id, sender.now()):
        message = messages.text(text)
    else:
        template_name = state.settings.whatsapp_alert_templates.get(msg.kind)
        if template_name is None:
            await sender.decide(key, user_id, msg.kind, "unsendable", "outside_window_no_template")
            await outbox.mark_failed(pool, msg, "outside_window_no_template")
            return Delivery("unsendable")
        message = messages.template(
            template_name, state.settings.whatsapp_template_language, [text]
        )
    waited_s = 0.0
    while True:
        result = await sender.deliver(
            key=key, user_id=user_id, phone_e164=user["phone_e164"], kind=msg.kind,
            message=message, template_name=template_name,
        )
        if result.outcome != "deferred" or waited_s + result.wait_s > INLINE_WAIT_MAX_S:
            break
        waited_s += result.wait_s
        await asyncio.sleep(result.wait_s)
    await _settle(state, sender, msg, result)
    return result


async def _settle(state: AppState, sender: Sender, msg: ClaimedMessage, result: Delivery) -> None:
    pool = state.pool
    if result.outcome in ("accepted", "already"):
        if await outbox.mark_sent(pool, msg, result.wamid):
            metrics.OUTBOX_SENT.labels(CHANNEL).inc()
    elif result.outcome in ("retry", "deferred", "unknown"):
        retry_at = sender.now() + timedelta(seconds=max(result.wait_s, 0.05))
        await outbox.mark_retry(pool, msg, result.error or result.outcome, retry_at)
    else:  # failed, skipped, unsendable
        await outbox.mark_failed(pool, msg, result.error or result.outcome)


async def _deliver_for_user(state: AppState, sender: Sender, batch: list[ClaimedMessage]) -> None:
    started = time.monotonic()
    for msg in batch:  # one user's alerts in commit order, spaced by the pair rate
        if time.monotonic() - started > LEASE_S / 2:
            await outbox.mark_retry(state.pool, msg, "lease budget", sender.now())
            continue
        try:
            await deliver_alert(state, sender, msg)
        except Exception as exc:
            log.exception("whatsapp_alert_failed", outbox_id=str(msg.id))
            await outbox.mark_retry(state.pool, msg, f"{type(exc).__name__}: {exc}")


async def run_once(state: AppState, sender: Sender) -> int:
    """Claim one batch of due alerts and deliver them; return how many were claimed."""
    claimed = await outbox.claim_due(state.pool, CHANNEL, CLAIM_BATCH, LEASE_S)
    by_user: dict[str, list[ClaimedMessage]] = defaultdict(list)
    for msg in claimed:
        by_user[msg.recipient].append(msg)
    await asyncio.gather(*(_deliver_for_user(state, sender, b) for b in by_user.values()))
    return len(claimed)


async def run_forever(state: AppState, sender: Sender, wakeup: asyncio.Event) -> None:
    """Deliver as alerts are committed (woken by the commit) and poll for the rest."""
    while True:
        wakeup.clear()  # before claiming, so a commit meanwhile wakes the next round
        try:
            claimed = await run_once(state, sender)
        except Exception:
            log.exception("whatsapp_outbox_batch_failed")
            claimed = 0
        if claimed >= CLAIM_BATCH:
            continue
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(POLL_INTERVAL_S):
                await wakeup.wait()


async def close_undeliverable_once(state: AppState) -> int:
    """With the channel off, mark WhatsApp alerts waiting over an hour failed (`channel_disabled`).

    Alerts are time-sensitive: sending yesterday's "match found" when an operator
    turns the channel on would confuse players. Closing them keeps the outbox from
    growing without bound and shows the operator why nothing went out. The hour
    leaves a node that is being switched on (or its neighbours) time to send them.
    """
    rows = await state.pool.fetch(
        "WITH due AS (SELECT id FROM outbox WHERE channel = $1 AND state = 'pending'"
        "  AND created_at < now() - make_interval(secs => $3)"
        "  ORDER BY available_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
        " UPDATE outbox o SET state = 'failed', last_error = 'channel_disabled'"
        "   FROM due WHERE o.id = due.id RETURNING o.id",
        CHANNEL, CLAIM_BATCH, STALE_WHEN_DISABLED_S,
    )
    return len(rows)


async def _close_undeliverable_forever(state: AppState) -> None:
    while True:
        try:
            closed = await close_undeliverable_once(state)
        except Exception:
            log.exception("outbox_close_undeliverable_failed")
            closed = 0
        if closed < CLAIM_BATCH:
            await asyncio.sleep(POLL_INTERVAL_S * 10)


async def startup(state: AppState) -> None:
    """Deliver WhatsApp alerts on this node when the channel is enabled."""
    if not state.settings.whatsapp_enabled:
        state.spawn(_close_undeliverable_forever(state), "whatsapp-outbox-closer")
        return
    channel = get_channel(state)
    channel.tasks.append(
        state.spawn(run_forever(state, channel.sender, channel.outbox_wakeup), "whatsapp-outbox")
    )
