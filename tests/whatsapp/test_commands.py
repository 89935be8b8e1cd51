"""Typed commands are understood despite case, spacing and small typos."""

from __future__ import annotations

import pytest

from server.channels.whatsapp.commands import Command, edit_distance, match_word, parse


@pytest.mark.parametrize(("text", "expected"), [
    ("balance", Command("balance")),
    ("  BALANCE  ", Command("balance")),
    ("Balnce", Command("balance")),
    ("blaance", Command("balance")),
    ("deposit 500", Command("deposit", amount_minor=50_000)),
    ("Depsoit 1,000", Command("deposit", amount_minor=100_000)),
    ("deposit KES 500", Command("deposit", amount_minor=50_000)),
    ("withdraw 200", Command("withdraw", amount_minor=20_000)),
    ("withdrw 200", Command("withdraw", amount_minor=20_000)),
    ("histroy", Command("history")),
    ("HELP", Command("help")),
    ("hi", Command("help")),
    ("wheel 50", Command("wheel", amount_minor=5_000)),
    ("whel   50", Command("wheel", amount_minor=5_000)),
    ("color red 50", Command("color", amount_minor=5_000, arg="red")),
    ("Colour 50 RED", Command("color", amount_minor=5_000, arg="red")),
    ("pick3 123 50", Command("pick3", amount_minor=5_000, arg="123")),
    ("Pick 3 007 20", Command("pick3", amount_minor=2_000, arg="007")),
    ("football", Command("football")),
    ("yes 50", Command("yes", amount_minor=5_000)),
    ("No 20", Command("no", amount_minor=2_000)),
    ("quiz 100", Command("quiz", amount_minor=10_000)),
    ("stop", Command("stop")),
    ("STPO", Command("stop")),
    ("start", Command("start")),
    ("verify 9b2f0c1e-aaaa", Command("verify", arg="9b2f0c1e-aaaa")),
])
def test_understood(text: str, expected: Command) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize("text", ["", "what is this", "asdf", "x" * 500, "🙂", "ye 50"])
def test_not_understood_gives_the_menu(text: str) -> None:
    assert parse(text).name == "menu"


@pytest.mark.parametrize(("text", "name"), [
    ("deposit", "deposit"), ("deposit 50.5", "deposit"), ("deposit -5", "deposit"),
    ("wheel 0", "wheel"), ("wheel lots", "wheel"), ("color 50", "color"),
    ("pick3 12 50", "pick3"), ("pick3 1234 50", "pick3"), ("verify", "verify"),
    ("withdraw 99999999999", "withdraw"),
])
def test_malformed_arguments_get_a_clear_sentence(text: str, name: str) -> None:
    cmd = parse(text)
    assert cmd.name == name and cmd.amount_minor is None
    assert cmd.error and "e.g." in cmd.error


def test_short_words_are_never_guessed() -> None:
    # Three letters or fewer must match exactly: "no" must never become "yes" or vice versa.
    assert match_word("yes") == "yes"
    assert match_word("ys") is None
    assert match_word("noo") is None


def test_edit_distance_counts_a_transposition_once() -> None:
    assert edit_distance("stop", "stpo") == 1
    assert edit_distance("balance", "blaance") == 1
    assert edit_distance("wheel", "history", limit=2) > 2
