"""`python -m matchpot_client watch`: log in and print balance changes as they happen."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from matchpot_client import bot
from matchpot_client.client import MatchpotClient
from matchpot_client.errors import MatchpotError


def format_balance(balance: dict[str, Any], money_mode: str) -> str:
    """One line per currency; amounts are integer minor units shown with two decimals."""
    unit = " credits" if money_mode == "credits" else ""
    available = int(balance["available_minor"])
    held = int(balance["held_minor"])
    return (
        f"{balance['currency']}{unit}: available {available // 100}.{available % 100:02d}"
        f"  held {held // 100}.{held % 100:02d}"
    )


async def watch(args: argparse.Namespace) -> int:
    client = MatchpotClient(args.base_url, codec="json" if args.json else "msgpack")
    try:
        if args.token:
            client = MatchpotClient(
                args.base_url, codec=client.codec, access_token=args.token,
            )
        else:
            sent = await client.request_otp(args.phone)
            print(f"A code was sent to {sent.get('phone', args.phone)}.", flush=True)
            code = args.code or (await asyncio.to_thread(input, "code: ")).strip()
            await client.verify_otp(args.phone, code)
        welcome = await client.connect()
        user = welcome.get("user", {})
        mode = str(welcome.get("money_mode", "credits"))
        print(f"connected as {user.get('display_name')} ({user.get('phone')})", flush=True)
        for balance in welcome.get("balances", []):
            print(format_balance(balance, mode), flush=True)
        async for event in client.events():
            if event["t"] == "balance":
                for balance in event.get("balances", []):
                    print(format_balance(balance, mode), flush=True)
            elif event["t"] == "_disconnected":
                print(f"disconnected ({event.get('code')}): reconnecting", flush=True)
                if event.get("reason") == "gave_up" or client.close_code in (1008, 4001):
                    return 1
            elif event["t"] == "_reconnected":
                for balance in event["welcome"].get("balances", []):
                    print(format_balance(balance, mode), flush=True)
    except MatchpotError as exc:
        print(f"error: {exc.code}: {exc.msg}", file=sys.stderr)
        return 1
    finally:
        await client.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="matchpot_client", description="Matchpot client")
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("watch", help="log in and print balance changes live")
    w.add_argument("--base-url", default="http://127.0.0.1:8000")
    who = w.add_mutually_exclusive_group(required=True)
    who.add_argument("--phone", help="log in with this number (a code is sent)")
    who.add_argument("--token", help="use this access token instead of logging in")
    w.add_argument("--code", help="the one-time code; asked for on stdin if omitted")
    w.add_argument("--json", action="store_true", help="speak JSON text frames instead of msgpack")
    bot.add_parser(sub)
    args = parser.parse_args(argv)
    try:
        if args.command == "bot":
            return asyncio.run(bot.main_async(args))
        return asyncio.run(watch(args))
    except KeyboardInterrupt:
        return 130
