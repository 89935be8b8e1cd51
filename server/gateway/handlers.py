"""The gateway's own request types: `ping` (keep-alive, clock) and `balance` (resync)."""

from __future__ import annotations

from typing import Any

from server.gateway.balances import read_balances
from server.gateway.registry import Connection, field, register


async def ping(conn: Connection, frame: dict[str, Any]) -> dict[str, Any]:
    """Keeps an idle connection open and lets the client estimate clock offset and latency."""
    reply: dict[str, Any] = {"t": "pong", "server_time_ms": conn.state.clock.now_ms()}
    ts = field(frame, "ts", int, required=False)
    if ts is not None:
        reply["ts"] = ts
    return reply


async def balance(conn: Connection, frame: dict[str, Any]) -> dict[str, Any]:
    """Fresh balances on demand, e.g. after the client suspects it missed a push."""
    return {"t": "balance", "balances": await read_balances(conn.state, conn.user_id)}


register("ping", ping)
register("balance", balance)
