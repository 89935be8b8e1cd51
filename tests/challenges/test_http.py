"""The HTTP API the PWA uses: create, confirm, remind, upload a proof, history and stats;
the admin review; the http verifier's contract against the loopback stand-in."""

from __future__ import annotations

import io
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from PIL import Image

from ledger import WORLD, Ledger, TransferRequest, clearing_account, user_account
from rooms.clock import ManualClock
from server.auth.tokens import issue_access_token
from server.features.challenges.service import ChallengeService
from tests.challenges.conftest import challenge_settings
from tests.challenges.helpers import KES, available, picture
from tests.fakes.vision import FakeVision
from tests.payments.conftest import admin_headers
from tests.support import LiveServer


async def _player(
    live: LiveServer, pool: Any, ledger: Ledger, phone: str
) -> tuple[str, dict[str, str]]:
    uid = str(await pool.fetchval(
        "INSERT INTO users (phone_e164, display_name) VALUES ($1, 'Web Player') RETURNING id",
        phone))
    await ledger.transfer(TransferRequest(
        id=uuid.uuid4(), debit=WORLD, credit=user_account(uid), amount_minor=100_000,
        currency=KES, code="deposit"))
    token = issue_access_token(live.state.jwt_secret, uid, "player", 600)
    return uid, {"Authorization": f"Bearer {token}"}


def _us_phone() -> str:
    return f"+1212555{random.randrange(10_000):04d}"


def _ke_phone() -> str:
    return f"+2547{random.randrange(10**8):08d}"


def _now(clock: ManualClock) -> datetime:
    return datetime.fromtimestamp(clock.now_ms() / 1000, UTC)


async def test_pwa_challenge_from_form_to_forfeit_to_charity(
    live: LiveServer, client: httpx.AsyncClient, svc: ChallengeService, clock: ManualClock,
    pool: Any, ledger: Ledger,
) -> None:
    svc.settings = challenge_settings(forfeit_to="charity")
    uid, auth = await _player(live, pool, ledger, _us_phone())
    before = await available(ledger, uid)
    charity_before = (await ledger.balance(clearing_account("charity"), KES)).posted_minor

    body = {"idem_key": "form-1", "goal": "Write 500 words", "stake_minor": 25_000,
            "deadline": "in 6 hours"}
    created = await client.post("/challenges", json=body, headers=auth)
    assert created.status_code == 201, created.text
    draft = created.json()
    assert draft["state"] == "draft" and draft["time_zone"] == "America/New_York"
    assert datetime.fromisoformat(draft["deadline_at"]) == _now(clock) + timedelta(hours=6)
    replay = await client.post("/challenges", json=body, headers=auth)
    assert replay.status_code == 200 and replay.json()["id"] == draft["id"]
    cid = draft["id"]

    confirmed = await client.post(f"/challenges/{cid}/confirm", headers=auth)
    assert confirmed.status_code == 200 and confirmed.json()["state"] == "open"
    assert confirmed.json()["cancel_until"] is not None
    assert await available(ledger, uid) == before - 25_000
    remind = await client.post(f"/challenges/{cid}/reminders", headers=auth,
                               json={"when": "in 1 hour"})
    assert remind.status_code == 201
    assert datetime.fromisoformat(remind.json()["due_at"]) == _now(clock) + timedelta(hours=1)

    # A picture whose EXIF time is before the challenge existed is rejected at once.
    exif = Image.Exif()
    exif[306] = "2020:01:01 10:00:00"
    old = picture(seed=2101, exif=exif.tobytes())
    up = await client.post(f"/challenges/{cid}/proofs?idem_key=p1", content=old,
                           headers={**auth, "content-type": "image/jpeg"})
    assert up.status_code == 201 and up.json()["state"] == "rejected"
    assert "taken before" in up.json()["reason"]
    # Not a picture at all: refused, nothing stored.
    junk = await client.post(f"/challenges/{cid}/proofs?idem_key=p2", content=b"GIF89a....",
                             headers={**auth, "content-type": "image/jpeg"})
    assert junk.status_code == 400 and junk.json()["code"] == "file_not_image"
    # A good one goes to the admin queue.
    png = picture(seed=2102, fmt="PNG")
    up = await client.post(f"/challenges/{cid}/proofs?idem_key=p3", content=png,
                           headers={**auth, "content-type": "image/png"})
    assert up.status_code == 201 and up.json()["state"] == "pending", up.text
    proof_id = up.json()["id"]
    again = await client.post(f"/challenges/{cid}/proofs?idem_key=p4",
                              content=picture(seed=2103, fmt="PNG"),
                              headers={**auth, "content-type": "image/png"})
    assert again.status_code == 409 and again.json()["code"] == "proof_pending"

    detail = (await client.get(f"/challenges/{cid}", headers=auth)).json()
    assert [p["state"] for p in detail["proofs"]] == ["rejected", "pending"]
    assert {r["kind"] for r in detail["reminders"]} == {"auto", "requested"}

    # The admin rejects it after the deadline: the stake goes to the charity account.
    await clock.advance(7 * 3_600_000)
    assert (await svc.run_due())["settled"] == 0  # a proof under review holds the outcome
    admin = await admin_headers(pool, live.state.jwt_secret, "operator")
    rejected = await client.post(f"/admin/challenges/proofs/{proof_id}/reject",
                                 headers=admin, json={"reason": "no words visible"})
    assert rejected.status_code == 200, rejected.text
    assert await available(ledger, uid) == before - 25_000
    charity = (await ledger.balance(clearing_account("charity"), KES)).posted_minor
    assert charity == charity_before + 25_000
    mine = (await client.get("/challenges", headers=auth)).json()
    assert mine["challenges"][0]["state"] == "failed"
    assert mine["challenges"][0]["forfeit_to"] == "charity"
    assert mine["stats"]["failed"] == 1 and mine["stats"]["success_rate_bps"] == 0
    outcomes = (await client.get("/admin/challenges/outcomes", headers=admin)).json()
    assert cid in [o["id"] for o in outcomes["outcomes"]]
    viewer = await admin_headers(pool, live.state.jwt_secret, "viewer")
    forbidden = await client.post(f"/admin/challenges/proofs/{proof_id}/approve",
                                  headers=viewer, json={})
    assert forbidden.status_code == 403
    await ledger.check_invariants()


