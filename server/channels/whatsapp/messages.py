"""Graph API message bodies, built within WhatsApp's documented limits.

Limits are enforced here, before anything is sent: counts over a limit are a
programming error (ValueError), over-long titles are truncated safely (by
characters, never inside a code point) so a long question or name never makes
Meta refuse the whole message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

TEXT_MAX_CHARS = 4096
INTERACTIVE_BODY_MAX_CHARS = 1024
BUTTONS_MAX = 3
BUTTON_TITLE_MAX_CHARS = 20
BUTTON_ID_MAX_CHARS = 256
LIST_ROWS_MAX = 10
LIST_ROW_TITLE_MAX_CHARS = 24
LIST_ROW_DESCRIPTION_MAX_CHARS = 72
LIST_ROW_ID_MAX_CHARS = 200
LIST_BUTTON_MAX_CHARS = 20
TEMPLATE_PARAM_MAX_CHARS = 1024
CALLBACK_DATA_MAX_CHARS = 512

Message = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Button:
    id: str
    title: str


@dataclass(frozen=True, slots=True)
class Row:
    id: str
    title: str
    description: str = ""


def truncate(text: str, limit: int) -> str:
    """At most `limit` characters; a cut is marked with an ellipsis."""
    assert limit >= 1
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


def text(body: str) -> Message:
    assert body.strip(), "a text message needs a body"
    return {"type": "text", "text": {"preview_url": False, "body": truncate(body, TEXT_MAX_CHARS)}}


def buttons(body: str, items: Sequence[Button]) -> Message:
    """Reply buttons: 1 to 3, titles of at most 20 characters, unique ids."""
    if not 1 <= len(items) <= BUTTONS_MAX:
        raise ValueError(f"reply buttons: 1 to {BUTTONS_MAX}, got {len(items)}")
    ids = [b.id[:BUTTON_ID_MAX_CHARS] for b in items]
    if len(set(ids)) != len(ids):
        raise ValueError("reply button ids must be unique")
    return {
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": truncate(body, INTERACTIVE_BODY_MAX_CHARS)},
            "action": {
                "buttons": [
                    {
                        "type": "reply",
                        "reply": {"id": bid, "title": truncate(b.title, BUTTON_TITLE_MAX_CHARS)},
                    }
                    for bid, b in zip(ids, items, strict=True)
                ]
            },
        },
    }


def list_(body: str, button_label: str, section_title: str, rows: Sequence[Row]) -> Message:
    """A list message with one section of 1 to 10 rows (titles ≤ 24 characters)."""
    if not 1 <= len(rows) <= LIST_ROWS_MAX:
        raise ValueError(f"list rows: 1 to {LIST_ROWS_MAX}, got {len(rows)}")
    out_rows: list[dict[str, str]] = []
    for row in rows:
        item = {
            "id": row.id[:LIST_ROW_ID_MAX_CHARS],
            "title": truncate(row.title, LIST_ROW_TITLE_MAX_CHARS),
        }
        if row.description:
            item["description"] = truncate(row.description, LIST_ROW_DESCRIPTION_MAX_CHARS)
        out_rows.append(item)
    if len({r["id"] for r in out_rows}) != len(out_rows):
        raise ValueError("list row ids must be unique")
    return {
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": {"text": truncate(body, INTERACTIVE_BODY_MAX_CHARS)},
            "action": {
                "button": truncate(button_label, LIST_BUTTON_MAX_CHARS),
                "sections": [
                    {"title": truncate(section_title, LIST_ROW_TITLE_MAX_CHARS), "rows": out_rows}
                ],
            },
        },
    }


def template(name: str, language: str, body_params: Sequence[str] = ()) -> Message:
    """An approved template; `body_params` fill {{1}}, {{2}}, ... of its body."""
    assert name, "a template needs a name"
    msg: Message = {"type": "template", "template": {"name": name, "language": {"code": language}}}
    if body_params:
        msg["template"]["components"] = [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": truncate(p, TEMPLATE_PARAM_MAX_CHARS)}
                    for p in body_params
                ],
            }
        ]
    return msg


def envelope(phone_e164: str, message: Message, send_key: str) -> dict[str, Any]:
    """The full request body. `send_key` comes back in status webhooks as
    biz_opaque_callback_data, so a message is recognisable even when its send
    response was lost."""
    assert phone_e164.startswith("+")
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": phone_e164.lstrip("+"),
        "biz_opaque_callback_data": send_key[:CALLBACK_DATA_MAX_CHARS],
        **message,
    }


def summary(message: Message) -> str:
    """A short description of a message for logs and the sends table."""
    kind = str(message.get("type"))
    if kind == "interactive":
        return "interactive:" + str(message["interactive"].get("type"))
    if kind == "template":
        return "template:" + str(message["template"].get("name"))
    return kind
