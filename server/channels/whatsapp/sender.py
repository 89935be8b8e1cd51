"""Send messages through the Graph API, exactly as far as the API lets us know.

One HTTP attempt is `GraphApi.post`, which classifies the answer:

- accepted: 200 with a wamid;
- retry: the request certainly did not take effect or Meta asks us to come back
  (connection refused, 429/130429 throughput, 131056 pair rate, 5xx);
- failed: Meta refused the message for good (other 4xx);
- unknown: the request may have been accepted but the answer was lost (read
  timeout, connection dropped after sending, 200 without a wamid).

`Sender.deliver` wraps one attempt in the `wa_sends` row of the message's key:
the intent (state 'sending') is committed before the request, so a crash or an
ambiguous timeout leaves 'sending'/'unknown' and the message is *not* sent again
automatically. A later status webhook carrying the key (biz_opaque_callback_data)
resolves it; the operator policy `whatsapp_resend_unknown` allows one resend after
`whatsapp_unknown_grace_s` without such a status, with the same key.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import structlog

from server import metrics
from server.channels.whatsapp import messages
from server.channels.whatsapp.limits import Throughput, claim_pair_slot
from server.channels.whatsapp.statuses import apply_stored_statuses
from server.config import Settings

log = structlog.get_logger(__name__)

RETRY_CODES = frozenset({130429, 131056, 131000, 131016, 133004, 4, 80007})
BACKOFF_CAP_S = 60.0
THROUGHPUT_WAITS_MAX = 20  # bound on one-second waits for the shared per-second budget
REPLY_WAIT_MAX_S = 120.0  # a reply that would wait longer than this is given up

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class ApiResult:
    outcome: str  # accepted | retry | failed | unknown
    wamid: str | None = None
    error: str | None = None
    retry_after_s: float | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """What happened to one message. `wait_s` says when to try again (retry, deferred)."""

    outcome: str  # accepted | already | retry | failed | unknown | deferred
    wamid: str | None = None
    error: str | None = None
    wait_s: float = 0.0
    attempts: int = 0


def _error_of(response: httpx.Response) -> tuple[int | None, str]:
    try:
        err = response.json().get("error", {})
    except (ValueError, AttributeError):
        return None, f"http {response.status_code}"
    if not isinstance(err, dict):
        return None, f"http {response.status_code}"
    code = err.get("code")
    return (int(code) if isinstance(code, int) else None), f"{code}: {err.get('message', '')}"[:300]


class GraphApi:
    """One business number's /messages endpoint."""

    def __init__(self, settings: Settings, client: httpx.AsyncClient | None = None) -> None:
        self.url = (
            f"{settings.whatsapp_api_base.rstrip('/')}/{settings.whatsapp_api_version}"
            f"/{settings.whatsapp_phone_number_id}/messages"
        )
        self.client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(settings.whatsapp_http_timeout_s),
            limits=httpx.Limits(max_connections=64),
        )
        self.token = settings.whatsapp_access_token

    async def post(self, body: dict[str, Any]) -> ApiResult:
        """Exactly one HTTP request; never raises for network or API errors."""
        try:
            response = await self.client.post(
                self.url, json=body, headers={"Authorization": f"Bearer {self.token}"}
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return ApiResult("retry", error=f"not sent: {type(exc).__name__}")
        except httpx.HTTPError as exc:  # read timeout, dropped connection: it may have arrived
            return ApiResult("unknown", error=f"ambiguous: {type(exc).__name__}")
        if response.status_code == 200:
            try:
                wamid = response.json()["messages"][0]["id"]
            except (ValueError, KeyError, IndexError, TypeError):
                return ApiResult("unknown", error="200 without a message id")
            return ApiResult("accepted", wamid=str(wamid))
        code, text = _error_of(response)
        retry_after: float | None = None
        header = response.headers.get("retry-after", "")
        if header.isdigit():
            retry_after = min(float(header), BACKOFF_CAP_S)
        if response.status_code >= 500 or response.status_code == 429 or code in RETRY_CODES:
            return ApiResult("retry", error=text, retry_after_s=retry_after)
        return ApiResult("failed", error=text)

    async def aclose(self) -> None:
        await self.client.aclose()


class Sender:
    """Sends one message per key, honouring the pair rate, throughput and retry rules."""

    def __init__(
        self, settings: Settings, pool: asyncpg.Pool, throughput: Throughput, api: GraphApi,
        *, clock: Clock = time.time, rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.throughput = throughput
        self.api = api
        self.clock = clock
        self.rng = rng or random.Random()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def backoff_s(self, attempts: int, hint_s: float | None = None) -> float:
        """Exponential with jitter: base * 2**(attempts-1), in [50 %, 100 %], capped."""
        base = float(self.settings.whatsapp_retry_base_s) * 2.0 ** max(0, attempts - 1)
        delay = min(BACKOFF_CAP_S, base) * (0.5 + self.rng.random() / 2)
        return max(delay, hint_s or 0.0)

    async def _begin(self, key: str, user_id: str, kind: str) -> Delivery | str:
        """Decide whether `key` may be sent now; returns the state to move from, or the answer."""
        await self.pool.execute(
            "INSERT INTO wa_sends (key, user_id, kind) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            key, user_id, kind,
        )
        row = await self.pool.fetchrow(
            "SELECT state, wamid, attempts, updated_at FROM wa_sends WHERE key = $1", key
        )
        assert row is not None
        state, attempts = row["state"], row["attempts"]
        if row["wamid"] is not None or state == "accepted":
            return Delivery("already", wamid=row["wamid"], attempts=attempts)
        if state in ("failed", "skipped", "unsendable"):
            return Delivery("failed" if state == "failed" else state, attempts=attempts)
        if state == "sending":
            # Its last attempt never recorded an answer: the process died or hung mid-request.
            await self.pool.execute(
                "UPDATE wa_sends SET state = 'unknown', last_error = 'interrupted while sending',"
                " updated_at = now() WHERE key = $1 AND state = 'sending'", key,
            )
            state = "unknown"
        if state == "unknown":
            waited_s = (self.now() - row["updated_at"]).total_seconds()
            grace_s = self.settings.whatsapp_unknown_grace_s
            if not self.settings.whatsapp_resend_unknown or waited_s < grace_s:
                return Delivery("unknown", attempts=attempts, wait_s=max(1.0, grace_s - waited_s))
        return str(state)

    async def decide(self, key: str, user_id: str, kind: str, state: str, error: str) -> None:
        """Record that `key` is not sent (alerts off, no template outside the window)."""
        await self.pool.execute(
            "INSERT INTO wa_sends (key, user_id, kind) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            key, user_id, kind,
        )
        await self.mark(key, state, error)

    async def mark(self, key: str, state: str, error: str | None = None) -> None:
        """Record a decision that sends nothing (alerts off, no template outside the window)."""
        await self.pool.execute(
            "UPDATE wa_sends SET state = $2, last_error = $3, updated_at = now()"
            " WHERE key = $1 AND wamid IS NULL AND state NOT IN ('accepted', 'sending')",
            key, state, error,
        )

    async def deliver(
        self, *, key: str, user_id: str, phone_e164: str, kind: str, message: messages.Message,
        template_name: str | None = None,
    ) -> Delivery:
        """At most one HTTP attempt for `key`, or a clear reason why not now."""
        begun = await self._begin(key, user_id, kind)
        if isinstance(begun, Delivery):
            return begun
        from_state = begun
        wait_s = await claim_pair_slot(
            self.pool, user_id, phone_e164, self.now(), self.settings.whatsapp_pair_interval_s
        )
        if wait_s > 0:
            return Delivery("deferred", wait_s=wait_s)
        for _ in range(THROUGHPUT_WAITS_MAX):
            tp_wait_s = await self.throughput.try_acquire(self.clock())
            if tp_wait_s == 0:
                break
            await asyncio.sleep(tp_wait_s)
        else:
            return Delivery("deferred", wait_s=1.0)
        attempts = await self.pool.fetchval(
            "UPDATE wa_sends SET state = 'sending', attempts = attempts + 1, as_template = $3,"
            " updated_at = now() WHERE key = $1 AND state = $2 RETURNING attempts",
            key, from_state, template_name,
        )
        if attempts is None:  # another worker moved it meanwhile
            return Delivery("already")
        result = await self.api.post(messages.envelope(phone_e164, message, key))
        return await self._record(key, result, int(attempts))

    async def _record(self, key: str, result: ApiResult, attempts: int) -> Delivery:
        if result.outcome == "accepted":
            assert result.wamid
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "UPDATE wa_sends SET state = 'accepted', wamid = $2, last_error = NULL,"
                    " updated_at = now() WHERE key = $1", key, result.wamid,
                )
                await apply_stored_statuses(conn, result.wamid)
            metrics.WA_SENT.labels("accepted").inc()
            return Delivery("accepted", wamid=result.wamid, attempts=attempts)
        state = result.outcome
        if state == "retry" and attempts >= self.settings.whatsapp_send_max_attempts:
            state = "failed"
        await self.pool.execute(
            "UPDATE wa_sends SET state = $2, last_error = $3, updated_at = now()"
            " WHERE key = $1 AND state = 'sending'", key, state, result.error,
        )
        metrics.WA_SENT.labels(state).inc()
        log.warning("whatsapp_send_not_accepted", key=key, outcome=state, error=result.error)
        wait_s = self.backoff_s(attempts, result.retry_after_s) if state == "retry" else 0.0
        return Delivery(state, error=result.error, wait_s=wait_s, attempts=attempts)

    async def send_now(
        self, *, key: str, user_id: str, phone_e164: str, kind: str, message: messages.Message
    ) -> Delivery:
        """Deliver with retries in place (replies): waits out pair-rate slots and backoff,
        bounded by the attempt limit and REPLY_WAIT_MAX_S in total."""
        waited_s = 0.0
        while True:
            outcome = await self.deliver(
                key=key, user_id=user_id, phone_e164=phone_e164, kind=kind, message=message
            )
            if outcome.outcome not in ("retry", "deferred"):
                return outcome
            if waited_s + outcome.wait_s > REPLY_WAIT_MAX_S:
                await self.mark(key, "failed", "gave up waiting to send")
                return Delivery("failed", error="gave up waiting to send")
            waited_s += outcome.wait_s
            await asyncio.sleep(outcome.wait_s)
