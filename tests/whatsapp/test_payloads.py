"""Meta's documented webhook shapes parse into the messages and statuses a user sent."""

from __future__ import annotations

import pytest

from server.channels.whatsapp.payloads import PayloadError, parse_webhook, to_e164
from tests.whatsapp.helpers import PHONE_NUMBER_ID, payload


def test_text_message() -> None:
    batch = parse_webhook(payload("text", WA_ID="254712345678", WAMID="wamid.A", TEXT="Balance",
                                  TS="1763764000", NAME="Amina"), phone_number_id=PHONE_NUMBER_ID)
    assert batch.statuses == []
    (msg,) = batch.messages
    assert (msg.wamid, msg.phone_e164, msg.kind, msg.text) == (
        "wamid.A", "+254712345678", "text", "Balance")
    assert msg.sent_at_s == 1763764000 and msg.profile_name == "Amina"


@pytest.mark.parametrize(("name", "kind"), [
    ("button_reply", "button_reply"), ("list_reply", "list_reply"), ("template_button", "button"),
])
def test_replies_carry_their_id_and_title(name: str, kind: str) -> None:
    data = payload(name, WA_ID="254712345678", WAMID="wamid.B", TEXT="Balance",
                   REPLY_ID="cmd:balance")
    (msg,) = parse_webhook(data).messages
    assert (msg.kind, msg.reply_id, msg.text) == (kind, "cmd:balance", "Balance")


def test_statuses_including_failed_with_errors() -> None:
    ok = parse_webhook(payload("status", WAMID="wamid.C", STATUS="delivered",
                               WA_ID="254712345678", KEY="alert-1"))
    (st,) = ok.statuses
    assert (st.wamid, st.status, st.send_key) == ("wamid.C", "delivered", "alert-1")
    failed = parse_webhook(payload("status_failed", WAMID="wamid.D", WA_ID="254712345678"))
    (st,) = failed.statuses
    assert st.status == "failed" and st.errors[0]["code"] == 131047


def test_every_entry_change_message_and_status_is_read() -> None:
    batch = parse_webhook(payload("batch"), phone_number_id=PHONE_NUMBER_ID)
    assert [m.wamid for m in batch.messages] == ["wamid.BATCH1", "wamid.BATCH2"]
    assert batch.messages[1].kind == "unsupported"  # an image: answered with the menu
    assert [(s.wamid, s.status) for s in batch.statuses] == [
        ("wamid.OUT1", "delivered"), ("wamid.OUT2", "read")]
    # Without a configured number, the change for another number is read too.
    assert len(parse_webhook(payload("batch")).messages) == 3


def test_malformed_items_are_skipped_not_fatal() -> None:
    data = payload("text", WA_ID="254712345678", WAMID="wamid.E", TEXT="hi")
    msgs = data["entry"][0]["changes"][0]["value"]["messages"]
    msgs.append({"from": "not-a-number", "id": "wamid.F", "timestamp": "1", "type": "text"})
    msgs.append("garbage")
    data["entry"].append("garbage")
    assert [m.wamid for m in parse_webhook(data).messages] == ["wamid.E"]


def test_not_a_whatsapp_body() -> None:
    with pytest.raises(PayloadError):
        parse_webhook({"object": "page", "entry": []})
    with pytest.raises(PayloadError):
        parse_webhook([1, 2])


def test_phone_numbers_normalise_to_e164() -> None:
    assert to_e164("254712345678") == "+254712345678"
    assert to_e164("+14155550123") == "+14155550123"
    assert to_e164("12") is None
    assert to_e164("2547abc") is None
