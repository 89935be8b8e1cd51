"""Import Open Trivia DB questions into our bank format.

    python -m rooms.games.quiz.importer FILE [--bank PATH] [--dry-run]

FILE is an Open Trivia DB API response ({"response_code": 0, "results": [...]}).
Only "multiple" questions are taken; HTML entities are unescaped; choices are
shuffled deterministically from the question's id, so re-importing the same
file gives the same bank; questions already in the bank (same id) are skipped.
"""

from __future__ import annotations

import argparse
import html
import json
import random
import sys
from pathlib import Path
from typing import Any

from rooms.games.quiz.questions import (
    DEFAULT_BANK,
    MAX_QUESTIONS,
    Question,
    QuestionBank,
    QuestionBankError,
    parse_question,
    question_id,
)

DIFFICULTY = {"easy": "easy", "medium": "medium", "hard": "hard"}


def convert_opentdb(data: Any) -> tuple[list[Question], list[str]]:
    """(questions, reasons for each skipped item) from an Open Trivia DB response."""
    if not isinstance(data, dict) or data.get("response_code") != 0:
        raise QuestionBankError("not an Open Trivia DB response with response_code 0")
    results = data.get("results")
    if not isinstance(results, list) or len(results) > MAX_QUESTIONS:
        raise QuestionBankError("results must be a list of at most 100000 items")
    out: list[Question] = []
    skipped: list[str] = []
    for n, item in enumerate(results):
        try:
            out.append(_convert_one(item))
        except (QuestionBankError, KeyError, TypeError, AttributeError) as exc:
            skipped.append(f"item {n}: {exc}")
    return out, skipped


def _convert_one(item: dict[str, Any]) -> Question:
    if item.get("type") != "multiple":
        raise QuestionBankError("only multiple-choice questions are imported")
    text = html.unescape(item["question"]).strip()
    correct = html.unescape(item["correct_answer"]).strip()
    wrong = [html.unescape(w).strip() for w in item["incorrect_answers"]]
    qid = question_id(text)
    choices = [correct, *wrong]
    random.Random(qid).shuffle(choices)
    category = html.unescape(item.get("category") or "General Knowledge").strip()
    return parse_question({
        "id": qid, "category": category, "text": text, "choices": choices,
        "answer_index": choices.index(correct),
        "difficulty": DIFFICULTY.get(str(item.get("difficulty")), "medium"),
    })


def merge(bank: list[dict[str, Any]], new: list[Question]) -> tuple[list[dict[str, Any]], int]:
    """The bank plus new questions whose ids it lacks; returns (bank, how many were added)."""
    have = {q["id"] for q in bank}
    added = [q.to_dict() for q in new if q.id not in have]
    merged = bank + added
    QuestionBank.from_json(merged)  # validates the whole result before anything is written
    return merged, len(added)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rooms.games.quiz.importer")
    parser.add_argument("file", type=Path, help="Open Trivia DB JSON response")
    parser.add_argument("--bank", type=Path, default=DEFAULT_BANK, help="bank file to extend")
    parser.add_argument("--dry-run", action="store_true", help="report, write nothing")
    args = parser.parse_args(argv)
    try:
        new, skipped = convert_opentdb(json.loads(args.file.read_text(encoding="utf-8")))
        bank = json.loads(args.bank.read_text(encoding="utf-8")) if args.bank.exists() else []
        merged, added = merge(bank, new)
    except (OSError, json.JSONDecodeError, QuestionBankError) as exc:
        print(f"import failed: {exc}", file=sys.stderr)
        return 1
    for reason in skipped:
        print(f"skipped {reason}", file=sys.stderr)
    if not args.dry_run:
        tmp = args.bank.with_suffix(".tmp")
        tmp.write_text(json.dumps(merged, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(args.bank)
    print(f"{added} added, {len(new) - added} already present, {len(skipped)} skipped;"
          f" bank has {len(merged)} questions")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
