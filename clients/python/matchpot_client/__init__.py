"""Matchpot's async Python client: login, the websocket protocol, events, reconnect.

An independent implementation of docs/protocol.md; game helpers live in their
own modules next to this one and build on `MatchpotClient.request`.
"""

from matchpot_client.auth import Session
from matchpot_client.client import MatchpotClient
from matchpot_client.errors import MatchpotError

__all__ = ["MatchpotClient", "MatchpotError", "Session"]
