"""The sender against the fake Graph API, driven by a made-up clock (no sleeping for limits)."""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from server.auth.users import get_or_create_user_by_phone
from server.channels.whatsapp import messages
from server.channels.whatsapp.limits import Throughput, in_window, record_inbound
from server.channels.whatsapp.payloads import StatusUpdate
from server.channels.whatsapp.sender import GraphApi, Sender
from server.channels.whatsapp.statuses import record_statuses
from tests.fakes.graph_api import FakeGraphApi
from tests.whatsapp.helpers import ACCESS_TOKEN, PHONE_NUMBER_ID, new_wa_id, wa_settings


class Clock:
    def __init__(self) -> None:
        self.now_s = time.time()

    def __call__(self) -> float:
        return self.now_s


class NoJitter(random.Random):
    def random(self) -> float:
        return 1.0  # the top of the jitter range: delays are exactly base * 2**n


@pytest.fixture
async def make_sender(
    test_services: Any, data_dir: Path, fake: FakeGraphApi, pool: Any, ledger: Any,
    redis: Redis,
) -> Any:
    fake.queue.clear()
    fake.default_action = "ok"
    made: list[GraphApi] = []

    def make(clock: Clock, **overrides: Any) -> Sender:
        values: dict[str, Any] = {"whatsapp_pair_interval_s": 6.0, "whatsapp_retry_base_s": 1.0,
                                  "whatsapp_http_timeout_s": 0.3}
        values.update(overrides)
        settings = wa_settings(test_services, data_dir, fake.url, **values)
        api = GraphApi(settings)
        made.append(api)
        tp = Throughput(redis, settings.redis_prefix, f"tp-{uuid.uuid4().hex}", 1000)
        return Sender(settings, pool, tp, api, clock=clock, rng=NoJitter())

    yield make
    for api in made:
        await api.aclose()


async def _user(pool: Any) -> tuple[str, str]:
    user = await get_or_create_user_by_phone(pool, "+" + new_wa_id())
    return user.id, user.phone_e164


async def _send(sender: Sender, key: str, user: tuple[str, str], text: str = "hello") -> Any:
    return await sender.deliver(key=key, user_id=user[0], phone_e164=user[1], kind="test",
                                message=messages.text(text))


async def test_accepted_request_shape_and_no_resend(
    make_sender: Any, fake: FakeGraphApi, pool: Any
) -> None:
    sender, user = make_sender(Clock()), await _user(pool)
    first = await _send(sender, "k-shape", user, "Your balance: 5 credits.")
    assert first.outcome == "accepted" and first.wamid
    (req,) = fake.to(user[1])
    assert req.path == f"/v21.0/{PHONE_NUMBER_ID}/messages"
    assert req.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert req.headers["content-type"] == "application/json"
    assert req.body["to"] == user[1].lstrip("+") and req.body["type"] == "text"
    assert req.body["text"]["body"] == "Your balance: 5 credits."
    assert req.body["biz_opaque_callback_data"] == "k-shape"
    again = await _send(sender, "k-shape", user)
    assert again.outcome == "already" and again.wamid == first.wamid
    assert len(fake.to(user[1])) == 1
    row = await pool.fetchrow("SELECT state, wamid, attempts FROM wa_sends WHERE key = 'k-shape'")
    assert tuple(row) == ("accepted", first.wamid, 1)


async def test_throughput_pair_rate_and_5xx_are_retried_with_growing_backoff(
    make_sender: Any, fake: FakeGraphApi, pool: Any
) -> None:
    sender, user = make_sender(Clock(), whatsapp_pair_interval_s=0), await _user(pool)
    fake.script("throughput", "pair_rate", "server_error", "ok")
    outcomes, waits = [], []
    for _ in range(4):
        d = await _send(sender, "k-retry", user)
        outcomes.append(d.outcome)
        waits.append(d.wait_s)
    assert outcomes == ["retry", "retry", "retry", "accepted"]
    assert waits[:3] == [1.0, 2.0, 4.0]  # base * 2**(attempt-1), no jitter here
    assert [r.status for r in fake.to(user[1])] == [429, 400, 500, 200]
    assert {r.key for r in fake.to(user[1])} == {"k-retry"}


async def test_replies_wait_out_the_backoff_themselves(
    make_sender: Any, fake: FakeGraphApi, pool: Any
) -> None:
    sender = make_sender(Clock(), whatsapp_pair_interval_s=0, whatsapp_retry_base_s=0.01)
    user = await _user(pool)
    fake.script("server_error", "throughput", "ok")
    d = await sender.send_now(key="k-reply", user_id=user[0], phone_e164=user[1], kind="reply",
                              message=messages.text("hi"))
    assert d.outcome == "accepted" and d.attempts == 3


