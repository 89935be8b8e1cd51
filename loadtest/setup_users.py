"""Create and fund load-test players and write their access tokens to a file (set-up only).

    python -m loadtest.setup_users --count 4000 --out loadtest/reports/users.jsonl

Reads the same environment as the server (DATABASE_URL, MATCHPOT_DATA_DIR or
MATCHPOT_JWT_SECRET), so the tokens it mints are valid on that server. Each
player gets `--funds-minor` from `world` through the ledger with a deterministic
transfer id, so running it twice funds nobody twice. Output: one JSON object per
line, {"user_id", "phone", "token"}. The load itself never imports server code.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

MAX_USERS = 50_000
BATCH = 200


async def create_users(
    count: int, funds_minor: int, phone_prefix: str, ttl_s: int, out: Path
) -> int:
    """Create (or reuse) `count` players, fund each once, write their tokens; returns the count."""
    from ledger import Ledger, TransferRequest, transfer_id
    from server.auth.tokens import issue_access_token
    from server.auth.users import get_or_create_user_by_phone
    from server.config import Settings
    from server.db import create_pool
    from server.migrate import migrate

    assert 1 <= count <= MAX_USERS and funds_minor >= 0 and ttl_s > 0
    settings = Settings()
    if not settings.database_url:
        raise SystemExit("set DATABASE_URL to the server's database")
    secret = settings.resolved_jwt_secret()
    pool = await create_pool(settings.database_url, min_size=2, max_size=8)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)  # type: ignore[arg-type]  # a pool proxy is a Connection
        ledger = Ledger(pool)
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8") as f:
            for start in range(0, count, BATCH):
                idx = range(start, min(count, start + BATCH))
                phones = [f"{phone_prefix}{i:06d}" for i in idx]
                users = await asyncio.gather(
                    *(get_or_create_user_by_phone(pool, p) for p in phones))
                if funds_minor:
                    await ledger.batch([
                        TransferRequest(
                            id=transfer_id("loadtest-funds", u.id, str(funds_minor)),
                            debit="world", credit=f"user:{u.id}", amount_minor=funds_minor,
                            currency=settings.currency, code="deposit",
                        ) for u in users
                    ])
                for u in users:
                    token = issue_access_token(secret, u.id, "player", ttl_s)
                    f.write(json.dumps({"user_id": u.id, "phone": u.phone_e164,
                                        "token": token}) + "\n")
    finally:
        await pool.close()
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--funds-minor", type=int, default=10_000_000,
                        help="credited once per player (default 100,000.00)")
    parser.add_argument("--phone-prefix", default="+254790",
                        help="players are <prefix>000000, <prefix>000001, ... (Kenyan mobiles)")
    parser.add_argument("--ttl-s", type=int, default=4 * 3600, help="token lifetime")
    parser.add_argument("--out", type=Path, default=Path("loadtest/reports/users.jsonl"))
    args = parser.parse_args()
    if not 1 <= args.count <= MAX_USERS:
        parser.error(f"--count must be 1..{MAX_USERS}")
    n = asyncio.run(create_users(args.count, args.funds_minor, args.phone_prefix, args.ttl_s,
                                 args.out))
    print(f"{n} players written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
