"""JWT access tokens: HS256 only (the algorithm is pinned), short-lived."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

import jwt

from rooms.clock import wall_now
from server.errors import MatchpotError

ALGORITHM = "HS256"
ISSUER = "matchpot"
MAX_SID_CHARS = 64

Kind = Literal["player", "admin"]


class TokenError(MatchpotError):
    """The token is missing, malformed, forged or expired. `code` is stable."""

    def __init__(self, code: str, msg: str) -> None:
        super().__init__(code, msg, 401)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a valid access token speaks for."""

    subject: str  # a user id (player) or an admin id
    kind: Kind
    role: str | None  # admin role
    expires_at: int
    # The login session the token belongs to (a player's refresh family id), so logging out
    # can revoke every token of that session; None for tokens minted outside a login.
    session_id: str | None = None


def issue_access_token(
    secret: str, subject: str, kind: Kind, ttl_s: int, role: str | None = None,
    now_s: float | None = None, session_id: str | None = None,
) -> str:
    """Sign a token for `subject`; it expires after `ttl_s`. `session_id` becomes `sid`."""
    assert ttl_s > 0
    now = int(now_s if now_s is not None else wall_now().timestamp())
    claims: dict[str, object] = {
        "sub": subject, "kind": kind, "typ": "access", "iat": now, "exp": now + ttl_s,
        "iss": ISSUER, "jti": uuid.uuid4().hex,
    }
    if role is not None:
        claims["role"] = role
    if session_id is not None:
        claims["sid"] = session_id
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_access_token(secret: str, token: str) -> Principal:
    """Verify signature, algorithm, issuer and expiry; raise TokenError otherwise."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], issuer=ISSUER,
            options={"require": ["exp", "sub", "iat", "iss"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("token_expired", "The access token has expired; refresh it.") from exc
    except jwt.InvalidTokenError as exc:
        raise TokenError("token_invalid", "The access token is not valid.") from exc
    if claims.get("typ") != "access" or claims.get("kind") not in ("player", "admin"):
        raise TokenError("token_invalid", "The token is not an access token.")
    sid = claims.get("sid")
    if sid is not None and (not isinstance(sid, str) or not 0 < len(sid) <= MAX_SID_CHARS):
        raise TokenError("token_invalid", "The access token is not valid.")
    return Principal(
        subject=str(claims["sub"]), kind=claims["kind"], role=claims.get("role"),
        expires_at=int(claims["exp"]), session_id=sid,
    )
