"""Shared helpers for the WhatsApp tests: Meta-shaped payloads, signatures, settings."""

from __future__ import annotations

import itertools
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from server.channels.whatsapp.webhook import signature_of
from server.config import Settings
from tests.fakes.graph_api import FakeGraphApi, Recorded
from tests.support import TestServices

PAYLOADS = Path(__file__).parent / "payloads"
APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"
ACCESS_TOKEN = "test-token"
PHONE_NUMBER_ID = "1234567890"
_numbers = itertools.count(int(time.time() * 1000) % 1_000_000 * 100 + os.getpid() % 100)


def new_wa_id() -> str:
    """A fresh valid Kenyan mobile number as WhatsApp writes it (digits, no +)."""
    return f"2547{next(_numbers) % 100_000_000:08d}"


def new_wamid() -> str:
    return f"wamid.TEST{uuid.uuid4().hex}"


def payload(name: str, **values: Any) -> dict[str, Any]:
    """A fixture file with {{PLACEHOLDERS}} filled (JSON-escaped)."""
    raw = (PAYLOADS / f"{name}.json").read_text()
    values.setdefault("PHONE_NUMBER_ID", PHONE_NUMBER_ID)
    values.setdefault("NAME", "Test Player")
    values.setdefault("TS", str(int(time.time())))
    values.setdefault("KEY", "")
    for key, value in values.items():
        raw = raw.replace("{{" + key + "}}", json.dumps(str(value))[1:-1])
    assert "{{" not in raw, f"unfilled placeholder in {name}: {raw[raw.index('{{'):][:40]}"
    data: dict[str, Any] = json.loads(raw)
    return data


def body_of(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def signed_headers(body: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    return {"content-type": "application/json", "x-hub-signature-256": signature_of(secret, body)}


async def post_webhook(client: httpx.AsyncClient, data: dict[str, Any]) -> httpx.Response:
    body = body_of(data)
    return await client.post("/webhooks/whatsapp", content=body, headers=signed_headers(body))


def wa_settings(ts: TestServices, data_dir: Path, api_base: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        whatsapp_enabled=True, whatsapp_verify_token=VERIFY_TOKEN,
        whatsapp_app_secret=APP_SECRET, whatsapp_access_token=ACCESS_TOKEN,
        whatsapp_phone_number_id=PHONE_NUMBER_ID, whatsapp_api_base=api_base,
        whatsapp_pair_interval_s=0.0, whatsapp_retry_base_s=0.05, whatsapp_http_timeout_s=2.0,
    )
    values.update(overrides)
    return ts.settings(data_dir, **values)


def wa_env(api_base: str, **overrides: str) -> dict[str, str]:
    """The same WhatsApp settings as environment variables, for a subprocess server."""
    env = {
        "MATCHPOT_WHATSAPP_ENABLED": "true", "MATCHPOT_WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
        "MATCHPOT_WHATSAPP_APP_SECRET": APP_SECRET,
        "MATCHPOT_WHATSAPP_ACCESS_TOKEN": ACCESS_TOKEN,
        "MATCHPOT_WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "MATCHPOT_WHATSAPP_API_BASE": api_base, "MATCHPOT_WHATSAPP_PAIR_INTERVAL_S": "0",
    }
    env.update(overrides)
    return env


class Chat:
    """One user talking to the server: each call sends a message and returns the reply."""

    def __init__(self, client: httpx.AsyncClient, fake: FakeGraphApi) -> None:
        self.client = client
        self.fake = fake
        self.wa_id = new_wa_id()
        self.phone = "+" + self.wa_id
        self.last_wamid = ""

    async def send(self, name: str, **values: str) -> Recorded:
        """Deliver one signed message and return its first reply (found by its send key,
        so an alert arriving meanwhile is not mistaken for the reply)."""
        wamid = new_wamid()
        data = payload(name, WA_ID=self.wa_id, WAMID=wamid, **values)
        resp = await post_webhook(self.client, data)
        assert resp.status_code == 200 and resp.json()["received"] == 1
        key = f"reply:{wamid}:0"
        await self.fake.wait_for(lambda f: any(r.key == key for r in f.to(self.phone)))
        reply = next(r for r in self.fake.to(self.phone) if r.key == key)
        assert reply.status == 200 and reply.problems == []
        self.last_wamid = wamid
        return reply

    def alerts(self, containing: str = "") -> list[Recorded]:
        """Accepted messages to this user that are not replies (alerts), optionally only
        those whose text contains `containing`."""
        return [r for r in self.fake.to(self.phone)
                if r.status == 200 and not (r.key or "").startswith("reply:")
                and containing in r.text]

    async def wait_alert(self, containing: str, timeout_s: float = 15.0) -> Recorded:
        """The alert whose text contains `containing`, waiting for it within a bound."""
        await self.fake.wait_for(lambda f: bool(self.alerts(containing)), timeout_s)
        return self.alerts(containing)[0]

    async def say(self, text: str) -> Recorded:
        return await self.send("text", TEXT=text)