async def test_stats_streak_and_bonus(
    live: LiveServer, client: httpx.AsyncClient, svc: ChallengeService, clock: ManualClock,
    pool: Any, ledger: Ledger, vision: FakeVision,
) -> None:
    """Three challenges approved by the http verifier with a 10 % bonus from the house."""
    svc.settings = challenge_settings(verifier="http", verifier_url=vision.url, bonus_bps=1_000)
    uid, auth = await _player(live, pool, ledger, _ke_phone())
    before = await available(ledger, uid)
    for i in range(3):
        made = await client.post("/challenges", headers=auth, json={
            "idem_key": f"s{i}", "text": f"task {i} tomorrow 7am stake 100"})
        assert made.status_code == 201, made.text
        cid = made.json()["id"]
        assert (await client.post(f"/challenges/{cid}/confirm", headers=auth)).status_code == 200
        vision.script("approve")
        up = await client.post(f"/challenges/{cid}/proofs?idem_key=s{i}",
                               content=picture(seed=2200 + i),
                               headers={**auth, "content-type": "image/jpeg"})
        assert up.status_code == 201 and up.json()["verifier"] == "http"
        assert (await svc.run_due())["verified"] >= 1
        await clock.advance(1000)
    stats = (await client.get("/challenges/stats", headers=auth)).json()
    assert stats["succeeded"] == 3 and stats["streak"] == 3 and stats["best_streak"] == 3
    assert stats["success_rate_bps"] == 10_000 and stats["bonus_minor"] == 3 * 1_000
    assert await available(ledger, uid) == before + 3 * 1_000
    request = vision.requests[-1]
    assert request.problems == [] and request.body["version"] == 1
    assert request.body["goal"] == "task 2"
    await ledger.check_invariants()


