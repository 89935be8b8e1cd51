"""What each command does, and the reply the user gets.

Money moves only through the services that own it (quick play, payments,
wallets); this module turns their results and refusals into short replies.
Replies speak of credits and stakes in credits mode and never promise winnings.
Each inbound message's wamid is the idempotency key of whatever it asks for, so
processing a message twice never moves money twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from ledger import user_account
from ledger.errors import LedgerError
from matchmaking.errors import MatchmakingError
from server.auth.users import User
from server.channels.whatsapp import challenge_commands, messages
from server.channels.whatsapp.commands import Command, parse
from server.channels.whatsapp.messages import Button, Message, Row
from server.channels.whatsapp.payloads import InboundMessage
from server.errors import describe
from server.features.play.service import service
from server.features.quickplay.football import open_questions
from server.features.quickplay.service import place_bet, verify_bet
from server.money.payments.service import start_deposit
from server.money.wallets.service import request_withdrawal
from server.state import AppState
from server.wording import amount_text, units_text

log = structlog.get_logger(__name__)

REPLY_ID_PREFIX = "cmd:"
HISTORY_ROWS = 5
FOOTBALL_ROWS = 10
FOOTBALL_CHOICE_TTL_S = 3600  # a question picked from the list is remembered this long
DEFAULT_FOOTBALL_STAKE_UNITS = 50

MENU_BUTTONS = (
    Button("cmd:balance", "Balance"),
    Button("cmd:history", "History"),
    Button("cmd:help", "All commands"),
)


class Reply(Exception):
    """Stop handling a command and answer with this sentence."""


def command_of(msg: InboundMessage) -> Command:
    """A tapped reply carries its command in its id ("cmd:wheel 50"); else the typed text."""
    if msg.reply_id and msg.reply_id.startswith(REPLY_ID_PREFIX):
        return parse(msg.reply_id[len(REPLY_ID_PREFIX):])
    if msg.kind == "unsupported":
        return Command("menu")
    return parse(msg.reply_id if msg.kind == "button" and msg.reply_id else msg.text)


def menu(intro: str) -> Message:
    return messages.buttons(intro, MENU_BUTTONS)


def help_message(state: AppState) -> Message:
    unit = "credits" if state.settings.money_mode == "credits" else state.settings.currency
    rows = [
        Row("cmd:balance", "Balance", "balance: what you have"),
        Row("cmd:history", "History", "history: your last movements"),
        Row("cmd:deposit", "Deposit", f"deposit 500: add {unit}"),
        Row("cmd:withdraw", "Withdraw", "withdraw 200: request a payout"),
        Row("cmd:wheel", "Lucky Wheel", "wheel 50: spin with a stake of 50"),
        Row("cmd:color", "Color Game", "color red 50: pick a colour"),
        Row("cmd:pick3", "Pick 3", "pick3 123 50: three digits"),
        Row("cmd:football", "Football Yes/No", "football: open questions"),
        Row("cmd:quiz", "Quiz duel", "quiz 100: play a duel in the app"),
        Row("cmd:stop", "Stop alerts", "stop / start: alerts off or on"),
    ]
    body = (
        f"Matchpot commands. Amounts are whole {unit}. Type 'verify <bet id>' to check a draw."
    )
    return messages.list_(body, "Commands", "Commands", rows)


async def _balance(state: AppState, user: User, cmd: Command, wamid: str) -> list[Message]:
    bal = await state.ledger.balance(user_account(user.id), state.settings.currency)
    held = bal.pending_debits_minor
    text = f"Your balance: {amount_text(state.settings, max(0, bal.available_minor))} available."
    if held:
        text += f" {amount_text(state.settings, held)} held in open stakes or withdrawals."
    return [messages.text(text)]


async def _history(state: AppState, user: User, cmd: Command, wamid: str) -> list[Message]:
    owner = user_account(user.id)
    transfers, _ = await state.ledger.history(owner, state.settings.currency, limit=HISTORY_ROWS)
    if not transfers:
        return [messages.text("No movements yet. Type 'deposit 500' to add funds.")]
    lines = []
    for t in transfers:
        sign = "+" if t.credit == owner else "-"
        when = t.created_at.strftime("%d %b %H:%M")
        lines.append(f"{when}  {sign}{amount_text(state.settings, t.amount_minor)}  {t.code}")
    return [messages.text("Your last movements:\n" + "\n".join(lines))]


async def _deposit(state: AppState, user: User, cmd: Command, wamid: str) -> list[Message]:
    assert cmd.amount_minor is not None
    started = await start_deposit(
        state, user.id, cmd.amount_minor, channel="whatsapp", idem_key=wamid
    )
    return [messages.text(str(started.text))]


async def _withdraw(state: AppState, user: User, cmd: Command, wamid: str) -> list[Message]:
    assert cmd.amount_minor is not None
    # Keyed by the message: a message processed again (after a crash) holds the amount once.
    await request_withdrawal(state, user.id, cmd.amount_minor, None, f"wa:{wamid}")
    return [messages.text(
        f"Your withdrawal of {amount_text(state.settings, cmd.amount_minor)} is requested and"
        " held from your balance. You will get a message when it is decided."
    )]


def _play_allowed(state: AppState) -> None:
    s = state.settings
    if s.money_mode == "real" and not s.whatsapp_real_money:
        raise Reply("Play is not available on WhatsApp. Please use the Matchpot app.")


async def _bet(
    state: AppState, user: User, game: str, stake_minor: int, choice: dict[str, Any], wamid: str
) -> list[Message]:
    _play_allowed(state)
    result = await place_bet(
        state, user.id, game, stake_minor, choice, channel="whatsapp", idem_key=wamid
    )
    text = f"{result.outcome_text} Balance: {amount_text(state.settings, result.balance_minor)}."
    if game != "football":
        text += f"\nBet id {result.bet_id} (type 'verify {result.bet_id}' to check the draw)."
    else:
        text += f"\nBet id {result.bet_id}. You will get a message when it is settled."
    return [messages.text(text)]


async def _wheel(state: AppState, user: User, cmd: Command, wamid: str) -> list[Message]:
    assert cmd.amount_minor is not None
    return await _bet(state, user, "wheel", cmd.amount_minor, {}, wamid)


async def _color(state: AppState, user: User, cmd: Command, wamid: str) -> list[Message]:
    assert cmd.amount_minor is not None and cmd.arg
    return await _bet(state, user, "color", cmd.amount_minor, {"colour": cmd.arg}, wamid)


async def _pick3(state: AppState, user: User, cmd: Command, wamid: str) -> list[Message]:
    assert cmd.amount_minor is not None and cmd.arg
    return await _bet(state, user, "pick3", cmd.amount_minor, {"digits": cmd.arg}, wamid)


def _choice_key(state: AppState, user: User) -> str:
    return f"{state.settings.redis_prefix}:wa:football:{user.id}"


async def _open_questions(state: AppState) -> list[dict[str, Any]]:
    return await open_questions(state)


async def _football(state: AppState, user: User, cmd: Command, wamid: str) -> list[Message]:
    _play_allowed(state)
    questions = await _open_questions(state)
    if cmd.arg:  # a question picked from the list
        picked = [q for q in questions if q["id"] == cmd.arg]
        if not picked:
            raise Reply("That question is closed. Type 'football' for the open ones.")
        await state.redis.set(_choice_key(state, user), cmd.arg, ex=FOOTBALL_CHOICE_TTL_S)
        q = picked[0]
        return [messages.text(
            f"{q['question']}\nYes pays {q['odds_yes']}, No pays {q['odds_no']}."
            f" Type 'yes {DEFAULT_FOOTBALL_STAKE_UNITS}' or 'no {DEFAULT_FOOTBALL_STAKE_UNITS}'"
            " with your stake."
        )]
    if not questions:
        return [messages.text("No football questions are open right now.")]
    rows = [
        Row(f"cmd:football {q['id']}", q["question"], f"Yes {q['odds_yes']} / No {q['odds_no']}")
        for q in questions[:FOOTBALL_ROWS]
    ]
    body = "Pick a question, then type 'yes 50' or 'no 50' with your stake."
    return [messages.list_(body, "Questions", "Open questions", rows)]


async def _yes_no(state: AppState, user: User, cmd: Command, wamid: str) -> list[Message]:
    assert cmd.amount_minor is not None
    _play_allowed(state)
    qid = cmd.arg
    if qid is None:
        saved = await state.redis.get(_choice_key(state, user))
        qid = saved.decode() if isinstance(saved, bytes) else saved
    if qid is None:
        questions = await _open_questions(state)
        if not questions:
            raise Reply("No football questions are open right now.")
        qid = str(questions[-1]["id"])  # the latest question (list is ordered by closing time)
    choice = {"question_id": qid, "side": cmd.name}
    return await _bet(state, user, "football", cmd.amount_minor, choice, wamid)


async def _verify(state: AppState, user: User, cmd: Command, wamid: str) -> list[Message]:
    assert cmd.arg
    result = await verify_bet(state, cmd.arg, user_id=user.id)
    return [messages.text(str(result.get("text", "No bet with that id.")))]


QUEUE_JOIN_MARK_TTL_S = 24 * 3600  # a message's queue join is remembered this long


async def _quiz(state: AppState, user: User, cmd: Command, wamid: str) -> list[Message]:
    """`quiz 100`: the quiz duel's short form of `play quiz 100`."""
    return await _queue_for(state, user, "quiz", cmd, wamid)


