"""Create and fund load-test players on a running server and write their access tokens.

    python -m loadtest.setup_users --count 400 --server-log /tmp/mp-load/server.log \
        --out loadtest/reports/users.jsonl [--base-url http://127.0.0.1:8000]

Everything goes through the server's HTTP API with `matchpot_client`, as
loadtest/players.py describes: players log in with one-time codes read from the
server's log (`--server-log`: where the server's output goes; it must run with
`MATCHPOT_LOG_LEVEL=INFO` and the `log` OTP sender), and each gets
`--funds-minor` through a deposit that a finance admin approves. The admin is
made with `matchpot admin create` in this environment (the server's
DATABASE_URL) unless `--no-create-admin`. Running it twice funds nobody twice.
Output: one JSON object per line, {"user_id", "phone", "token", "refresh_token"}.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from matchpot_client import MatchpotError

from loadtest.players import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    MAX_PLAYERS,
    create_players,
    ensure_admin,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--server-log", type=Path, required=True,
                        help="the file the server's output goes to (login codes are read there)")
    parser.add_argument("--funds-minor", type=int, default=10_000_000,
                        help="deposited once per player (default 100,000.00; at most the"
                             " server's MATCHPOT_DEPOSIT_MAX_MINOR)")
    parser.add_argument("--phone-prefix", default="+254790",
                        help="players are <prefix>000000, <prefix>000001, ... (Kenyan mobiles)")
    parser.add_argument("--admin-username", default=ADMIN_USERNAME)
    parser.add_argument("--admin-password",
                        default=os.environ.get("MATCHPOT_ADMIN_PASSWORD", ADMIN_PASSWORD))
    parser.add_argument("--no-create-admin", action="store_true",
                        help="the finance admin exists already (no `matchpot admin create`)")
    parser.add_argument("--out", type=Path, default=Path("loadtest/reports/users.jsonl"))
    args = parser.parse_args()
    if not 1 <= args.count <= MAX_PLAYERS:
        parser.error(f"--count must be 1..{MAX_PLAYERS}")
    if args.funds_minor and not args.no_create_admin:
        ensure_admin(None, args.admin_username, args.admin_password)
    try:
        players = asyncio.run(create_players(
            args.base_url, args.server_log, args.count, args.funds_minor, args.phone_prefix,
            args.out, admin_username=args.admin_username, admin_password=args.admin_password))
    except MatchpotError as exc:
        print(f"error: {exc.code}: {exc.msg}", file=sys.stderr)
        return 1
    print(f"{len(players)} players written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
