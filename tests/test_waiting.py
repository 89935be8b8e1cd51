"""`eventually`: sync and async predicates, the value it returns, and how it fails."""

from __future__ import annotations

import asyncio

import pytest

from tests.waiting import eventually


async def test_returns_the_first_truthy_value_of_a_sync_predicate() -> None:
    calls = iter([0, None, [], {"row": 1}, "never reached"])
    assert await eventually(lambda: next(calls), what="a row") == {"row": 1}


async def test_awaits_an_async_predicate() -> None:
    ready = asyncio.Event()
    asyncio.get_running_loop().call_soon(ready.set)

    async def flag() -> str | None:
        return "set" if ready.is_set() else None

    assert await eventually(flag, what="the flag") == "set"


async def test_a_condition_that_never_holds_fails_naming_it_and_the_last_value() -> None:
    seen = iter(range(1_000_000))
    with pytest.raises(AssertionError) as err:
        await eventually(lambda: next(seen) < 0 or [], timeout_s=0.05, what="a negative number")
    message = str(err.value)
    assert "a negative number" in message and "last value seen: []" in message


async def test_an_async_predicate_that_hangs_is_bounded_by_the_timeout() -> None:
    async def hangs() -> bool:
        await asyncio.Event().wait()
        return True

    with pytest.raises(AssertionError, match="the hanging check"):
        await eventually(hangs, timeout_s=0.05, what="the hanging check")


async def test_an_error_in_the_predicate_is_raised_at_once_not_retried() -> None:
    calls = []

    def broken() -> bool:
        calls.append(1)
        raise TimeoutError("the predicate's own")

    with pytest.raises(TimeoutError, match="the predicate's own"):
        await eventually(broken, what="anything")
    assert calls == [1]