async def _play(state: AppState, user: User, cmd: Command, wamid: str) -> list[Message]:
    """`play <game> <stake>`: queue for any live room kind the server offers."""
    assert cmd.arg is not None
    return await _queue_for(state, user, cmd.arg, cmd, wamid)


async def _queue_for(
    state: AppState, user: User, game: str, cmd: Command, wamid: str
) -> list[Message]:
    """Queue the player for a live room kind and send the PWA link where it is played.

    The same checks as the websocket's `queue_join` (the kind's own stake tiers,
    draining); the join is marked by the message's wamid, so a reprocessed
    message never joins twice.
    """
    assert cmd.amount_minor is not None
    _play_allowed(state)
    play = service(state)
    s = state.settings
    kind = play.kinds.get(game)
    if kind is None or not kind.kind.open_queue:
        offered_games = ", ".join(sorted(k for k, v in play.kinds.items() if v.kind.open_queue))
        raise Reply(f"There is no game called '{game}'. Games: {offered_games}.")
    title = kind.kind.title
    stake = amount_text(s, cmd.amount_minor)
    offered = kind.stake_tiers_minor
    if cmd.amount_minor not in offered:
        tiers = ", ".join(units_text(t) for t in offered)
        example = f"{cmd.name} {game} " if cmd.name == "play" else f"{cmd.name} "
        raise Reply(f"{title}s take a stake of {tiers}."
                    f" For example: '{example}{units_text(offered[0])}'.")
    if state.draining:
        raise Reply("The server is restarting; try again in a moment.")
    mark = f"{s.redis_prefix}:wa:queue:{wamid}"
    if await state.redis.set(mark, user.id, nx=True, ex=QUEUE_JOIN_MARK_TTL_S):
        try:
            await kind.matchmaker.join(user.id, game, cmd.amount_minor, s.currency)
        except MatchmakingError as exc:
            await state.redis.delete(mark)
            if exc.code == "insufficient_funds":
                raise Reply(f"Your balance is too low for a stake of {stake}.") from exc
            if exc.code == "already_queued":
                raise Reply("You are already waiting for an opponent. Open the app to play: "
                            f"{_play_url(state, game, cmd.amount_minor)}") from exc
            raise Reply(f"Could not join the {title} queue: {exc}.") from exc
        except LedgerError as exc:
            await state.redis.delete(mark)
            if exc.code == "insufficient_funds":
                raise Reply(f"Your balance is too low for a stake of {stake}.") from exc
            raise
    return [messages.text(
        f"You are in the {title} queue with a stake of {stake}, held until the game ends."
        f" Open the app to play when an opponent is found:"
        f" {_play_url(state, game, cmd.amount_minor)}"
    )]


