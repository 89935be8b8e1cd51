"""After a load run: the ledger's invariants hold and no stake is left on hold.

    DATABASE_URL=postgresql://... python -m benchmarks.check_books [--wait-s 60]

Exits 0 when `Ledger.check_invariants()` passes and no pending transfer is
unresolved; otherwise prints what is wrong and exits 1. `--wait-s` polls (once
a second, at most that long) for holds of duels still finishing to resolve.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

OPEN_HOLDS_SQL = "SELECT count(*) FROM transfers WHERE kind = 'pending' AND resolved_at IS NULL"
COUNTS_SQL = "SELECT kind, count(*) AS n FROM transfers GROUP BY kind ORDER BY kind"


async def check(database_url: str, wait_s: float) -> int:
    """0 when the books balance and every hold is resolved, else 1."""
    import asyncpg

    from ledger import Ledger
    from ledger.errors import InvariantViolation

    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    assert pool is not None
    try:
        deadline = time.monotonic() + wait_s
        open_holds = int(await pool.fetchval(OPEN_HOLDS_SQL))
        while open_holds and time.monotonic() < deadline:
            await asyncio.sleep(1)
            open_holds = int(await pool.fetchval(OPEN_HOLDS_SQL))
        counts = {r["kind"]: r["n"] for r in await pool.fetch(COUNTS_SQL)}
        print("transfers by kind: " + ", ".join(f"{k}={n}" for k, n in counts.items()))
        print(f"unresolved holds: {open_holds}")
        try:
            await Ledger(pool).check_invariants()
        except InvariantViolation as exc:
            print(f"invariant violated: {exc}")
            return 1
        print("invariants: ok")
        return 0 if open_holds == 0 else 1
    finally:
        await pool.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--wait-s", type=float, default=0.0)
    args = parser.parse_args()
    if not args.database_url:
        print("error: set DATABASE_URL or pass --database-url", file=sys.stderr)
        return 2
    return asyncio.run(check(args.database_url, min(args.wait_s, 600.0)))


if __name__ == "__main__":
    raise SystemExit(main())
