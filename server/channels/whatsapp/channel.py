"""The process's WhatsApp objects (sender, API client, worker wake-up), built once."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from server.channels.whatsapp.limits import Throughput
from server.channels.whatsapp.sender import GraphApi, Sender
from server.state import AppState, Slot


@dataclass
class Channel:
    sender: Sender
    api: GraphApi
    inbound_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    outbox_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)


CHANNEL: Slot[Channel] = Slot("whatsapp", Channel)


def get_channel(state: AppState) -> Channel:
    """The channel of this process, created on first use."""
    found = state.find(CHANNEL)
    if found is not None:
        return found
    s = state.settings
    api = GraphApi(s)
    throughput = Throughput(
        state.redis, s.redis_prefix, s.whatsapp_phone_number_id, s.whatsapp_rate_per_s
    )
    channel = Channel(sender=Sender(s, state.pool, throughput, api), api=api)
    return state.provide(CHANNEL, channel)


async def close_channel(state: AppState) -> None:
    """Stop this node's WhatsApp workers, then close the HTTP client they use."""
    channel = state.drop(CHANNEL)
    if channel is None:
        return
    for task in channel.tasks:
        task.cancel()
    for task in channel.tasks:
        with contextlib.suppress(BaseException):
            await task
    await channel.api.aclose()
