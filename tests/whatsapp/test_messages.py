"""Outgoing messages stay within WhatsApp's limits, whatever text we give them."""

from __future__ import annotations

import pytest

from server.channels.whatsapp import messages
from server.channels.whatsapp.messages import Button, Row
from tests.fakes.graph_api import shape_problems


def _wrap(msg: messages.Message) -> dict[str, object]:
    return messages.envelope("+254712345678", msg, "key-1")


def test_long_titles_are_truncated_to_the_limits() -> None:
    msg = messages.buttons("Pick one " * 300, [
        Button("a", "A very long button title indeed"), Button("b", "B"), Button("c", "Ç" * 40),
    ])
    titles = [b["reply"]["title"] for b in msg["interactive"]["action"]["buttons"]]
    assert titles[0] == "A very long button…"
    assert len(titles[2]) == 20
    assert len(msg["interactive"]["body"]["text"]) == 1024
    assert shape_problems(_wrap(msg)) == []


def test_too_many_buttons_or_rows_are_refused_before_sending() -> None:
    with pytest.raises(ValueError):
        messages.buttons("x", [Button(str(i), "t") for i in range(4)])
    with pytest.raises(ValueError):
        messages.buttons("x", [Button("same", "a"), Button("same", "b")])
    with pytest.raises(ValueError):
        messages.list_("x", "Open", "S", [Row(str(i), "t") for i in range(11)])


def test_list_rows_within_limits() -> None:
    rows = [Row(f"r{i}", "Will Gor Mahia beat AFC Leopards on Sunday?", "d" * 100)
            for i in range(10)]
    msg = messages.list_("Pick a question", "Questions and more", "Open questions", rows)
    out = msg["interactive"]["action"]["sections"][0]["rows"]
    assert all(len(r["title"]) <= 24 and len(r["description"]) <= 72 for r in out)
    assert shape_problems(_wrap(msg)) == []


def test_envelope_carries_recipient_digits_and_the_per_message_key() -> None:
    body = _wrap(messages.text("hello"))
    assert body["to"] == "254712345678"
    assert body["biz_opaque_callback_data"] == "key-1"
    assert body["messaging_product"] == "whatsapp"


def test_template_parameters() -> None:
    msg = messages.template("deposit_update", "en", ["Your deposit of 500 credits is in."])
    assert msg["template"]["components"][0]["parameters"][0]["text"].startswith("Your deposit")
    assert shape_problems(_wrap(msg)) == []
