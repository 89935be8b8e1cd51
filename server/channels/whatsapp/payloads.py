"""Parse Meta's webhook bodies into typed inbound messages and status updates.

Pure functions: no I/O, so every documented payload shape is a unit test.
Every level of the body is an array (entry[], changes[], messages[], statuses[]);
all of it is read, and a malformed item is skipped rather than failing the batch
(one bad item must not make Meta redeliver the good ones forever).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import phonenumbers

MAX_ITEMS = 1000  # bound on messages + statuses taken from one body
MAX_TEXT_CHARS = 4096
STATUSES = ("sent", "delivered", "read", "failed")
MEDIA_TYPES = ("image", "video")  # media messages kept for proofs (others stay unsupported)


class PayloadError(Exception):
    """The body is not a WhatsApp webhook at all."""


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One message a user sent us."""

    wamid: str
    phone_e164: str
    sent_at_s: int
    kind: str  # text | button_reply | list_reply | button | unsupported
    text: str  # the typed text, or the title of the tapped reply
    reply_id: str | None = None  # button_reply.id, list_reply.id or a template button's payload
    profile_name: str | None = None
    # An image or video (kind stays "unsupported" for commands; `text` is its caption).
    media_id: str | None = None
    media_type: str | None = None  # image | video
    mime_type: str | None = None

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.kind, "text": self.text, "reply_id": self.reply_id,
            "profile_name": self.profile_name,
        }
        if self.media_id is not None:
            data.update(media_id=self.media_id, media_type=self.media_type,
                        mime_type=self.mime_type)
        return data


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """A delivery status of a message we sent."""

    wamid: str
    status: str  # sent | delivered | read | failed
    at_s: int
    recipient: str
    send_key: str | None = None  # biz_opaque_callback_data we attached when sending
    errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Batch:
    messages: list[InboundMessage]
    statuses: list[StatusUpdate]


def to_e164(wa_id: str) -> str | None:
    """WhatsApp ids are digits with the country code; None when not a valid number."""
    digits = wa_id.strip().lstrip("+")
    if not digits.isdigit() or not 7 <= len(digits) <= 15:
        return None
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _message(raw: Any, names: dict[str, str]) -> InboundMessage | None:
    if not isinstance(raw, dict):
        return None
    wamid, sender, ts = raw.get("id"), raw.get("from"), _int(raw.get("timestamp"))
    if not isinstance(wamid, str) or not wamid or len(wamid) > 256:
        return None
    if not isinstance(sender, str) or ts is None:
        return None
    phone = to_e164(sender)
    if phone is None:
        return None
    kind, text, reply_id = "unsupported", "", None
    media_id: str | None = None
    mime_type: str | None = None
    mtype = raw.get("type")
    if mtype in MEDIA_TYPES and isinstance(raw.get(mtype), dict):
        media = raw[mtype]
        if isinstance(media.get("id"), str) and 0 < len(media["id"]) <= 128:
            media_id = media["id"]
            mime_type = str(media.get("mime_type", ""))[:100] or None
            text = str(media.get("caption", ""))
    if mtype == "text" and isinstance(raw.get("text"), dict):
        kind, text = "text", str(raw["text"].get("body", ""))
    elif mtype == "interactive" and isinstance(raw.get("interactive"), dict):
        inter = raw["interactive"]
        itype = inter.get("type")
        if itype in ("button_reply", "list_reply") and isinstance(inter.get(itype), dict):
            kind = itype
            text = str(inter[itype].get("title", ""))
            reply_id = str(inter[itype].get("id", "")) or None
    elif mtype == "button" and isinstance(raw.get("button"), dict):
        kind = "button"
        text = str(raw["button"].get("text", ""))
        reply_id = str(raw["button"].get("payload", "")) or None
    return InboundMessage(
        wamid=wamid, phone_e164=phone, sent_at_s=ts, kind=kind, text=text[:MAX_TEXT_CHARS],
        reply_id=reply_id[:256] if reply_id else None, profile_name=names.get(sender),
        media_id=media_id, media_type=str(mtype) if media_id else None, mime_type=mime_type,
    )


def _status(raw: Any) -> StatusUpdate | None:
    if not isinstance(raw, dict):
        return None
    wamid, status, ts = raw.get("id"), raw.get("status"), _int(raw.get("timestamp"))
    if not isinstance(wamid, str) or not wamid or status not in STATUSES or ts is None:
        return None
    key = raw.get("biz_opaque_callback_data")
    errors = [e for e in _list(raw.get("errors"))[:10] if isinstance(e, dict)]
    return StatusUpdate(
        wamid=wamid, status=str(status), at_s=ts, recipient=str(raw.get("recipient_id", "")),
        send_key=key if isinstance(key, str) and key else None, errors=errors,
    )


def parse_webhook(body: Any, *, phone_number_id: str | None = None) -> Batch:
    """Every message and status in the body, in order.

    Changes addressed to another business number are ignored when `phone_number_id`
    is given (one app may serve several numbers).
    """
    if not isinstance(body, dict) or body.get("object") != "whatsapp_business_account":
        raise PayloadError("not a whatsapp_business_account webhook")
    messages: list[InboundMessage] = []
    statuses: list[StatusUpdate] = []
    for entry in _list(body.get("entry")):
        if not isinstance(entry, dict):
            continue
        for change in _list(entry.get("changes")):
            if not isinstance(change, dict) or change.get("field") != "messages":
                continue
            value = change.get("value")
            if not isinstance(value, dict):
                continue
            meta = value.get("metadata")
            if phone_number_id and isinstance(meta, dict):
                if str(meta.get("phone_number_id", "")) != phone_number_id:
                    continue
            names: dict[str, str] = {}
            for contact in _list(value.get("contacts")):
                if isinstance(contact, dict) and isinstance(contact.get("profile"), dict):
                    name = contact["profile"].get("name")
                    if isinstance(name, str) and isinstance(contact.get("wa_id"), str):
                        names[contact["wa_id"]] = name[:40]
            for raw in _list(value.get("messages")):
                if len(messages) + len(statuses) >= MAX_ITEMS:
                    break
                msg = _message(raw, names)
                if msg is not None:
                    messages.append(msg)
            for raw in _list(value.get("statuses")):
                if len(messages) + len(statuses) >= MAX_ITEMS:
                    break
                st = _status(raw)
                if st is not None:
                    statuses.append(st)
    return Batch(messages=messages, statuses=statuses)
