"""check_invariants(): the books must balance; any finding is a bug, never a user error.

Definitions (docs/ledger.md):
- posted columns fold every `single` and `post` transfer on the account;
- pending columns fold every `pending` transfer that is not resolved (no post/void row names
  it), expired-but-not-yet-swept holds included;
- a hold is resolved exactly when a post or void row names it, and then `resolved_at` is set;
- a post or void names a `pending` transfer, never a `single` (or another post/void);
- a post was made before its hold expired: its `created_at` is the time ledger_apply judged
  the expiry by (read once the locks were held), so it must be earlier than `expires_at`
  (a void may come later: that is how the sweeper releases expired holds);
- a transfer names two accounts that exist (transfers have no foreign keys to accounts since
  migration 0210: accounts are never deleted instead), and its currency is theirs.
"""

from __future__ import annotations

from datetime import datetime

from ledger.errors import InvariantViolation
from ledger.rows import Conn

DEFAULT_EXPIRY_GRACE_S = 30.0
MAX_FINDINGS = 20  # keep the message readable; the first findings tell the story

CURRENCY_SUMS = """
SELECT currency, sum(credits_posted - debits_posted) AS net,
       sum(debits_pending) AS dp, sum(credits_pending) AS cp
  FROM accounts GROUP BY currency
HAVING sum(credits_posted - debits_posted) <> 0 OR sum(debits_pending) <> sum(credits_pending)
"""

ACCOUNT_FOLDS = """
WITH legs AS (
    SELECT debit_account_id AS account_id,
           CASE WHEN kind IN ('single', 'post') THEN amount_minor ELSE 0 END AS dpost,
           0::bigint AS cpost,
           CASE WHEN kind = 'pending' AND resolved_at IS NULL THEN amount_minor ELSE 0 END AS dpend,
           0::bigint AS cpend
      FROM transfers
    UNION ALL
    SELECT credit_account_id, 0,
           CASE WHEN kind IN ('single', 'post') THEN amount_minor ELSE 0 END,
           0,
           CASE WHEN kind = 'pending' AND resolved_at IS NULL THEN amount_minor ELSE 0 END
      FROM transfers
), folded AS (
    SELECT account_id, sum(dpost) AS dpost, sum(cpost) AS cpost, sum(dpend) AS dpend,
           sum(cpend) AS cpend
      FROM legs GROUP BY account_id
)
SELECT a.owner, a.currency, a.debits_posted, a.credits_posted, a.debits_pending,
       a.credits_pending, coalesce(f.dpost, 0) AS f_dpost, coalesce(f.cpost, 0) AS f_cpost,
       coalesce(f.dpend, 0) AS f_dpend, coalesce(f.cpend, 0) AS f_cpend
  FROM accounts a LEFT JOIN folded f ON f.account_id = a.id
 WHERE (a.debits_posted, a.credits_posted, a.debits_pending, a.credits_pending)
       IS DISTINCT FROM (coalesce(f.dpost, 0), coalesce(f.cpost, 0), coalesce(f.dpend, 0),
                         coalesce(f.cpend, 0))
 LIMIT $1
"""

BELOW_FLOOR = """
SELECT owner, currency, credits_posted - debits_posted - debits_pending AS available, floor_minor
  FROM accounts
 WHERE floor_minor IS NOT NULL AND credits_posted - debits_posted - debits_pending < floor_minor
 LIMIT $1
"""

RESOLUTION = """
SELECT h.id, h.resolved_at IS NOT NULL AS marked, r.id AS by_id, r.kind AS by_kind,
       r.amount_minor AS by_amount, h.amount_minor,
       (r.debit_account_id, r.credit_account_id, r.currency)
         IS DISTINCT FROM (h.debit_account_id, h.credit_account_id, h.currency) AS other_accounts
  FROM transfers h LEFT JOIN transfers r ON r.pending_id = h.id
 WHERE h.kind = 'pending'
   AND ((h.resolved_at IS NULL) <> (r.id IS NULL)
        OR (r.kind = 'post' AND r.amount_minor > h.amount_minor)
        OR (r.kind = 'void' AND r.amount_minor <> h.amount_minor)
        OR (r.id IS NOT NULL AND (r.debit_account_id, r.credit_account_id, r.currency)
            IS DISTINCT FROM (h.debit_account_id, h.credit_account_id, h.currency)))
 LIMIT $1
"""

