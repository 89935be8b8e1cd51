"""Several messages of one user in one webhook POST are answered in the user's order.

They share `received_at` (one transaction), so the order is the message's own
timestamp, then its position in the payload: never where the rows happen to land.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import httpx

from tests.fakes.graph_api import FakeGraphApi
from tests.whatsapp.helpers import new_wa_id, new_wamid, payload, post_webhook


def one_post(wa_id: str, messages: list[tuple[str, int, str]]) -> dict[str, Any]:
    """One delivery carrying `messages` (wamid, timestamp, text) in this payload order."""
    data = payload("text", WA_ID=wa_id, WAMID="x", TEXT="x")
    value = data["entry"][0]["changes"][0]["value"]
    template = value["messages"][0]
    value["messages"] = []
    for wamid, ts, text in messages:
        msg = copy.deepcopy(template)
        msg.update(id=wamid, timestamp=str(ts), text={"body": text})
        value["messages"].append(msg)
    return data


async def answered_order(
    client: httpx.AsyncClient, fake: FakeGraphApi, messages: list[tuple[str, int, str]]
) -> list[str]:
    """Deliver the messages in one POST; return their wamids in the order answered."""
    wa_id = new_wa_id()
    resp = await post_webhook(client, one_post(wa_id, messages))
    assert resp.status_code == 200 and resp.json()["received"] == len(messages)
    keys = {f"reply:{wamid}:0": wamid for wamid, _, _ in messages}
    await fake.wait_for(lambda f: keys.keys() <= {r.key for r in f.to("+" + wa_id)})
    return [keys[r.key] for r in fake.to("+" + wa_id) if r.key in keys]


async def test_messages_of_one_post_are_answered_by_their_own_timestamp(
    client: httpx.AsyncClient, fake: FakeGraphApi
) -> None:
    ts = int(time.time())
    later, earlier = new_wamid(), new_wamid()
    # Meta lists the later message first: the timestamps decide, not the payload order.
    order = await answered_order(client, fake, [(later, ts, "balance"),
                                                (earlier, ts - 3, "help")])
    assert order == [earlier, later]


async def test_messages_with_one_timestamp_are_answered_in_payload_order(
    client: httpx.AsyncClient, fake: FakeGraphApi, pool: Any
) -> None:
    ts = int(time.time())
    wamids = [new_wamid() for _ in range(4)]
    texts = ["help", "balance", "help", "balance"]
    order = await answered_order(client, fake, [(w, ts, t) for w, t in zip(wamids, texts,
                                                                            strict=True)])
    assert order == wamids
    positions = await pool.fetch(
        "SELECT wamid, position FROM wa_inbound WHERE wamid = ANY($1::text[])", wamids)
    assert {r["wamid"]: r["position"] for r in positions} == {w: i for i, w in enumerate(wamids)}
