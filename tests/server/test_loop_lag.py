"""The event-loop lag probe: a stall of the loop is measured and named in the log."""

from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client import CollectorRegistry, Histogram
from structlog.testing import capture_logs

from server import loop_lag


def _histogram() -> Histogram:
    """A probe histogram of the test's own (other servers of this process have theirs)."""
    return Histogram("lag_seconds", "test", buckets=(0.01, 0.1, 0.2),
                     registry=CollectorRegistry())


def _late_over(histogram: Histogram, seconds: float) -> float:
    """How many probes so far woke at least `seconds` late."""
    total = 0.0
    within = 0.0
    for metric in histogram.collect():
        for sample in metric.samples:
            if sample.name.endswith("_count"):
                total = sample.value
            if sample.name.endswith("_bucket") and sample.labels["le"] == repr(seconds):
                within = sample.value
    return total - within


@pytest.mark.asyncio
async def test_a_blocked_loop_is_measured_and_logged_with_the_collections_of_that_moment() -> None:
    histogram = _histogram()
    with capture_logs() as logs:
        probe = asyncio.create_task(loop_lag.watch(interval_s=0.01, warn_s=0.1, log_every_s=60,
                                                   histogram=histogram, probe="under-test"))
        await asyncio.sleep(0.05)  # the probe is asleep
        loop_lag.note_gc_pause(2, 0.004)
        time.sleep(0.25)  # noqa: ASYNC251  (the stall under test: nothing else may run)
        await asyncio.sleep(0.05)  # the probe wakes and records it
        probe.cancel()
        with pytest.raises(asyncio.CancelledError):
            await probe
    assert _late_over(histogram, 0.1) == 1, "one probe woke 0.1 s or more late"
    assert _late_over(histogram, 0.2) == 1, "it was late by more than 0.2 s"
    # Other servers of the test process probe the same loop and may log this stall too.
    stalls = [e for e in logs
              if e["event"] == "event_loop_stalled" and e["probe"] == "under-test"]
    assert len(stalls) == 1
    assert stalls[0]["lag_ms"] >= 200
    assert (2, 4.0) in stalls[0]["gc_pauses_ms"], "the collection during the stall is named"


@pytest.mark.asyncio
async def test_a_loop_that_keeps_up_logs_nothing() -> None:
    with capture_logs() as logs:
        probe = asyncio.create_task(loop_lag.watch(interval_s=0.01, warn_s=0.5, log_every_s=60,
                                                   histogram=_histogram(), probe="under-test"))
        await asyncio.sleep(0.1)
        probe.cancel()
        with pytest.raises(asyncio.CancelledError):
            await probe
    assert not [e for e in logs
                if e["event"] == "event_loop_stalled" and e["probe"] == "under-test"]
