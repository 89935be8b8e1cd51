"""Ending a login session everywhere at once: its access tokens and its open sockets.

Access tokens are stateless JWTs, so logging out cannot make them invalid by
itself. Each token carries the session id `sid` (a player's refresh family id).
Revoking a session writes `<prefix>:auth:revoked:<sid>` to Redis for as long as
any access token of the session can still be unexpired (the access token
lifetime plus a clock-skew margin); every authenticated request and `hello`
checks it. Sockets already open are told through the player's pub/sub channel
(the one the gateway hub already listens on): every node closes the sockets of
that session. The key is written before the message is published, and a new
socket re-checks the key after it has subscribed, so a socket opening during a
logout is closed either way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import msgpack
import structlog

from server import keys

if TYPE_CHECKING:
    from server.state import AppState

log = structlog.get_logger(__name__)

CLOCK_SKEW_S: Final = 60  # nodes' clocks may disagree this much about a token's expiry
SESSION_ENDED_KIND: Final = "s"  # the hub's envelope kind for "close this session's sockets"


def pack_session_ended(session_id: str) -> bytes:
    """The pub/sub message telling every node to close the sockets of `session_id`."""
    return msgpack.packb(  # type: ignore[no-any-return]
        {"k": SESSION_ENDED_KIND, "sid": session_id}, use_bin_type=True
    )


def session_of_message(envelope: dict[str, Any]) -> str | None:
    """The session id of a session-ended message, or None for any other message."""
    if envelope.get("k") != SESSION_ENDED_KIND:
        return None
    sid = envelope.get("sid")
    return sid if isinstance(sid, str) and sid else None


async def revoke(state: AppState, user_id: str, session_id: str) -> None:
    """Make every access token of `session_id` stop working and close its sockets."""
    prefix = state.settings.redis_prefix
    ttl_s = state.settings.jwt_access_ttl_s + CLOCK_SKEW_S
    await state.redis.set(keys.revoked_session(prefix, session_id), b"1", ex=ttl_s)
    await state.redis.publish(keys.user_channel(prefix, user_id), pack_session_ended(session_id))
    log.info("session_revoked", user_id=user_id, session_id=session_id)


async def is_revoked(state: AppState, session_id: str | None) -> bool:
    """True if the session was ended. Tokens without a session cannot be revoked."""
    if session_id is None:
        return False
    key = keys.revoked_session(state.settings.redis_prefix, session_id)
    return bool(await state.redis.exists(key))
