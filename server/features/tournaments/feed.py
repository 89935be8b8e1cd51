"""The live bracket of one tournament: numbered updates to watchers, snapshot and resync.

Like a room's public stream: every update gets the tournament's next sequence
number and goes to every watcher on this node; a bounded log of recent updates
lets a watcher who comes back with `since_seq` receive exactly what it missed,
else (too far behind, or new) it receives a `tournament_state` snapshot first.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import structlog

log = structlog.get_logger(__name__)

Send = Callable[[dict[str, Any]], None]


class BracketFeed:
    def __init__(self, tournament_id: str, *, log_max: int, watchers_max: int) -> None:
        assert log_max > 0 and watchers_max > 0
        self.tournament_id = tournament_id
        self.seq = 0
        self._log: deque[dict[str, Any]] = deque(maxlen=log_max)
        self._watchers: dict[str, Send] = {}
        self._watchers_max = watchers_max

    @property
    def watchers(self) -> int:
        return len(self._watchers)

    def publish(self, event: dict[str, Any]) -> dict[str, Any]:
        """Number `event` (it has an `event` name) and send it to every watcher."""
        assert isinstance(event.get("event"), str)
        self.seq += 1
        frame = {"t": "tournament_update", "tournament_id": self.tournament_id,
                 "seq": self.seq, **event}
        self._log.append(frame)
        for send in list(self._watchers.values()):
            _deliver(send, frame)
        return frame

    def watch(self, conn_id: str, send: Send, snapshot: dict[str, Any],
              since_seq: int | None) -> bool:
        """Follow the feed; True if it resumed from the log, False if it sent the snapshot."""
        if conn_id not in self._watchers and len(self._watchers) >= self._watchers_max:
            return False
        self._watchers[conn_id] = send
        if since_seq is not None and 0 <= since_seq <= self.seq:
            missed = [f for f in self._log if f["seq"] > since_seq]
            if since_seq == self.seq or (missed and missed[0]["seq"] == since_seq + 1):
                for frame in missed:
                    _deliver(send, frame)
                return True
        _deliver(send, {**snapshot, "seq": self.seq})
        return False

    def unwatch(self, conn_id: str) -> None:
        self._watchers.pop(conn_id, None)

    def full(self, conn_id: str) -> bool:
        return conn_id not in self._watchers and len(self._watchers) >= self._watchers_max


def _deliver(send: Send, frame: dict[str, Any]) -> None:
    try:
        send(frame)
    except Exception:
        log.warning("tournament_feed_send_failed", exc_info=True)
