"""The quiz question bank (data, not code) and fair selection.

Questions live in `rooms/games/quiz/data/questions.json`; each is
{id, category, text, choices[4], answer_index, difficulty}. Selection avoids
what either player saw in their last N duels, remembered per player in Redis.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from redis.asyncio import Redis

from rooms import keys

DEFAULT_BANK = Path(__file__).resolve().parent / "data" / "questions.json"
CHOICES = 4
DIFFICULTIES = ("easy", "medium", "hard")
MAX_TEXT = 300
MAX_CHOICE = 120
MAX_QUESTIONS = 100_000


class QuestionBankError(ValueError):
    """The bank file breaks a rule; the message names the question and the rule."""


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    category: str
    text: str
    choices: tuple[str, ...]
    answer_index: int
    difficulty: str

    def public(self) -> dict[str, Any]:
        """What a player may see before the deadline: never the answer."""
        return {"question_id": self.id, "category": self.category, "text": self.text,
                "choices": list(self.choices)}

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "category": self.category, "text": self.text,
                "choices": list(self.choices), "answer_index": self.answer_index,
                "difficulty": self.difficulty}


def question_id(text: str) -> str:
    """A stable id from the question text, so re-importing never duplicates a question."""
    norm = " ".join(text.lower().split())
    return "q_" + hashlib.sha256(norm.encode()).hexdigest()[:12]


def parse_question(raw: Any) -> Question:
    """One bank entry, checked: four distinct non-empty choices and an answer among them."""
    if not isinstance(raw, dict):
        raise QuestionBankError(f"a question must be an object, got {type(raw).__name__}")
    qid = raw.get("id")
    text = raw.get("text")
    choices = raw.get("choices")
    answer = raw.get("answer_index")
    category = raw.get("category")
    difficulty = raw.get("difficulty")
    where = f"question {qid!r}"
    if not isinstance(qid, str) or not qid:
        raise QuestionBankError(f"{where}: id must be a non-empty string")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
        raise QuestionBankError(f"{where}: text must be 1 to {MAX_TEXT} characters")
    if not isinstance(category, str) or not category:
        raise QuestionBankError(f"{where}: category must be a non-empty string")
    if difficulty not in DIFFICULTIES:
        raise QuestionBankError(f"{where}: difficulty must be one of {DIFFICULTIES}")
    if not isinstance(choices, list) or len(choices) != CHOICES:
        raise QuestionBankError(f"{where}: exactly {CHOICES} choices are required")
    if not all(isinstance(c, str) and c.strip() and len(c) <= MAX_CHOICE for c in choices):
        raise QuestionBankError(f"{where}: each choice is 1 to {MAX_CHOICE} characters")
    if len({c.strip().lower() for c in choices}) != CHOICES:
        raise QuestionBankError(f"{where}: choices must be distinct")
    if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < CHOICES:
        raise QuestionBankError(f"{where}: answer_index must be 0 to {CHOICES - 1}")
    return Question(qid, category, text.strip(), tuple(c.strip() for c in choices), answer,
                    difficulty)


class QuestionBank:
    """An immutable, validated set of questions with unique ids."""

    def __init__(self, questions: Iterable[Question]) -> None:
        self.questions: tuple[Question, ...] = tuple(sorted(questions, key=lambda q: q.id))
        assert len(self.questions) <= MAX_QUESTIONS
        self.by_id: dict[str, Question] = {}
        for q in self.questions:
            if q.id in self.by_id:
                raise QuestionBankError(f"question id {q.id!r} appears twice")
            self.by_id[q.id] = q

    def __len__(self) -> int:
        return len(self.questions)

    @classmethod
    def from_json(cls, data: Any) -> QuestionBank:
        items = data.get("questions") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise QuestionBankError("the bank is a list of questions (or {'questions': [...]})")
        if len(items) > MAX_QUESTIONS:
            raise QuestionBankError(f"a bank holds at most {MAX_QUESTIONS} questions")
        return cls(parse_question(item) for item in items)

    @classmethod
    def load(cls, path: Path | None = None) -> QuestionBank:
        return cls.from_json(json.loads((path or DEFAULT_BANK).read_text(encoding="utf-8")))

    def pick(self, rng: random.Random, count: int, avoid: set[str]) -> list[Question]:
        """`count` distinct questions, preferring ones not in `avoid`; deterministic per rng."""
        if count > len(self.questions):
            raise QuestionBankError(f"the bank has only {len(self.questions)} questions")
        fresh = [q for q in self.questions if q.id not in avoid]
        if len(fresh) >= count:
            return rng.sample(fresh, count)
        stale = [q for q in self.questions if q.id in avoid]
        return fresh + rng.sample(stale, count - len(fresh))


class SeenStore(Protocol):
    """Which question ids each player saw recently."""

    async def recent(self, user_ids: Sequence[str]) -> set[str]: ...

    async def remember(self, user_ids: Sequence[str], question_ids: Sequence[str]) -> None: ...


class RedisSeenStore:
    """A bounded Redis list per player: the ids of their last `keep_duels` duels."""

    def __init__(
        self, redis: Redis, prefix: str, *, keep_duels: int = 20, per_duel: int = 5,
        ttl_s: int = 90 * 24 * 3600,
    ) -> None:
        assert keep_duels > 0 and per_duel > 0 and ttl_s > 0
        self.redis = redis
        self.prefix = prefix
        self.keep = keep_duels * per_duel
        self.ttl_s = ttl_s

    async def recent(self, user_ids: Sequence[str]) -> set[str]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for uid in user_ids:
                pipe.lrange(keys.seen_questions(self.prefix, uid), 0, self.keep - 1)
            rows = await pipe.execute()
        return {v.decode() if isinstance(v, bytes) else str(v) for row in rows for v in row}

    async def remember(self, user_ids: Sequence[str], question_ids: Sequence[str]) -> None:
        if not question_ids:
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            for uid in user_ids:
                key = keys.seen_questions(self.prefix, uid)
                pipe.lpush(key, *question_ids)
                pipe.ltrim(key, 0, self.keep - 1)
                pipe.expire(key, self.ttl_s)
            await pipe.execute()