async def test_attempts_are_bounded_and_refusals_are_final(
    make_sender: Any, fake: FakeGraphApi, pool: Any
) -> None:
    sender = make_sender(Clock(), whatsapp_pair_interval_s=0, whatsapp_send_max_attempts=3)
    user = await _user(pool)
    fake.default_action = "server_error"
    results = [(await _send(sender, "k-bounded", user)).outcome for _ in range(4)]
    assert results == ["retry", "retry", "failed", "failed"]
    assert len(fake.to(user[1])) == 3
    fake.default_action = "ok"
    fake.script("bad_request")
    assert (await _send(sender, "k-refused", user)).outcome == "failed"
    assert (await _send(sender, "k-refused", user)).outcome == "failed"
    assert len([r for r in fake.to(user[1]) if r.key == "k-refused"]) == 1


async def test_an_ambiguous_timeout_is_never_resent_blindly(
    make_sender: Any, fake: FakeGraphApi, pool: Any
) -> None:
    clock = Clock()
    sender, user = make_sender(clock), await _user(pool)
    fake.script(("hang", 1.0))  # answers 200 after the client (0.3 s timeout) gave up
    first = await _send(sender, "k-ambiguous", user)
    assert first.outcome == "unknown"
    assert await pool.fetchval("SELECT state FROM wa_sends WHERE key = 'k-ambiguous'") == "unknown"
    await fake.wait_for(lambda f: len(f.accepted("k-ambiguous")) == 1)
    clock.now_s += 7 * 24 * 3600  # however long we wait: the default policy never resends
    assert (await _send(sender, "k-ambiguous", user)).outcome == "unknown"
    assert len(fake.to(user[1])) == 1
    # The status webhook carries our key: the message is resolved to the wamid Meta assigned.
    wamid = fake.accepted("k-ambiguous")[0].wamid
    assert wamid is not None
    async with pool.acquire() as conn:
        await record_statuses(conn, [StatusUpdate(wamid, "delivered", int(time.time()), "x",
                                                  send_key="k-ambiguous")])
    row = await pool.fetchrow("SELECT state, wamid, delivery FROM wa_sends WHERE key = $1",
                              "k-ambiguous")
    assert tuple(row) == ("accepted", wamid, "delivered")
    assert (await _send(sender, "k-ambiguous", user)).outcome == "already"


async def test_resend_after_grace_when_the_operator_allows_it(
    make_sender: Any, fake: FakeGraphApi, pool: Any
) -> None:
    clock = Clock()
    sender = make_sender(clock, whatsapp_pair_interval_s=0, whatsapp_resend_unknown=True,
                         whatsapp_unknown_grace_s=600)
    user = await _user(pool)
    fake.script(("hang", 1.0))
    assert (await _send(sender, "k-policy", user)).outcome == "unknown"
    clock.now_s += 60
    assert (await _send(sender, "k-policy", user)).outcome == "unknown"  # still within grace
    clock.now_s += 600
    again = await _send(sender, "k-policy", user)
    assert again.outcome == "accepted"
    sent = [r for r in fake.to(user[1]) if r.key == "k-policy"]
    assert len(sent) == 2  # the resend carries the same key, so it is recognisable


async def test_pair_rate_spaces_messages_to_one_user(
    make_sender: Any, fake: FakeGraphApi, pool: Any
) -> None:
    clock = Clock()
    sender, alice, bob = make_sender(clock), await _user(pool), await _user(pool)
    assert (await _send(sender, "pr-1", alice)).outcome == "accepted"
    clock.now_s += 1
    second = await _send(sender, "pr-2", alice)
    assert second.outcome == "deferred" and second.wait_s == pytest.approx(5.0)
    assert (await _send(sender, "pr-bob", bob)).outcome == "accepted"  # other users unaffected
    assert len(fake.to(alice[1])) == 1
    clock.now_s += 5
    assert (await _send(sender, "pr-2", alice)).outcome == "accepted"
    assert [r.key for r in fake.to(alice[1])] == ["pr-1", "pr-2"]


async def test_throughput_budget_per_second(redis: Redis, settings: Any) -> None:
    tp = Throughput(redis, settings.redis_prefix, f"tp-{uuid.uuid4().hex}", 3)
    base = float(int(time.time())) + 0.25
    assert [await tp.try_acquire(base) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert await tp.try_acquire(base + 0.1) == pytest.approx(0.65)
    assert await tp.try_acquire(base + 0.75) == 0.0  # the next second has a fresh budget


async def test_the_24_hour_window(pool: Any, ledger: Any) -> None:
    user_id, phone = await _user(pool)
    now = datetime.now(UTC)
    assert await in_window(pool, user_id, now) is False  # never wrote to us
    await record_inbound(pool, user_id, phone, now - timedelta(hours=25))
    assert await in_window(pool, user_id, now) is False
    await record_inbound(pool, user_id, phone, now - timedelta(hours=23))
    assert await in_window(pool, user_id, now) is True
    await record_inbound(pool, user_id, phone, now - timedelta(hours=30))  # a late old message
    assert await in_window(pool, user_id, now) is True
    assert await in_window(pool, user_id, now + timedelta(hours=1, seconds=1)) is False
