"""Waiting in tests: `eventually`, the one helper that polls for a condition.

Prefer an explicit signal when the code under test offers one: `ManualClock.advance()` or
`settle()` for rooms, an event or future the code exposes, the next frame on a socket,
`FakeGraphApi.wait_for`. `eventually` is for conditions that nothing announces: a row a
background task writes, a registry that shrinks after a socket closes, a subprocess's log
line. It checks the condition, then waits a little and checks again, with a bounded number
of short waits; on timeout it fails with an assertion naming what it waited for and the
last value it saw.

This module is the one place in the tests that sleeps in order to wait. A test never
writes its own poll loop, `sleep(0)` ordering trick or fixed `sleep(x)`.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar, overload

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 10.0
SPINS = 10  # the first waits only yield to the event loop: in-process hand-offs need no more
FIRST_PAUSE_S = 0.001  # then the pause doubles ...
MAX_PAUSE_S = 0.05  # ... up to this
MAX_REPR = 400  # characters of the last value quoted in a failure


def _pauses(timeout_s: float) -> Iterator[float]:
    """The waits between checks: a few bare yields, then doubling pauses, summing to timeout_s."""
    for _ in range(SPINS):
        yield 0.0
    left, pause = timeout_s, FIRST_PAUSE_S
    while left > 0:
        step = min(pause, left)
        yield step
        left -= step
        pause = min(pause * 2, MAX_PAUSE_S)


def _quote(value: object) -> str:
    text = repr(value)
    return text if len(text) <= MAX_REPR else text[:MAX_REPR] + "..."


@overload
async def eventually(
    predicate: Callable[[], Awaitable[T]], *, what: str, timeout_s: float = ...
) -> T: ...


@overload
async def eventually(predicate: Callable[[], T], *, what: str, timeout_s: float = ...) -> T: ...


async def eventually(
    predicate: Callable[[], object], *, what: str, timeout_s: float = DEFAULT_TIMEOUT_S
) -> object:
    """Return the first truthy value of `predicate()` (sync or async), checking it again after
    each of a bounded number of short waits; fail with an `AssertionError` after `timeout_s`.

    An exception raised by the predicate is not retried: it propagates at once. The timeout
    also bounds an async predicate that hangs.
    """
    assert timeout_s > 0, "a wait needs a positive timeout"
    last: object = None
    checks = 0
    deadline = asyncio.timeout(timeout_s)
    try:
        async with deadline:
            for pause in itertools.chain(_pauses(timeout_s), [None]):
                value = predicate()
                last = await value if inspect.isawaitable(value) else value
                checks += 1
                if last:
                    return last
                if pause is None:
                    break
                await asyncio.sleep(pause)
    except TimeoutError:
        if not deadline.expired():
            raise  # the predicate's own TimeoutError, not ours
    raise AssertionError(
        f"waited {timeout_s:g} s ({checks} checks) for {what}; last value seen: {_quote(last)}"
    )