async def test_verifier_unsure_or_off_contract_waits_for_an_admin(
    live: LiveServer, client: httpx.AsyncClient, svc: ChallengeService, pool: Any,
    ledger: Ledger, vision: FakeVision,
) -> None:
    svc.settings = challenge_settings(verifier="http", verifier_url=vision.url)
    _, auth = await _player(live, pool, ledger, _ke_phone())
    for i, action in enumerate(("unsure", "bad")):
        made = await client.post("/challenges", headers=auth, json={
            "idem_key": f"u{i}", "text": f"walk {i} tomorrow 9am stake 100"})
        cid = made.json()["id"]
        await client.post(f"/challenges/{cid}/confirm", headers=auth)
        vision.script(action)
        up = await client.post(f"/challenges/{cid}/proofs?idem_key=u{i}",
                               content=picture(seed=2300 + i),
                               headers={**auth, "content-type": "image/jpeg"})
        assert up.status_code == 201
        await svc.run_due()
        proof = await pool.fetchrow("SELECT * FROM challenge_proofs WHERE id = $1::uuid",
                                    up.json()["id"])
        assert proof["state"] == "pending"
        assert proof["verifier_state"] == ("unsure" if action == "unsure" else "failed")
    await ledger.check_invariants()


async def test_refusals_change_nothing(
    live: LiveServer, client: httpx.AsyncClient, svc: ChallengeService, pool: Any,
    ledger: Ledger,
) -> None:
    uid, auth = await _player(live, pool, ledger, _ke_phone())
    before = await available(ledger, uid)
    cases = [
        ({"idem_key": "r1", "text": "gym in 20 minutes stake 100"}, "deadline_too_soon"),
        ({"idem_key": "r2", "text": "gym in 40 days stake 100"}, "deadline_too_far"),
        ({"idem_key": "r3", "text": "gym tomorrow 7am stake 5"}, "stake_out_of_range"),
        ({"idem_key": "r4", "text": "gym stake 100"}, "challenge_unclear"),
        ({"idem_key": "r5", "goal": "gym", "stake_minor": 10_000, "deadline": "soonish"},
         "deadline_unclear"),
    ]
    for body, code in cases:
        r = await client.post("/challenges", headers=auth, json=body)
        assert r.status_code == 400 and r.json()["code"] == code, (body, r.text)
    other_uid, other = await _player(live, pool, ledger, _ke_phone())
    made = await client.post("/challenges", headers=other, json={
        "idem_key": "x", "text": "gym tomorrow 7am stake 100"})
    stranger = await client.post(f"/challenges/{made.json()['id']}/confirm", headers=auth)
    assert stranger.status_code == 404
    assert (await client.get("/challenges", headers={})).status_code == 401
    assert await available(ledger, uid) == before
    assert await available(ledger, other_uid) == 100_000
    await ledger.check_invariants()


def test_video_proofs_are_sized_and_recognised() -> None:
    from zoneinfo import ZoneInfo

    from server.features.challenges.proofs import ProofRejected, check_proof

    mp4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100
    checked = check_proof(mp4, "video/mp4", tz=ZoneInfo("UTC"), max_image_bytes=1024,
                          max_video_bytes=1024)
    assert checked.media == "video" and checked.phash is None
    for raw, declared, code in [
        (b"\x00" * 100, "video/mp4", "file_not_video"),
        (mp4 * 20, "video/mp4", "file_too_large"),
        (mp4, "video/quicktime-x", "file_type"),
    ]:
        try:
            check_proof(raw, declared, tz=ZoneInfo("UTC"), max_image_bytes=1024,
                        max_video_bytes=1024)
        except ProofRejected as exc:
            assert exc.code == code
        else:
            raise AssertionError(f"{code} not raised")


def test_perceptual_hash_survives_resizing() -> None:
    from server.features.challenges.proofs import hamming, phash_of
    from tests.challenges.helpers import reencoded

    photo = picture(seed=2400)
    assert hamming(phash_of(photo), phash_of(reencoded(photo))) <= 6
    assert hamming(phash_of(photo), phash_of(picture(seed=2401))) > 6
    with Image.open(io.BytesIO(photo)) as img:
        assert img.size == (256, 256)
