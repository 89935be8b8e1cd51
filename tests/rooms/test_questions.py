"""The shipped question bank, its validation, the Open Trivia DB importer, no-repeat picks."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from rooms.games.quiz.importer import convert_opentdb, main
from rooms.games.quiz.questions import (
    DEFAULT_BANK,
    Question,
    QuestionBank,
    QuestionBankError,
    RedisSeenStore,
)
from tests.support import REPO

GOOD = {"id": "q1", "category": "Science", "text": "Which planet is closest to the Sun?",
        "choices": ["Mercury", "Venus", "Mars", "Earth"], "answer_index": 0, "difficulty": "easy"}

OPENTDB = {
    "response_code": 0,
    "results": [
        {"category": "Entertainment: Books", "type": "multiple", "difficulty": "easy",
         "question": "Who wrote &quot;Pride and Prejudice&quot;?",
         "correct_answer": "Jane Austen",
         "incorrect_answers": ["Charlotte Bront&euml;", "Emily Bront&euml;", "Mary Shelley"]},
        {"category": "Science &amp; Nature", "type": "multiple", "difficulty": "medium",
         "question": "What is the chemical symbol for potassium?",
         "correct_answer": "K", "incorrect_answers": ["P", "Po", "Pt"]},
        {"category": "General Knowledge", "type": "boolean", "difficulty": "easy",
         "question": "The sky is blue.", "correct_answer": "True",
         "incorrect_answers": ["False"]},
        {"category": "General Knowledge", "type": "multiple", "difficulty": "easy",
         "question": "Broken item", "correct_answer": "A", "incorrect_answers": ["A", "B", "C"]},
    ],
}


def test_shipped_bank_has_enough_valid_questions_across_categories() -> None:
    raw = json.loads(DEFAULT_BANK.read_text(encoding="utf-8"))
    bank = QuestionBank.load()
    assert len(bank) == len(raw) >= 150
    assert len({q.id for q in bank.questions}) == len(bank)
    assert len({q.text.lower() for q in bank.questions}) == len(bank), "no question twice"
    for q in bank.questions:
        assert len(q.choices) == 4 and len({c.lower() for c in q.choices}) == 4
        assert 0 <= q.answer_index < 4
    categories = {q.category for q in bank.questions}
    assert {"Geography", "Science", "Sport", "History", "Africa & Kenya",
            "Entertainment"} <= categories
    positions = {q.answer_index for q in bank.questions}
    assert positions == {0, 1, 2, 3}, "the right answer is not always in the same place"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"choices": ["a", "b", "c"]}, "exactly 4 choices"),
        ({"choices": ["a", "b", "c", "A"]}, "distinct"),
        ({"answer_index": 4}, "answer_index"),
        ({"answer_index": True}, "answer_index"),
        ({"text": ""}, "text"),
        ({"difficulty": "impossible"}, "difficulty"),
        ({"id": ""}, "id"),
    ],
)
def test_bad_questions_are_refused_with_a_clear_reason(
    change: dict[str, Any], message: str
) -> None:
    with pytest.raises(QuestionBankError, match=message):
        QuestionBank.from_json([{**GOOD, **change}])


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(QuestionBankError, match="appears twice"):
        QuestionBank.from_json([GOOD, {**GOOD, "text": "Another question?"}])


def test_public_view_never_contains_the_answer() -> None:
    q = QuestionBank.from_json([GOOD]).questions[0]
    assert "answer_index" not in q.public() and q.public()["choices"] == GOOD["choices"]


def test_opentdb_import_unescapes_shuffles_deterministically_and_skips_bad_items() -> None:
    first, skipped = convert_opentdb(OPENTDB)
    again, _ = convert_opentdb(OPENTDB)
    assert first == again, "the same file always gives the same questions"
    assert len(first) == 2 and len(skipped) == 2
    austen = next(q for q in first if "Pride" in q.text)
    assert austen.text == 'Who wrote "Pride and Prejudice"?'
    assert austen.choices[austen.answer_index] == "Jane Austen"
    assert "Charlotte Brontë" in austen.choices
    assert austen.category == "Entertainment: Books" and austen.difficulty == "easy"
    potassium = next(q for q in first if "potassium" in q.text)
    assert potassium.choices[potassium.answer_index] == "K"
    assert potassium.category == "Science & Nature"
    assert austen.id.startswith("q_") and austen.id != potassium.id


def test_opentdb_import_refuses_an_error_response() -> None:
    with pytest.raises(QuestionBankError):
        convert_opentdb({"response_code": 1, "results": []})


def test_importer_merges_into_a_bank_once(tmp_path: Path) -> None:
    source = tmp_path / "opentdb.json"
    source.write_text(json.dumps(OPENTDB))
    bank_path = tmp_path / "bank.json"
    bank_path.write_text(json.dumps([GOOD]))
    assert main([str(source), "--bank", str(bank_path)]) == 0
    assert len(QuestionBank.load(bank_path)) == 3
    assert main([str(source), "--bank", str(bank_path)]) == 0
    assert len(QuestionBank.load(bank_path)) == 3, "re-importing adds nothing"


def test_importer_runs_as_a_module_and_a_dry_run_writes_nothing(tmp_path: Path) -> None:
    source = tmp_path / "opentdb.json"
    source.write_text(json.dumps(OPENTDB))
    bank_path = tmp_path / "bank.json"
    bank_path.write_text(json.dumps([GOOD]))
    proc = subprocess.run(
        [sys.executable, "-m", "rooms.games.quiz.importer", str(source), "--bank", str(bank_path),
         "--dry-run"], cwd=REPO, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "2 added" in proc.stdout
    assert json.loads(bank_path.read_text()) == [GOOD]


def test_importer_reports_a_broken_file_and_changes_nothing(tmp_path: Path) -> None:
    source = tmp_path / "broken.json"
    source.write_text("{not json")
    bank_path = tmp_path / "bank.json"
    bank_path.write_text(json.dumps([GOOD]))
    assert main([str(source), "--bank", str(bank_path)]) == 1
    assert json.loads(bank_path.read_text()) == [GOOD]


def small_bank(n: int) -> QuestionBank:
    return QuestionBank(
        Question(f"s{i:02d}", "Test", f"Question {i}?", ("a", "b", "c", "d"), i % 4, "easy")
        for i in range(n)
    )


async def test_selection_never_repeats_within_a_players_last_n_duels(
    redis: Any, settings: Any
) -> None:
    bank = small_bank(20)
    store = RedisSeenStore(redis, settings.redis_prefix, keep_duels=3, per_duel=5)
    player = str(uuid.uuid4())
    rng = random.Random(11)
    duels: list[set[str]] = []
    for _ in range(12):
        opponent = str(uuid.uuid4())
        avoid = await store.recent([player, opponent])
        picked = [q.id for q in bank.pick(rng, 5, avoid)]
        assert len(set(picked)) == 5
        for earlier in duels[-3:]:
            assert not earlier & set(picked), "a question came back within three duels"
        await store.remember([player, opponent], picked)
        duels.append(set(picked))
    assert len(await store.recent([player])) == 15, "the per-player memory is bounded"


async def test_selection_also_avoids_what_the_opponent_saw(redis: Any, settings: Any) -> None:
    bank = small_bank(10)
    store = RedisSeenStore(redis, settings.redis_prefix, keep_duels=1, per_duel=5)
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    await store.remember([b], ["s00", "s01", "s02", "s03", "s04"])
    picked = {q.id for q in bank.pick(random.Random(2), 5, await store.recent([a, b]))}
    assert picked == {"s05", "s06", "s07", "s08", "s09"}


def test_selection_reuses_seen_questions_only_when_the_bank_runs_short() -> None:
    bank = small_bank(6)
    picked = bank.pick(random.Random(4), 5, avoid={"s00", "s01", "s02"})
    ids = {q.id for q in picked}
    assert {"s03", "s04", "s05"} <= ids and len(ids) == 5
    with pytest.raises(QuestionBankError):
        bank.pick(random.Random(4), 7, avoid=set())
