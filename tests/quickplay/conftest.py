"""Quick-play helpers: funded players with tokens, admin tokens."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from ledger import Ledger, TransferRequest
from server.auth.tokens import issue_access_token
from server.auth.users import get_or_create_user_by_phone


class Player:
    def __init__(self, user_id: str, token: str) -> None:
        self.user_id = user_id
        self.owner = f"user:{user_id}"
        self.headers = {"Authorization": f"Bearer {token}"}


async def funded_player(state: Any, ledger: Ledger, funds_minor: int) -> Player:
    phone = "+2547" + "".join(secrets.choice("0123456789") for _ in range(8))
    user = await get_or_create_user_by_phone(state.pool, phone)
    if funds_minor:
        await ledger.transfer(TransferRequest(uuid.uuid4(), "world", f"user:{user.id}",
                                              funds_minor, "KES", code="deposit"))
    return Player(user.id, issue_access_token(state.jwt_secret, user.id, "player", 900))


async def admin_headers(state: Any, role: str = "operator") -> dict[str, str]:
    admin_id = await state.pool.fetchval(
        "INSERT INTO admins (username, password_hash, role) VALUES ($1, 'x', $2) RETURNING id",
        f"qa{uuid.uuid4().hex[:10]}", role)
    token = issue_access_token(state.jwt_secret, str(admin_id), "admin", 600, role=role)
    return {"Authorization": f"Bearer {token}"}


async def available(ledger: Ledger, player: Player) -> int:
    return (await ledger.balance(player.owner, "KES")).available_minor
