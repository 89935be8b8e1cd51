"""Delivery statuses from the webhook, applied so that they never move backwards.

Order: sent < failed < delivered < read. A message's delivery state is the
highest-ranked status ever received for its wamid, whatever order the webhooks
arrive in: a late 'sent' after 'read' changes nothing; 'failed' is terminal
unless a 'delivered' or 'read' for the same wamid arrives (then the failure was
a transient report and the message did reach the phone).

Every status is stored once per (wamid, status), so a status that arrives before
the send recorded its wamid is applied when it does (see Sender._record).
"""

from __future__ import annotations

from datetime import UTC, datetime

from server.channels.whatsapp.payloads import StatusUpdate
from server.db import DbConn

RANK_SQL = "array_position(ARRAY['sent','failed','delivered','read']::text[], {col})"


async def apply_stored_statuses(conn: DbConn, wamid: str) -> None:
    """Move the send row of `wamid` to its best stored status, if that is further along."""
    await conn.execute(
        f"""
        WITH best AS (
            SELECT status, at, errors FROM wa_status WHERE wamid = $1
            ORDER BY {RANK_SQL.format(col="status")} DESC LIMIT 1
        )
        UPDATE wa_sends s
        SET delivery = best.status, delivery_at = best.at, delivery_errors = best.errors,
            updated_at = now()
        FROM best
        WHERE s.wamid = $1
          AND coalesce({RANK_SQL.format(col="s.delivery")}, 0)
              < {RANK_SQL.format(col="best.status")}
        """,
        wamid,
    )


async def record_statuses(conn: DbConn, statuses: list[StatusUpdate]) -> None:
    """Store each status once and apply it; a status naming our send key resolves a send
    whose answer was lost (state 'sending'/'unknown') to the wamid Meta reports."""
    for st in statuses:
        await conn.execute(
            "INSERT INTO wa_status (wamid, status, at, send_key, errors)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            st.wamid, st.status, datetime.fromtimestamp(st.at_s, UTC), st.send_key, st.errors,
        )
        if st.send_key:
            await conn.execute(
                "UPDATE wa_sends SET wamid = $2, state = 'accepted', updated_at = now()"
                " WHERE key = $1 AND wamid IS NULL AND state IN ('sending', 'unknown', 'retry')"
                " AND NOT EXISTS (SELECT 1 FROM wa_sends WHERE wamid = $2)",
                st.send_key, st.wamid,
            )
        await apply_stored_statuses(conn, st.wamid)
