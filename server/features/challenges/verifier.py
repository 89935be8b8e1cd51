"""The `http` verifier: an external vision-model endpoint that judges a proof picture.

The contract (docs/challenges.md, "The verifier contract"):

    POST <MATCHPOT_CHALLENGES_VERIFIER_URL>
    Authorization: Bearer <MATCHPOT_CHALLENGES_VERIFIER_TOKEN>   (when set)
    Idempotency-Key: <proof id>
    {"version": 1, "proof_id", "challenge_id", "goal", "created_at", "deadline_at",
     "received_at", "time_zone", "content_type", "image_base64"}

    200 {"decision": "approve" | "reject" | "unsure", "confidence": 0..1,
         "reason": "<at most 200 characters>"}

Every attempt is bounded by `verifier_timeout_s`; connection errors, timeouts, 429
and 5xx are retried up to `verifier_attempts` times with doubling delays; any other
status or a body outside the contract fails at once. A failure is never a decision:
the proof stays pending for an admin. An `approve` below `verifier_min_confidence`
counts as `unsure`.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from server.features.challenges.settings import ChallengeSettings

log = structlog.get_logger(__name__)

CONTRACT_VERSION = 1
MAX_REASON_CHARS = 200
MAX_RESPONSE_BYTES = 16 * 1024
DECISIONS = ("approve", "reject", "unsure")


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: str  # approve | reject | unsure | failed
    confidence: float
    reason: str
    attempts: int


def request_body(
    *, proof_id: str, challenge_id: str, goal: str, created_at: str, deadline_at: str,
    received_at: str, time_zone: str, content_type: str, picture: bytes,
) -> dict[str, Any]:
    """The JSON the verifier receives (one picture, already re-encoded without metadata)."""
    return {
        "version": CONTRACT_VERSION, "proof_id": proof_id, "challenge_id": challenge_id,
        "goal": goal, "created_at": created_at, "deadline_at": deadline_at,
        "received_at": received_at, "time_zone": time_zone, "content_type": content_type,
        "image_base64": base64.b64encode(picture).decode(),
    }


def _verdict(data: Any, settings: ChallengeSettings, attempts: int) -> Verdict | None:
    """The answer if it keeps the contract, else None."""
    if not isinstance(data, dict) or data.get("decision") not in DECISIONS:
        return None
    confidence = data.get("confidence", 0.0)
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) \
            or not 0.0 <= float(confidence) <= 1.0:
        return None
    reason = data.get("reason", "")
    if not isinstance(reason, str):
        return None
    decision = str(data["decision"])
    if decision == "approve" and float(confidence) < settings.verifier_min_confidence:
        decision = "unsure"
    return Verdict(decision, float(confidence), " ".join(reason.split())[:MAX_REASON_CHARS],
                   attempts)


async def ask(
    client: httpx.AsyncClient, settings: ChallengeSettings, body: dict[str, Any]
) -> Verdict:
    """The verifier's verdict, or `failed` after the bounded retries (never raises)."""
    headers = {"Idempotency-Key": str(body["proof_id"])}
    if settings.verifier_token:
        headers["Authorization"] = f"Bearer {settings.verifier_token}"
    error = "not tried"
    for attempt in range(1, settings.verifier_attempts + 1):
        try:
            response = await client.post(
                settings.verifier_url, json=body, headers=headers,
                timeout=settings.verifier_timeout_s,
            )
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}"
        else:
            if response.status_code == 200 and len(response.content) <= MAX_RESPONSE_BYTES:
                try:
                    verdict = _verdict(response.json(), settings, attempt)
                except ValueError:
                    verdict = None
                if verdict is not None:
                    return verdict
                return Verdict("failed", 0.0, "answer outside the contract", attempt)
            error = f"http {response.status_code}"
            if response.status_code != 429 and response.status_code < 500:
                return Verdict("failed", 0.0, error, attempt)
        log.info("challenge_verifier_retry", attempt=attempt, error=error)
        if attempt < settings.verifier_attempts:
            await asyncio.sleep(settings.verifier_retry_base_s * 2 ** (attempt - 1))
    return Verdict("failed", 0.0, error[:MAX_REASON_CHARS], settings.verifier_attempts)
