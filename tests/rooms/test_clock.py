"""The manual clock fires timers in time order, once, and only when told."""

from __future__ import annotations

from rooms.clock import ManualClock, RealClock


async def test_manual_clock_fires_due_timers_in_order_and_skips_cancelled() -> None:
    clock = ManualClock(start_ms=1_000)
    fired: list[tuple[str, int]] = []
    clock.call_at(1_300, lambda: fired.append(("c", clock.now_ms())))
    clock.call_at(1_100, lambda: fired.append(("a", clock.now_ms())))
    cancelled = clock.call_at(1_200, lambda: fired.append(("x", clock.now_ms())))
    clock.call_at(1_200, lambda: fired.append(("b", clock.now_ms())))
    cancelled.cancel()

    await clock.advance(150)
    assert fired == [("a", 1_100)]
    assert clock.now_ms() == 1_150

    await clock.advance(1_000)
    assert fired == [("a", 1_100), ("b", 1_200), ("c", 1_300)]
    assert clock.now_ms() == 2_150
    assert clock.pending_timers == 0


async def test_timer_set_from_a_timer_fires_within_the_same_advance() -> None:
    clock = ManualClock(start_ms=0)
    fired: list[int] = []

    def first() -> None:
        fired.append(clock.now_ms())
        clock.call_at(clock.now_ms() + 50, lambda: fired.append(clock.now_ms()))

    clock.call_at(100, first)
    await clock.advance(200)
    assert fired == [100, 150]


async def test_real_clock_moves_forward_in_epoch_milliseconds() -> None:
    clock = RealClock()
    first = clock.now_ms()
    assert first > 1_600_000_000_000  # an epoch time, usable as deadline_ms by clients
    assert clock.now_ms() >= first
