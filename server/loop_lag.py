"""How late the event loop runs: the one number that shows a stall every player feels.

A process that holds thousands of sockets can have spare CPU on average and still
answer late, when one long stretch of work (a full garbage collection, a burst of
settlements) keeps the loop from serving anything else. A probe task sleeps for a
fixed interval and records how much later than asked it woke up
(`matchpot_event_loop_lag_seconds`); a wake-up later than `warn_s` is logged, at most
once every `log_every_s`, with the garbage collections of that moment.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

import structlog
from prometheus_client import Histogram

from server import metrics

log = structlog.get_logger(__name__)

PROBE_INTERVAL_S = 0.05
WARN_S = 0.1
LOG_EVERY_S = 10.0
MAX_RECENT_GC = 64  # the collections remembered for the next stall's log line

_recent_gc: deque[tuple[float, int, float]] = deque(maxlen=MAX_RECENT_GC)


def note_gc_pause(generation: int, pause_s: float) -> None:
    """Called by the collector's callback: the pause, and when it ended (monotonic)."""
    metrics.GC_PAUSE.labels(generation=str(generation)).observe(pause_s)
    _recent_gc.append((time.monotonic(), generation, pause_s))


async def watch(interval_s: float = PROBE_INTERVAL_S, warn_s: float = WARN_S,
                log_every_s: float = LOG_EVERY_S, *, histogram: Histogram | None = None,
                probe: str = "server") -> None:
    """Measure the loop's lateness for ever (cancel the task to stop it).

    `histogram` defaults to the process's `matchpot_event_loop_lag_seconds`; `probe` names
    this probe in its log lines (a process with several apps on one loop has one each).
    """
    assert interval_s > 0 and warn_s > 0 and log_every_s > 0
    loop = asyncio.get_running_loop()
    observe = (histogram or metrics.LOOP_LAG).observe
    logged_at = -log_every_s
    while True:
        asked = loop.time()
        await asyncio.sleep(interval_s)
        woke = loop.time()
        lag_s = max(0.0, woke - asked - interval_s)
        observe(lag_s)
        if lag_s < warn_s or woke - logged_at < log_every_s:
            continue
        logged_at = woke
        since = time.monotonic() - (woke - asked)
        pauses = [(g, round(p * 1000, 1)) for at, g, p in _recent_gc if at >= since]
        log.warning("event_loop_stalled", probe=probe, lag_ms=round(lag_s * 1000, 1),
                    gc_pauses_ms=pauses)
