"""Turn rows of `ledger_apply` and friends into value types, and requests into its arguments."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from ledger.types import Transfer, TransferKind, TransferRequest
from ledger.validate import meta_json

# A plain connection or one borrowed from a pool: both run queries the same way.
Conn: TypeAlias = "asyncpg.Connection[Any] | PoolConnectionProxy[Any]"

APPLY_SQL = (
    "SELECT * FROM ledger_apply($1::uuid[], $2::int[], $3::text[], $4::text[], $5::bigint[],"
    " $6::text[], $7::text[], $8::uuid[], $9::int[], $10::text[], $11::text[], $12::text[],"
    " $13::timestamptz, $14::boolean)"
)

LOCK_SQL = "SELECT ledger_lock($1::text[], $2::text[], $3::text[], $4::text[], $5::uuid[])"


def lock_args(reqs: Sequence[TransferRequest]) -> list[Any]:
    """Arguments of ledger_lock: the accounts (and holds) of every request, in one statement."""
    return [
        [r.debit for r in reqs], [r.credit for r in reqs], [r.currency for r in reqs],
        [r.kind.value for r in reqs], [r.pending_id for r in reqs],
    ]


def apply_args(
    groups: Sequence[Sequence[TransferRequest]], now: datetime | None, allow_expired: bool
) -> list[Any]:
    """Parallel arrays for ledger_apply; group numbers follow the order of `groups`."""
    flat = [r for reqs in groups for r in reqs]
    return [
        [r.id for r in flat], [g for g, reqs in enumerate(groups) for _ in reqs],
        [r.debit for r in flat], [r.credit for r in flat], [r.amount_minor for r in flat],
        [r.currency for r in flat], [r.kind.value for r in flat],
        [r.pending_id for r in flat], [r.timeout_s for r in flat], [r.ext_ref for r in flat],
        [r.code for r in flat], [meta_json(r) for r in flat], now, allow_expired,
    ]


_KINDS = {k.value: k for k in TransferKind}


def transfer_from_row(row: asyncpg.Record | Mapping[str, Any], prefix: str = "t_") -> Transfer:
    """A Transfer from a row whose columns are named `prefix` + field."""
    meta = row[prefix + "meta"]
    if isinstance(meta, str):
        meta = {} if meta == "{}" else json.loads(meta)
    return Transfer(
        id=row[prefix + "id"],
        debit=row[prefix + "debit"],
        credit=row[prefix + "credit"],
        amount_minor=row[prefix + "amount"],
        currency=row[prefix + "currency"],
        kind=_KINDS.get(row[prefix + "kind"]) or TransferKind(row[prefix + "kind"]),
        pending_id=row[prefix + "pending_id"],
        expires_at=row[prefix + "expires_at"],
        ext_ref=row[prefix + "ext_ref"],
        code=row[prefix + "code"],
        meta=meta,
        created_at=row[prefix + "created_at"],
        resolved=bool(row[prefix + "resolved"]),
    )


# Selects a transfer with the column names transfer_from_row expects (prefix "t_").
TRANSFER_COLUMNS = (
    "t.id AS t_id, da.owner AS t_debit, ca.owner AS t_credit, t.amount_minor AS t_amount,"
    " t.currency AS t_currency, t.kind AS t_kind, t.pending_id AS t_pending_id,"
    " t.expires_at AS t_expires_at, t.ext_ref AS t_ext_ref, t.code AS t_code,"
    " t.meta::text AS t_meta, t.created_at AS t_created_at,"
    " t.resolved_at IS NOT NULL AS t_resolved, t.seq AS t_seq"
)
TRANSFER_JOINS = (
    " JOIN accounts da ON da.id = t.debit_account_id"
    " JOIN accounts ca ON ca.id = t.credit_account_id"
)
