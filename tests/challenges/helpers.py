"""Helpers for the challenge tests: funded WhatsApp players, proof pictures, media messages."""

from __future__ import annotations

import io
import random
import uuid
from typing import Any

import httpx
from PIL import Image

from ledger import WORLD, Ledger, TransferRequest, user_account
from rooms.clock import ManualClock
from tests.fakes.graph_api import FakeGraphApi, Recorded
from tests.whatsapp.helpers import Chat, new_wamid, payload, post_webhook

KES = "KES"


def picture(seed: int, size: int = 256, fmt: str = "JPEG", exif: bytes | None = None) -> bytes:
    """A smooth random picture (distinct perceptual hash per seed)."""
    rng = random.Random(seed)
    small = Image.new("RGB", (8, 8))
    small.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256))
                   for _ in range(64)])
    img = small.resize((size, size), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    if exif is not None:
        img.save(out, fmt, exif=exif)
    else:
        img.save(out, fmt)
    return out.getvalue()


def reencoded(data: bytes, scale: float = 0.75, quality: int = 70) -> bytes:
    """The same picture resized and re-compressed: a 'new' file of an old photo."""
    with Image.open(io.BytesIO(data)) as img:
        w, h = img.size
        out = io.BytesIO()
        img.resize((int(w * scale), int(h * scale))).save(out, "JPEG", quality=quality)
        return out.getvalue()


async def user_id_of(pool: Any, chat: Chat) -> str:
    return str(await pool.fetchval("SELECT id FROM users WHERE phone_e164 = $1", chat.phone))


async def new_player(
    client: httpx.AsyncClient, fake: FakeGraphApi, pool: Any, ledger: Ledger,
    credits_minor: int = 100_000,
) -> tuple[Chat, str]:
    """A WhatsApp player who has written once and holds `credits_minor`."""
    chat = Chat(client, fake)
    await chat.say("balance")
    uid = await user_id_of(pool, chat)
    await ledger.transfer(TransferRequest(
        id=uuid.uuid4(), debit=WORLD, credit=user_account(uid), amount_minor=credits_minor,
        currency=KES, code="deposit"))
    return chat, uid


async def available(ledger: Ledger, uid: str) -> int:
    return (await ledger.balance(user_account(uid), KES)).available_minor


async def send_media(
    chat: Chat, media_id: str, mime: str, *, at_s: int, kind: str = "image",
    caption: str = "",
) -> Recorded:
    """A signed image/video message sent at `at_s` (Meta's timestamp); its first reply."""
    wamid = new_wamid()
    data = payload("text", WA_ID=chat.wa_id, WAMID=wamid, TEXT="x", TS=str(at_s))
    msg = data["entry"][0]["changes"][0]["value"]["messages"][0]
    del msg["text"]
    msg["type"] = kind
    msg[kind] = {"id": media_id, "mime_type": mime, "sha256": "x", "caption": caption}
    resp = await post_webhook(chat.client, data)
    assert resp.status_code == 200 and resp.json()["received"] == 1
    key = f"reply:{wamid}:0"
    await chat.fake.wait_for(lambda f: any(r.key == key for r in f.to(chat.phone)))
    reply = next(r for r in chat.fake.to(chat.phone) if r.key == key)
    assert reply.status == 200 and reply.problems == []
    return reply


def buttons_of(reply: Recorded) -> list[tuple[str, str]]:
    assert reply.body["type"] == "interactive", reply.body
    return [(b["reply"]["id"], b["reply"]["title"])
            for b in reply.body["interactive"]["action"]["buttons"]]


async def tap(chat: Chat, button_id: str, title: str) -> Recorded:
    return await chat.send("button_reply", REPLY_ID=button_id, TEXT=title)


def seconds(clock: ManualClock) -> int:
    return clock.now_ms() // 1000
