"""Plain-word commands: a pure parser, forgiving about case, spacing and small typos.

`parse("Balnce")` is `Command("balance")`. A word is matched against the command
words by edit distance (transpositions count once): exact for words of three
letters or fewer, one edit up to six letters, two beyond. A tie between two
commands is not guessed: the user gets the menu. Amounts are typed in whole
credits/KES and returned in minor units (x100).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MINOR_PER_UNIT = 100
MAX_AMOUNT_UNITS = 10_000_000  # a typed amount above this is refused, whatever the limits say
MAX_INPUT_CHARS = 200  # longer texts are not commands

# Every spelling we accept for a command, exactly; typos are matched against these.
WORDS: dict[str, str] = {
    "balance": "balance", "bal": "balance", "wallet": "balance",
    "deposit": "deposit", "topup": "deposit",
    "withdraw": "withdraw", "withdrawal": "withdraw", "cashout": "withdraw",
    "history": "history", "statement": "history",
    "help": "help", "menu": "help", "hi": "help", "hello": "help", "commands": "help",
    "wheel": "wheel", "spin": "wheel",
    "color": "color", "colour": "color",
    "pick3": "pick3",
    "football": "football",
    "yes": "yes", "no": "no",
    "verify": "verify",
    "quiz": "quiz",
    "play": "play",
    "stop": "stop", "start": "start",
    # Staked self-challenges (server/channels/whatsapp/challenge_commands.py).
    "challenge": "challenge", "goal": "challenge",
    "challenges": "challenges", "goals": "challenges",
    "remind": "remind", "reminder": "remind",
    "cancel": "cancel",
}

# Commands whose argument is the rest of the message as typed (free text, parsed later).
FREE_TEXT = ("challenge", "challenges", "remind", "cancel")

# Commands that need an amount, with an example shown when it is missing.
NEEDS_AMOUNT: dict[str, str] = {
    "deposit": "deposit 500", "withdraw": "withdraw 200", "wheel": "wheel 50",
    "color": "color red 50", "pick3": "pick3 123 50", "yes": "yes 50", "no": "no 50",
    "quiz": "quiz 100", "play": "play quiz 100",
}


@dataclass(frozen=True, slots=True)
class Command:
    """What the user asked for. `error` is a human sentence when the words were understood
    but the arguments were not; `name` is "menu" when nothing was understood."""

    name: str
    amount_minor: int | None = None
    arg: str | None = None  # colour, three digits, bet id or question id
    error: str | None = None


def edit_distance(a: str, b: str, limit: int = 3) -> int:
    """Optimal-string-alignment distance, stopping early above `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


def _allowed_edits(word: str) -> int:
    if len(word) <= 3:
        return 0
    return 1 if len(word) <= 6 else 2


def match_word(word: str) -> str | None:
    """The command a (possibly misspelt) word means, or None if none or ambiguous."""
    if word in WORDS:
        return WORDS[word]
    best: set[str] = set()
    best_d = 99
    for spelling, name in WORDS.items():
        allowed = min(_allowed_edits(spelling), _allowed_edits(word))
        if allowed == 0:
            continue
        d = edit_distance(word, spelling, allowed)
        if d > allowed:
            continue
        if d < best_d:
            best, best_d = {name}, d
        elif d == best_d:
            best.add(name)
    return best.pop() if len(best) == 1 else None


def parse_amount(token: str) -> int | None:
    """Whole units typed by a user ("500", "1,000") in minor units; None if not a whole amount."""
    cleaned = token.replace(",", "").replace("_", "")
    if not cleaned.isdigit() or len(cleaned) > 12:
        return None
    units = int(cleaned)
    if units <= 0 or units > MAX_AMOUNT_UNITS:
        return None
    return units * MINOR_PER_UNIT


_TOKEN = re.compile(r"-?[a-z0-9][a-z0-9.,_\-]*")  # keeps a leading minus: "-5" is refused
_CURRENCY_WORDS = {"kes", "ksh", "kshs", "credits", "credit", "cr", "bob"}


def _tokens(text: str) -> list[str]:
    lowered = text.lower().replace("pick 3", "pick3")
    return [t.rstrip(".,-") for t in _TOKEN.findall(lowered)]


def _amount_error(example: str) -> str:
    return f"Please type a whole amount, e.g. '{example}'."


def parse(text: str) -> Command:
    """The command in a typed message or a reply id's command text."""
    if not text or len(text) > MAX_INPUT_CHARS:
        return Command("menu")
    tokens = [t for t in _tokens(text) if t and t not in _CURRENCY_WORDS]
    if not tokens:
        return Command("menu")
    # "pick3" may be typed glued to its digits: "pick3 123 50" or "pick 3 123 50".
    name = match_word(tokens[0])
    if name is None:
        return Command("menu")
    rest = tokens[1:]
    if name in FREE_TEXT:
        raw_words = text.split(maxsplit=1)
        return Command(name, arg=raw_words[1].strip() if len(raw_words) > 1 else None)
    if name == "verify":
        raw = text.split()
        if len(raw) < 2:
            return Command(name, error="Please type the bet id, e.g. 'verify 1a2b3c'.")
        return Command(name, arg=raw[1].strip()[:64])
    if name == "football":
        return Command(name, arg=rest[0] if rest else None)
    if name in ("balance", "history", "help", "stop", "start"):
        return Command(name)
    example = NEEDS_AMOUNT[name]
    if name == "play":  # play <game> <amount>: any live room kind the server offers
        if len(rest) != 2 or (amount := parse_amount(rest[1])) is None:
            return Command(name, error=f"Please type the game and a stake, e.g. '{example}'.")
        return Command(name, amount_minor=amount, arg=rest[0][:32])
    if name == "color":
        words = [t for t in rest if not t[0].isdigit()]
        numbers = [t for t in rest if t[0].isdigit()]
        if not words:
            return Command(name, error=f"Please pick a colour, e.g. '{example}'.")
        if len(numbers) != 1 or (amount := parse_amount(numbers[0])) is None:
            return Command(name, arg=words[0], error=_amount_error(example))
        return Command(name, amount_minor=amount, arg=words[0])
    if name == "pick3":
        if len(rest) != 2 or not (len(rest[0]) == 3 and rest[0].isdigit()):
            return Command(name, error=f"Please type three digits and a stake, e.g. '{example}'.")
        amount = parse_amount(rest[1])
        if amount is None:
            return Command(name, arg=rest[0], error=_amount_error(example))
        return Command(name, amount_minor=amount, arg=rest[0])
    if name in ("yes", "no") and len(rest) == 2:
        # "yes 50 <question id>" comes from a list reply.
        amount = parse_amount(rest[0])
        if amount is None:
            return Command(name, error=_amount_error(example))
        return Command(name, amount_minor=amount, arg=rest[1])
    if len(rest) != 1 or (amount := parse_amount(rest[0])) is None:
        return Command(name, error=_amount_error(example))
    return Command(name, amount_minor=amount)
