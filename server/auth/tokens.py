"""JWT access tokens: HS256 only (the algorithm is pinned), short-lived."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Literal

import jwt

from server.errors import MatchpotError

ALGORITHM = "HS256"
ISSUER = "matchpot"

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


def issue_access_token(
    secret: str, subject: str, kind: Kind, ttl_s: int, role: str | None = None,
    now_s: float | None = None,
) -> str:
    """Sign a token for `subject`; it expires after `ttl_s`."""
    assert ttl_s > 0
    now = int(now_s if now_s is not None else time.time())
    claims: dict[str, object] = {
        "sub": subject, "kind": kind, "typ": "access", "iat": now, "exp": now + ttl_s,
        "iss": ISSUER, "jti": uuid.uuid4().hex,
    }
    if role is not None:
        claims["role"] = role
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
    return Principal(
        subject=str(claims["sub"]), kind=claims["kind"], role=claims.get("role"),
        expires_at=int(claims["exp"]),
    )
