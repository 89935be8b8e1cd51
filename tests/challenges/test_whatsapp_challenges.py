"""Issue 11's "done when", over signed webhooks against the fake Graph API and a manual clock.

Create with a natural-language deadline → the reminder at the right time → a photo
proof fetched from the Graph API stand-in → approved by an admin → stake returned.
And: no proof → stake forfeited; a reused photo rejected by its hash; the verifier
down → pending for an admin; cancel within the cooling-off window → refunded.
The books are checked after every path.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from ledger import HOUSE, Ledger, escrow_account, user_account
from rooms.clock import ManualClock
from server.features.challenges.service import ChallengeService
from tests.challenges.conftest import REMINDER_TEMPLATE, challenge_settings
from tests.challenges.helpers import (
    KES,
    available,
    buttons_of,
    new_player,
    picture,
    reencoded,
    seconds,
    send_media,
    tap,
)
from tests.fakes.graph_api import FakeGraphApi
from tests.fakes.vision import FakeVision
from tests.payments.conftest import admin_headers
from tests.support import LiveServer

NAIROBI = ZoneInfo("Africa/Nairobi")
HOUR_MS = 3_600_000


def _now(clock: ManualClock) -> datetime:
    return datetime.fromtimestamp(clock.now_ms() / 1000, UTC)


async def _advance_to(clock: ManualClock, at: datetime) -> None:
    target_ms = int(at.timestamp() * 1000)
    assert target_ms >= clock.now_ms()
    await clock.advance(target_ms - clock.now_ms())


async def _challenge_row(pool: Any, uid: str) -> Any:
    return await pool.fetchrow(
        "SELECT * FROM challenges WHERE user_id = $1::uuid ORDER BY created_at DESC LIMIT 1", uid)


async def _create_and_confirm(chat: Any, text: str) -> str:
    """Send the challenge, tap Confirm; returns the challenge id."""
    reply = await chat.say(text)
    (confirm, _cancel) = buttons_of(reply)
    assert confirm[1] == "Confirm" and confirm[0].startswith("cmd:challenge confirm ")
    on = await tap(chat, *confirm)
    assert "is on" in on.text, on.text
    return confirm[0].rsplit(" ", 1)[1]


async def test_create_remind_prove_approve_returns_the_stake(
    live: LiveServer, client: httpx.AsyncClient, fake: FakeGraphApi, svc: ChallengeService,
    clock: ManualClock, pool: Any, ledger: Ledger,
) -> None:
    chat, uid = await new_player(client, fake, pool, ledger)
    before = await available(ledger, uid)

    # 1. A natural-language deadline, read in the player's zone (+254: Africa/Nairobi).
    reply = await chat.say("challenge gym tomorrow 7am stake 200")
    tomorrow = (_now(clock).astimezone(NAIROBI) + timedelta(days=1)).date()
    deadline = datetime(tomorrow.year, tomorrow.month, tomorrow.day, 7, 0, tzinfo=NAIROBI)
    assert '"gym"' in reply.text and "Stake: 200 credits" in reply.text
    assert f"{deadline.day} {deadline.strftime('%b')} 07:00 (Africa/Nairobi)" in reply.text
    assert "winnings" not in reply.text.lower()
    confirm, cancel = buttons_of(reply)
    assert (confirm[1], cancel[1]) == ("Confirm", "Cancel")
    assert await available(ledger, uid) == before  # nothing held before confirming

    on = await tap(chat, *confirm)
    assert "200 credits is held" in on.text
    cid = confirm[0].rsplit(" ", 1)[1]
    row = await _challenge_row(pool, uid)
    assert str(row["id"]) == cid and row["state"] == "open"
    assert row["deadline_at"] == deadline
    assert await available(ledger, uid) == before - 20_000
    escrow = await ledger.balance(escrow_account("challenge", cid), KES)
    assert escrow.pending_credits_minor == 20_000
    # Tapping Confirm again changes nothing.
    again = await tap(chat, *confirm)
    assert "is on" in again.text
    assert await available(ledger, uid) == before - 20_000

    # 2. The automatic reminder: 2 h before the deadline, not a second earlier.
    reminder_at = deadline - timedelta(hours=2)
    requested = await chat.say("remind me 30 minutes before")
    assert "06:30" in requested.text
    await _advance_to(clock, reminder_at - timedelta(seconds=1))
    assert (await svc.run_due())["reminders"] == 0
    await _advance_to(clock, reminder_at)
    assert (await svc.run_due())["reminders"] == 1
    alert = await chat.wait_alert('Reminder: your challenge "gym" ends in 2 h')
    assert alert.body["type"] == "text"  # inside the 24-hour window: free-form text
    assert (await svc.run_due())["reminders"] == 0  # sent at most once
    await _advance_to(clock, deadline - timedelta(minutes=30))
    assert (await svc.run_due())["reminders"] == 1
    await chat.wait_alert('Reminder: your challenge "gym" ends in 30 min')

    # 3. A photo proof, fetched from the Graph API's media endpoint.
    photo = picture(seed=1101)
    media_id = fake.add_media(photo, "image/jpeg")
    got = await send_media(chat, media_id, "image/jpeg", at_s=seconds(clock))
    assert "Proof received" in got.text
    assert f"/v21.0/{media_id}" in fake.media_requests
    assert f"/download/{media_id}" in fake.media_requests
    proof = await pool.fetchrow("SELECT * FROM challenge_proofs WHERE challenge_id = $1::uuid",
                                cid)
    assert proof["state"] == "pending" and proof["verifier"] == "admin"
    assert await svc.storage.get(proof["storage_key"]) is not None

    # 4. An admin approves it: the stake is returned, once.
    admin = await admin_headers(pool, live.state.jwt_secret, "operator")
    queue = await client.get("/admin/challenges/proofs", headers=admin)
    assert queue.status_code == 200
    listed = [p for p in queue.json()["proofs"] if p["challenge_id"] == cid]
    assert len(listed) == 1 and listed[0]["goal"] == "gym"
    file = await client.get(listed[0]["file_url"], headers=admin)
    assert file.status_code == 200 and file.headers["content-type"] == "image/jpeg"
    approved = await client.post(f"/admin/challenges/proofs/{proof['id']}/approve",
                                 headers=admin, json={})
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "approved"
    replay = await client.post(f"/admin/challenges/proofs/{proof['id']}/approve",
                               headers=admin, json={})
    assert replay.status_code == 200
    assert await available(ledger, uid) == before
    won = await chat.wait_alert("Well done")
    assert "200 credits is back in your balance" in won.text
    audit = await pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE target = $1 AND action = 'challenge_proof_approve'",
        f"challenge_proof:{proof['id']}")
    assert audit == 1
    assert (await _challenge_row(pool, uid))["state"] == "succeeded"

    # Nothing more happens at the deadline; the stats count the success.
    await _advance_to(clock, deadline + timedelta(hours=1))
    assert (await svc.run_due())["settled"] == 0
    assert await available(ledger, uid) == before
    listing = await chat.say("challenges")
    assert "gym" in listing.text and "Completed 1 of 1" in listing.text
    assert all(r.problems == [] for r in fake.to(chat.phone))
    await ledger.check_invariants()


async def test_no_proof_forfeits_the_stake(
    client: httpx.AsyncClient, fake: FakeGraphApi, svc: ChallengeService, clock: ManualClock,
    pool: Any, ledger: Ledger,
) -> None:
    chat, uid = await new_player(client, fake, pool, ledger)
    before = await available(ledger, uid)
    house_before = (await ledger.balance(HOUSE, KES)).posted_minor
    await _create_and_confirm(chat, "challenge read 20 pages in 2 hours stake 150")
    row = await _challenge_row(pool, uid)
    # The automatic reminder would be due now: that moment is not in the future, so none.
    assert await pool.fetchval(
        "SELECT count(*) FROM challenge_reminders WHERE challenge_id = $1", row["id"]) == 0
    deadline = row["deadline_at"]
    assert deadline == _now(clock) + timedelta(hours=2)

    await _advance_to(clock, deadline + timedelta(seconds=svc.settings.deadline_grace_s - 1))
    assert (await svc.run_due())["settled"] == 0  # still within the grace for late webhooks
    await _advance_to(clock, deadline + timedelta(seconds=svc.settings.deadline_grace_s))
    assert (await svc.run_due())["settled"] == 1
    assert (await svc.run_due())["settled"] == 0  # exactly once
    assert (await _challenge_row(pool, uid))["state"] == "failed"
    assert await available(ledger, uid) == before - 15_000
    assert (await ledger.balance(HOUSE, KES)).posted_minor == house_before + 15_000
    lost = await chat.wait_alert("ended without an accepted proof")
    assert "150 credits" in lost.text
    # A photo after the outcome is no proof of anything: the usual menu, nothing stored.
    late = await send_media(chat, fake.add_media(picture(seed=1202), "image/jpeg"),
                            "image/jpeg", at_s=seconds(clock))
    assert "did not understand" in late.text
    assert await pool.fetchval(
        "SELECT count(*) FROM challenge_proofs WHERE user_id = $1::uuid", uid) == 0
    await ledger.check_invariants()


async def test_a_proof_arriving_in_the_last_second_counts(
    live: LiveServer, client: httpx.AsyncClient, fake: FakeGraphApi, svc: ChallengeService,
    clock: ManualClock, pool: Any, ledger: Ledger,
) -> None:
    chat, uid = await new_player(client, fake, pool, ledger)
    before = await available(ledger, uid)
    await _create_and_confirm(chat, "challenge walk 10k steps in 3 hours stake 100")
    deadline = (await _challenge_row(pool, uid))["deadline_at"]
    # Sent at the deadline's very second, processed a moment later.
    await _advance_to(clock, deadline + timedelta(seconds=5))
    media_id = fake.add_media(picture(seed=1303), "image/jpeg")
    got = await send_media(chat, media_id, "image/jpeg", at_s=int(deadline.timestamp()))
    assert "Proof received" in got.text
    await _advance_to(clock, deadline + timedelta(hours=1))
    assert (await svc.run_due())["settled"] == 0  # a proof under review: no forfeit
    proof_id = await pool.fetchval(
        "SELECT p.id FROM challenge_proofs p JOIN challenges c ON c.id = p.challenge_id"
        " WHERE c.user_id = $1::uuid", uid)
    admin = await admin_headers(pool, live.state.jwt_secret, "operator")
    ok = await client.post(f"/admin/challenges/proofs/{proof_id}/approve", headers=admin,
                           json={})
    assert ok.status_code == 200, ok.text
    assert await available(ledger, uid) == before
    await ledger.check_invariants()


async def test_a_reused_photo_is_rejected_by_its_hash(
    client: httpx.AsyncClient, fake: FakeGraphApi, svc: ChallengeService, clock: ManualClock,
    pool: Any, ledger: Ledger,
) -> None:
    first, _ = await new_player(client, fake, pool, ledger)
    second, uid2 = await new_player(client, fake, pool, ledger)
    await _create_and_confirm(first, "challenge swim tomorrow 6pm stake 100")
    await _create_and_confirm(second, "challenge swim tomorrow 6pm stake 100")
    photo = picture(seed=1404)
    got = await send_media(first, fake.add_media(photo, "image/jpeg"), "image/jpeg",
                           at_s=seconds(clock))
    assert "Proof received" in got.text
    # The same photo, resized and re-compressed: a different file, the same picture.
    copy = reencoded(photo)
    assert copy != photo
    got = await send_media(second, fake.add_media(copy, "image/jpeg"), "image/jpeg",
                           at_s=seconds(clock))
    assert "already used for an earlier challenge" in got.text
    rejected = await pool.fetchrow(
        "SELECT p.* FROM challenge_proofs p JOIN challenges c ON c.id = p.challenge_id"
        " WHERE c.user_id = $1::uuid", uid2)
    assert rejected["state"] == "rejected" and rejected["decided_by"] == "check:reused"
    assert rejected["storage_key"] is None
    # A genuinely new photo is still taken.
    got = await send_media(second, fake.add_media(picture(seed=1405), "image/jpeg"),
                           "image/jpeg", at_s=seconds(clock))
    assert "Proof received" in got.text
    await ledger.check_invariants()


async def test_verifier_down_leaves_the_proof_pending_for_an_admin(
    live: LiveServer, client: httpx.AsyncClient, fake: FakeGraphApi, svc: ChallengeService,
    vision: FakeVision, clock: ManualClock, pool: Any, ledger: Ledger,
) -> None:
    svc.settings = challenge_settings(verifier="http", verifier_url=vision.url, verifier_attempts=3)
    chat, uid = await new_player(client, fake, pool, ledger)
    before = await available(ledger, uid)
    await _create_and_confirm(chat, "challenge yoga by Friday 8pm stake 100")
    vision.script("down", "down", "down")
    seen = len(vision.requests)
    got = await send_media(chat, fake.add_media(picture(seed=1505, fmt="PNG"), "image/png"),
                           "image/png", at_s=seconds(clock))
    assert "being checked" in got.text
    assert (await svc.run_due())["verified"] == 1
    assert len(vision.requests) - seen == 3  # every attempt, then it gave up
    assert all(r.problems == [] for r in vision.requests[seen:])
    proof = await pool.fetchrow(
        "SELECT p.* FROM challenge_proofs p JOIN challenges c ON c.id = p.challenge_id"
        " WHERE c.user_id = $1::uuid", uid)
    assert proof["state"] == "pending" and proof["verifier_state"] == "failed"
    assert (await svc.run_due())["verified"] == 0  # not asked again: it waits for an admin
    admin = await admin_headers(pool, live.state.jwt_secret, "viewer")
    queue = (await client.get("/admin/challenges/proofs", headers=admin)).json()["proofs"]
    assert [p["verifier_state"] for p in queue if p["id"] == str(proof["id"])] == ["failed"]
    assert await available(ledger, uid) == before - 10_000  # nothing approved by default

    # The verifier is back: a confident approval returns the stake on the next proof...
    # here an admin decides the waiting one instead (rejecting with a reason).
    operator = await admin_headers(pool, live.state.jwt_secret, "operator")
    no_reason = await client.post(f"/admin/challenges/proofs/{proof['id']}/reject",
                                  headers=operator, json={})
    assert no_reason.status_code == 400
    rejected = await client.post(f"/admin/challenges/proofs/{proof['id']}/reject",
                                 headers=operator, json={"reason": "not a yoga mat"})
    assert rejected.status_code == 200, rejected.text
    note = await chat.wait_alert("was not accepted: not a yoga mat")
    assert "send another" in note.text
    vision.script("approve")
    got = await send_media(chat, fake.add_media(picture(seed=1506), "image/jpeg"),
                           "image/jpeg", at_s=seconds(clock))
    assert (await svc.run_due())["verified"] == 1
    await chat.wait_alert("Well done")
    assert await available(ledger, uid) == before
    await ledger.check_invariants()


async def test_cancel_within_the_cooling_off_window_refunds(
    client: httpx.AsyncClient, fake: FakeGraphApi, svc: ChallengeService, clock: ManualClock,
    pool: Any, ledger: Ledger,
) -> None:
    chat, uid = await new_player(client, fake, pool, ledger)
    before = await available(ledger, uid)
    await _create_and_confirm(chat, "challenge run 5km next Monday 3pm stake 300")
    assert await available(ledger, uid) == before - 30_000
    await clock.advance(9 * 60 * 1000)  # within the 10 minutes
    reply = await chat.say("cancel")
    assert "cancelled" in reply.text and "300 credits is back" in reply.text
    assert await available(ledger, uid) == before
    assert (await _challenge_row(pool, uid))["state"] == "cancelled"

    # After the window the stake stays held.
    await _create_and_confirm(chat, "challenge run 5km next Monday 3pm stake 200")
    await clock.advance(11 * 60 * 1000)
    reply = await chat.say("cancel")
    assert "only within 10 min" in reply.text
    assert await available(ledger, uid) == before - 20_000
    # Reminders of a cancelled challenge are dropped, never sent.
    await ledger.check_invariants()


async def test_an_ambiguous_date_is_asked_never_guessed(
    client: httpx.AsyncClient, fake: FakeGraphApi, svc: ChallengeService, clock: ManualClock,
    pool: Any, ledger: Ledger,
) -> None:
    chat, uid = await new_player(client, fake, pool, ledger)
    before = await available(ledger, uid)
    reply = await chat.say("challenge pray on Saturday at 10 stake 50")
    options = buttons_of(reply)
    assert "Did you mean" in reply.text and len(options) == 2
    assert re.search(r"Sat \d+ \w+ 10:00", options[0][1])
    assert re.search(r"Sat \d+ \w+ 22:00", options[1][1])
    row = await _challenge_row(pool, uid)
    assert row["state"] == "draft" and row["deadline_at"] is None
    picked = await tap(chat, *options[1])
    confirm, _ = buttons_of(picked)
    assert "22:00" in picked.text and confirm[1] == "Confirm"
    await tap(chat, *confirm)
    assert await available(ledger, uid) == before - 5_000
    unclear = await chat.say("challenge pray next week stake 50")
    assert "Which day and time" in unclear.text
    missing = await chat.say("challenge pray stake 50")
    assert "Add a deadline" in missing.text
    too_soon = await chat.say("challenge pray in 30 minutes stake 50")
    assert "at least 1 h" in too_soon.text
    too_big = await chat.say("challenge pray tomorrow 7am stake 5000")
    assert "between 10 credits and 1000 credits" in too_big.text
    await ledger.check_invariants()


async def test_a_reminder_outside_the_window_goes_as_a_template(
    client: httpx.AsyncClient, fake: FakeGraphApi, svc: ChallengeService, clock: ManualClock,
    pool: Any, ledger: Ledger,
) -> None:
    chat, uid = await new_player(client, fake, pool, ledger)
    await _create_and_confirm(chat, "challenge study in 5 hours stake 100")
    deadline = (await _challenge_row(pool, uid))["deadline_at"]
    # The player has not written for over a day (the window is judged by the real time).
    await pool.execute("UPDATE wa_contacts SET last_inbound_at = now() - interval '25 hours'"
                       " WHERE user_id = $1", uid)
    await _advance_to(clock, deadline - timedelta(hours=2))
    assert (await svc.run_due())["reminders"] == 1
    alert = await chat.wait_alert('Reminder: your challenge "study"')
    assert alert.body["type"] == "template"
    assert alert.body["template"]["name"] == REMINDER_TEMPLATE
    await ledger.check_invariants()


async def test_limits_on_open_challenges(
    client: httpx.AsyncClient, fake: FakeGraphApi, svc: ChallengeService, pool: Any,
    ledger: Ledger,
) -> None:
    svc.settings = challenge_settings(max_open_per_player=2)
    chat, uid = await new_player(client, fake, pool, ledger)
    before = await available(ledger, uid)
    await _create_and_confirm(chat, "challenge a tomorrow 7am stake 100")
    await _create_and_confirm(chat, "challenge b tomorrow 8am stake 100")
    reply = await chat.say("challenge c tomorrow 9am stake 100")
    confirm, _ = buttons_of(reply)
    refused = await tap(chat, *confirm)
    assert "at most 2 open challenges" in refused.text
    assert await available(ledger, uid) == before - 20_000
    assert (await ledger.balance(user_account(uid), KES)).pending_debits_minor == 20_000
    await ledger.check_invariants()
