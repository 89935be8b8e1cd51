"""Turn rows of `ledger_apply` and friends into value types, and requests into its arguments."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from ledger.types import Transfer, TransferKind, TransferRequest
from ledger.validate import meta_json

# A plain connection or one borrowed from a pool: both run queries the same way.
Conn: TypeAlias = "asyncpg.Connection[Any] | PoolConnectionProxy[Any]"

_APPLY_TYPES = ("uuid", "int", "text", "text", "bigint", "text", "text", "uuid", "int", "text",
                "text", "text")


def _column(n: int, typ: str) -> str:
    """Parameter $n of APPLY_SQL: an array, or one element that stands for every item."""
    if n == 1:
        return "$1::uuid[]"
    return (f"CASE WHEN cardinality(${n}::{typ}[]) = 1"
            f" THEN array_fill((${n}::{typ}[])[1], ARRAY[cardinality($1::uuid[])])"
            f" ELSE ${n}::{typ}[] END")


# Calls ledger_apply with the parallel arrays of apply_args() as wire_args() sends them: a
# column other than the ids whose items all have the same value goes as that one element,
# which this statement spreads back to every item. Encoding, sending and decoding cost per
# element, and most columns of a batch are uniform (currency, kind, code, meta, and the NULL
# pending ids, timeouts and ext_refs).
APPLY_SQL = (
    "SELECT * FROM ledger_apply("
    + ", ".join(_column(n, t) for n, t in enumerate(_APPLY_TYPES, start=1))
    + ", $13::timestamptz, $14::boolean)"
)

LOCK_SQL = "SELECT ledger_lock($1::text[], $2::text[], $3::text[], $4::text[], $5::uuid[])"


def lock_args(reqs: Sequence[TransferRequest]) -> list[Any]:
    """Arguments of ledger_lock: the accounts (and holds) of every request, in one statement."""
    return [
        [r.debit for r in reqs], [r.credit for r in reqs], [r.currency for r in reqs],
        [r.kind.value for r in reqs], [r.pending_id for r in reqs],
    ]


# Where apply_args() puts the requests' meta as JSON text (what a 'fast' answer parses).
APPLY_METAS = 11


_KIND_TEXT = {k: k.value for k in TransferKind}


def apply_args(
    groups: Sequence[Sequence[TransferRequest]], now: datetime | None, allow_expired: bool
) -> list[Any]:
    """Parallel arrays for ledger_apply; group numbers follow the order of `groups`."""
    flat = [r for reqs in groups for r in reqs]
    return [
        [r.id for r in flat], [g for g, reqs in enumerate(groups) for _ in reqs],
        [r.debit for r in flat], [r.credit for r in flat], [r.amount_minor for r in flat],
        [r.currency for r in flat], [_KIND_TEXT[r.kind] for r in flat],
        [r.pending_id for r in flat], [r.timeout_s for r in flat], [r.ext_ref for r in flat],
        [r.code for r in flat], [meta_json(r) for r in flat], now, allow_expired,
    ]


def wire_args(args: list[Any]) -> list[Any]:
    """apply_args() as sent: a column (not the ids) whose items are all equal becomes that one
    element, which APPLY_SQL spreads back to every item."""
    out = [args[0]]
    for col in args[1:12]:
        first = col[0]
        out.append([first] if col.count(first) == len(col) else col)
    out += args[12:]
    return out


_KINDS = {k.value: k for k in TransferKind}
_PENDING = TransferKind.PENDING
_TRANSFER_FIELDS = ("id", "debit", "credit", "amount_minor", "currency", "kind", "pending_id",
                    "expires_at", "ext_ref", "code", "meta", "created_at", "resolved")
assert tuple(Transfer.__dataclass_fields__) == _TRANSFER_FIELDS, "transfers_from_requests"


def transfers_from_requests(
    reqs: Sequence[TransferRequest], metas: Sequence[str], created_at: datetime
) -> list[Transfer]:
    """The transfers a 'fast' answer of ledger_apply wrote: new rows equal to their requests.

    That answer means every item was a new transfer without ext_ref, written with these very
    values at `created_at` (a post or void spelled out its hold's accounts, currency and the
    amount it wrote); so the stored row is the request itself, plus the time, and a hold's
    expiry (created_at + timeout_s, the same arithmetic as the SQL). `metas` are the JSON
    texts sent for the items (apply_args), parsed the way a row read back is, so the meta
    equals what get_transfer() returns and is never the caller's own (mutable) dict.
    """
    out = []
    for r, meta in zip(reqs, metas, strict=True):
        kind = r.kind
        # Positional (see _TRANSFER_FIELDS): a hundred of these per batch.
        out.append(Transfer(
            r.id, r.debit, r.credit, r.amount_minor, r.currency, kind, r.pending_id,
            created_at + timedelta(seconds=r.timeout_s)
            if kind is _PENDING and r.timeout_s is not None else None,
            None, r.code, {} if meta == "{}" else json.loads(meta), created_at, False,
        ))
    return out


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
