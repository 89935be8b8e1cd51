"""A token bucket driven by an injected clock, so tests can step time exactly."""

from __future__ import annotations

from collections.abc import Callable


class TokenBucket:
    """Allows `burst` events at once and `rate_per_s` sustained; `take()` says yes or no."""

    __slots__ = ("_clock", "_last_s", "_rate_per_s", "_tokens", "burst")

    def __init__(self, rate_per_s: float, burst: int, clock: Callable[[], float]) -> None:
        assert rate_per_s >= 0 and burst >= 1, "a bucket needs a rate >= 0 and a burst >= 1"
        self._rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last_s = clock()

    def take(self) -> bool:
        """Spend one token if there is one; refill by elapsed time first."""
        now_s = self._clock()
        elapsed_s = max(0.0, now_s - self._last_s)
        self._last_s = now_s
        self._tokens = min(float(self.burst), self._tokens + elapsed_s * self._rate_per_s)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