def _play_url(state: AppState, game: str, stake_minor: int) -> str:
    """The PWA, opened on this game and stake (the quiz is the app's default game)."""
    base = state.settings.resolved_public_url.rstrip("/")
    query = f"stake={units_text(stake_minor)}"
    return f"{base}/?{query}" if game == "quiz" else f"{base}/?game={game}&{query}"


async def _alerts(state: AppState, user: User, cmd: Command, wamid: str) -> list[Message]:
    on = cmd.name == "start"
    await state.pool.execute(
        "UPDATE users SET alerts_enabled = $2 WHERE id = $1::uuid", user.id, on
    )
    if on:
        return [messages.text("Alerts are on. Type 'stop' to turn them off.")]
    return [messages.text("Alerts are off. Type 'start' to turn them back on.")]


async def _help(state: AppState, user: User, cmd: Command, wamid: str) -> list[Message]:
    return [help_message(state)]


Handler = Callable[[AppState, User, Command, str], Awaitable[list[Message]]]

HANDLERS: dict[str, Handler] = {
    "balance": _balance, "history": _history, "deposit": _deposit, "withdraw": _withdraw,
    "wheel": _wheel, "color": _color, "pick3": _pick3, "football": _football,
    "yes": _yes_no, "no": _yes_no, "verify": _verify, "quiz": _quiz, "play": _play,
    "stop": _alerts, "start": _alerts, "help": _help,
    "challenge": challenge_commands.challenge, "challenges": challenge_commands.challenges,
    "remind": challenge_commands.remind, "cancel": challenge_commands.cancel,
}


def _refusal_text(exc: Exception) -> str | None:
    """The user-facing sentence of a refusal (the server's one error mapping), if it is one."""
    if isinstance(exc, Reply):
        return str(exc)
    problem = describe(exc)
    return problem.msg if problem is not None else None


async def route(state: AppState, user: User, msg: InboundMessage) -> list[Message]:
    """The replies to one inbound message. Refusals become a sentence; bugs propagate."""
    if msg.media_id is not None:  # a photo or video: a challenge's proof, if one is open
        try:
            proof_replies = await challenge_commands.on_media(state, user, msg)
        except Exception as exc:
            text = _refusal_text(exc)
            if text is None:
                raise
            return [messages.text(text)]
        if proof_replies is not None:
            return proof_replies
    cmd = command_of(msg)
    if cmd.name == "menu":
        return [menu("Sorry, I did not understand that. Pick one below, or type 'help'.")]
    if cmd.error:
        return [messages.text(cmd.error)]
    handler = HANDLERS[cmd.name]
    try:
        return await handler(state, user, cmd, msg.wamid)
    except Exception as exc:
        text = _refusal_text(exc)
        if text is None:
            raise
        log.info("whatsapp_command_refused", command=cmd.name, reason=text)
        return [messages.text(text)]
