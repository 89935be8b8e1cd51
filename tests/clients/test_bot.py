"""Quiz bots play real duels against each other over websockets against a live server."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from matchpot_client.bot import BotConfig, run_bots

from ledger import TransferRequest, transfer_id
from tests.server.gateway_helpers import new_player
from tests.support import REPO, LiveServer, TestServices, run_server

STAKE_MINOR = 10_000
FUNDS_MINOR = 100_000
RAKE_BPS = 2_000
# Five questions of 500 ms each: a whole duel takes about three seconds.
FAST_QUIZ = dict(
    game_settings={"quiz": dict(countdown_ms=100, answer_window_ms=2_500, reveal_ms=100,
                                join_timeout_ms=5_000)},
    room_grace_ms=4_000, mm_window_start=400,
)
QUICK_BOTS = BotConfig(stake_minor=STAKE_MINOR, think_min_s=0.01, think_max_s=0.15,
                       match_timeout_s=15, duel_timeout_s=30)


@pytest.fixture(scope="module")
async def bot_server(
    test_services: TestServices, tmp_path_factory: pytest.TempPathFactory, pool: Any
) -> AsyncIterator[LiveServer]:
    settings = test_services.settings(
        Path(tmp_path_factory.mktemp("bots")), redis_prefix=f"{test_services.redis_prefix}bots",
        **FAST_QUIZ,
    )
    async with run_server(settings, test_services.services_for_run()) as live:
        yield live


async def funded_players(server: LiveServer, n: int) -> list[tuple[str, str]]:
    """(user_id, access token) of `n` new players credited FUNDS_MINOR each."""
    state = server.state
    players = []
    for _ in range(n):
        user, token = await new_player(state)
        await state.ledger.transfer(TransferRequest(
            id=transfer_id("bot-test-deposit", user.id), debit="world",
            credit=f"user:{user.id}", amount_minor=FUNDS_MINOR,
            currency=state.settings.currency, code="deposit",
        ))
        players.append((user.id, token))
    return players


async def available_minor(server: LiveServer, user_id: str) -> int:
    state = server.state
    balance = await state.ledger.balance(f"user:{user_id}", state.settings.currency)
    return int(balance.available_minor)


async def test_two_bots_play_duels_and_the_books_match_their_summary(
    bot_server: LiveServer,
) -> None:
    players = await funded_players(bot_server, 2)
    house_before = (await bot_server.state.ledger.balance("house", "KES")).posted_minor
    summary, mode = await run_bots(
        bot_server.base_url, [t for _, t in players], 2, QUICK_BOTS, seed=7
    )
    assert mode == bot_server.state.settings.money_mode
    assert summary.errors == {} and summary.queue_timeouts == 0
    # Two bots, two duels each, always against each other: four seat-views of two duels.
    assert summary.duels == 4 and summary.aborted == 0
    assert summary.wins == summary.losses and summary.wins + summary.ties // 2 == 2
    assert summary.answers == 4 * 5, "every question was answered within its window"
    # The net the bots report is what the ledger says; the house took the rake of each win.
    nets = [await available_minor(bot_server, uid) - FUNDS_MINOR for uid, _ in players]
    rake_minor = 2 * STAKE_MINOR * RAKE_BPS // 10_000
    assert sum(nets) == summary.net_minor == -rake_minor * summary.wins
    house_after = (await bot_server.state.ledger.balance("house", "KES")).posted_minor
    assert house_after - house_before == rake_minor * summary.wins
    # Nothing is left on hold once the bots are done.
    for uid, _ in players:
        balance = await bot_server.state.ledger.balance(f"user:{uid}", "KES")
        assert balance.pending_debits_minor == 0


async def test_bots_that_never_answer_tie_and_get_their_stakes_back(
    bot_server: LiveServer,
) -> None:
    players = await funded_players(bot_server, 2)
    silent = BotConfig(stake_minor=STAKE_MINOR, answer_rate=0.0,
                       match_timeout_s=15, duel_timeout_s=30)
    summary, _ = await run_bots(bot_server.base_url, [t for _, t in players], 1, silent, seed=1)
    assert summary.duels == 2 and summary.ties == 2 and summary.answers == 0
    assert summary.net_minor == 0
    for uid, _ in players:
        assert await available_minor(bot_server, uid) == FUNDS_MINOR


async def test_bot_command_plays_and_prints_a_summary(
    bot_server: LiveServer, tmp_path: Path
) -> None:
    players = await funded_players(bot_server, 2)
    tokens_file = tmp_path / "tokens.jsonl"
    tokens_file.write_text(
        "".join(f'{{"user_id": "{uid}", "token": "{tok}"}}\n' for uid, tok in players)
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "matchpot_client", "bot", "quiz", "--base-url",
        bot_server.base_url, "--tokens-file", str(tokens_file), "--bots", "2", "--count", "1",
        "--stake", str(STAKE_MINOR), "--think-min", "0.01", "--think-max", "0.1",
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    line = out.decode().strip()
    assert line.startswith("duels 2  wins ") and "errors none" in line
    assert bot_server.state.settings.money_mode == "credits" and "credits  errors" in line


async def test_bot_command_refuses_bad_arguments_and_plays_nothing(
    bot_server: LiveServer, tmp_path: Path
) -> None:
    (uid, tok), = await funded_players(bot_server, 1)
    tokens_file = tmp_path / "tokens.txt"
    tokens_file.write_text(tok + "\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "matchpot_client", "bot", "quiz", "--base-url",
        bot_server.base_url, "--tokens-file", str(tokens_file), "--answer-rate", "1.5",
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(30):
        _, err = await proc.communicate()
    assert proc.returncode == 2 and b"--answer-rate" in err
    assert await available_minor(bot_server, uid) == FUNDS_MINOR