NOT_A_HOLD = """
SELECT r.id, r.kind, h.id AS target, h.kind AS target_kind
  FROM transfers r JOIN transfers h ON h.id = r.pending_id
 WHERE h.kind <> 'pending'
 LIMIT $1
"""

LATE_POSTS = """
SELECT r.id, r.created_at, h.id AS hold_id, h.expires_at
  FROM transfers r JOIN transfers h ON h.id = r.pending_id
 WHERE r.kind = 'post' AND h.kind = 'pending' AND r.created_at >= h.expires_at
 LIMIT $1
"""

# One scan of transfers for both: an account that does not exist, or is in another currency.
FOREIGN_ACCOUNTS = """
SELECT t.id, t.currency, t.debit_account_id, t.credit_account_id,
       da.owner AS debit, da.currency AS debit_currency,
       ca.owner AS credit, ca.currency AS credit_currency
  FROM transfers t
  LEFT JOIN accounts da ON da.id = t.debit_account_id
  LEFT JOIN accounts ca ON ca.id = t.credit_account_id
 WHERE da.id IS NULL OR ca.id IS NULL
    OR t.currency <> da.currency OR t.currency <> ca.currency
 LIMIT $1
"""

STALE_HOLDS = """
SELECT id, expires_at FROM transfers
 WHERE kind = 'pending' AND resolved_at IS NULL
   AND expires_at < coalesce($1::timestamptz, now()) - make_interval(secs => $2)
 ORDER BY expires_at LIMIT $3
"""


async def check_invariants(
    conn: Conn, *, now: datetime | None, expiry_grace_s: float
) -> None:
    """Raise InvariantViolation listing every broken rule (from one consistent snapshot)."""
    findings: list[str] = []
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        for r in await conn.fetch(CURRENCY_SUMS):
            findings.append(
                f"{r['currency']}: balances sum to {r['net']}, pending debits {r['dp']}"
                f" != pending credits {r['cp']}" if r["dp"] != r["cp"]
                else f"{r['currency']}: balances sum to {r['net']}, not 0"
            )
        for r in await conn.fetch(ACCOUNT_FOLDS, MAX_FINDINGS):
            findings.append(
                f"{r['owner']}/{r['currency']}: columns (dp={r['debits_posted']},"
                f" cp={r['credits_posted']}, dpend={r['debits_pending']},"
                f" cpend={r['credits_pending']}) != fold of transfers (dp={r['f_dpost']},"
                f" cp={r['f_cpost']}, dpend={r['f_dpend']}, cpend={r['f_cpend']})"
            )
        for r in await conn.fetch(BELOW_FLOOR, MAX_FINDINGS):
            findings.append(
                f"{r['owner']}/{r['currency']}: available {r['available']} below floor"
                f" {r['floor_minor']}"
            )
        for r in await conn.fetch(RESOLUTION, MAX_FINDINGS):
            findings.append(
                f"hold {r['id']}: resolved_at set={r['marked']} but resolving row={r['by_id']}"
                f" ({r['by_kind']} {r['by_amount']} of {r['amount_minor']},"
                f" other accounts={r['other_accounts']})"
            )
        for r in await conn.fetch(NOT_A_HOLD, MAX_FINDINGS):
            findings.append(
                f"{r['kind']} {r['id']} points at {r['target_kind']} {r['target']}, not at a hold"
            )
        for r in await conn.fetch(LATE_POSTS, MAX_FINDINGS):
            findings.append(
                f"post {r['id']} made at {r['created_at']}, at or after hold {r['hold_id']}"
                f" expired at {r['expires_at']}"
            )
        for r in await conn.fetch(FOREIGN_ACCOUNTS, MAX_FINDINGS):
            if r["debit"] is None or r["credit"] is None:
                findings.extend(
                    f"transfer {r['id']}: its {side} account {r[side + '_account_id']}"
                    " does not exist"
                    for side in ("debit", "credit") if r[side] is None
                )
                continue
            findings.append(
                f"transfer {r['id']} in {r['currency']} between {r['debit']}"
                f" ({r['debit_currency']}) and {r['credit']} ({r['credit_currency']})"
            )
        for r in await conn.fetch(STALE_HOLDS, now, expiry_grace_s, MAX_FINDINGS):
            findings.append(
                f"hold {r['id']} expired at {r['expires_at']} and is still unresolved"
            )
    if findings:
        raise InvariantViolation("; ".join(findings[:MAX_FINDINGS]))
