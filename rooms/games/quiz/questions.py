"""The quiz question bank (data, not code) and fair selection.

Questions live in `rooms/games/quiz/data/questions.json`; each is
{id, category, text, choices[4], answer_index, difficulty}. Selection avoids
what either player saw in their last N duels, remembered per player in Redis.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

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


T = TypeVar("T")
BATCH_CALLS = 200  # calls of many rooms answered by one Redis pipeline at most


class _Shared(Generic[T]):
    """Calls of many rooms made at the same moment, answered by one pipeline (group commit).

    The first call is sent at once; calls made while a pipeline is in flight go
    together in the next one. Each caller gets its own result or the pipeline's error.
    """

    def __init__(self, run: Callable[[list[Any]], Awaitable[list[T]]]) -> None:
        self._run = run
        self._waiting: list[tuple[Any, asyncio.Future[T]]] = []
        self._task: asyncio.Task[None] | None = None

    async def call(self, arg: Any) -> T:
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._waiting.append((arg, fut))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())
        return await fut

    async def _drain(self) -> None:
        while self._waiting:
            part, self._waiting = self._waiting[:BATCH_CALLS], self._waiting[BATCH_CALLS:]
            try:
                results = await self._run([arg for arg, _ in part])
            except Exception as exc:
                for _, fut in part:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for (_, fut), result in zip(part, results, strict=True):
                if not fut.done():
                    fut.set_result(result)


class RedisSeenStore:
    """A bounded Redis list per player: the ids of their last `keep_duels` duels.

    Rooms starting at the same moment share their reads and their writes (one
    pipeline each), so a wave of new duels is not a wave of Redis round trips.
    """

    def __init__(
        self, redis: Redis, prefix: str, *, keep_duels: int = 20, per_duel: int = 5,
        ttl_s: int = 90 * 24 * 3600,
    ) -> None:
        assert keep_duels > 0 and per_duel > 0 and ttl_s > 0
        self.redis = redis
        self.prefix = prefix
        self.keep = keep_duels * per_duel
        self.ttl_s = ttl_s
        self._reads: _Shared[set[str]] = _Shared(self._read_many)
        self._writes: _Shared[None] = _Shared(self._write_many)

    async def recent(self, user_ids: Sequence[str]) -> set[str]:
        return await self._reads.call(list(user_ids))

    async def remember(self, user_ids: Sequence[str], question_ids: Sequence[str]) -> None:
        if not question_ids:
            return
        await self._writes.call((list(user_ids), list(question_ids)))

    async def _read_many(self, calls: list[list[str]]) -> list[set[str]]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for user_ids in calls:
                for uid in user_ids:
                    pipe.lrange(keys.seen_questions(self.prefix, uid), 0, self.keep - 1)
            rows = iter(await pipe.execute())
        return [
            {v.decode() if isinstance(v, bytes) else str(v)
             for _ in user_ids for v in next(rows)}
            for user_ids in calls
        ]

    async def _write_many(self, calls: list[tuple[list[str], list[str]]]) -> list[None]:
        async with self.redis.pipeline(transaction=True) as pipe:
            for user_ids, question_ids in calls:
                for uid in user_ids:
                    key = keys.seen_questions(self.prefix, uid)
                    pipe.lpush(key, *question_ids)
                    pipe.ltrim(key, 0, self.keep - 1)
                    pipe.expire(key, self.ttl_s)
            await pipe.execute()
        return [None] * len(calls)
