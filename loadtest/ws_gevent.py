"""A gevent-friendly Matchpot websocket client for locust (asyncio does not run inside locust).

`websocket-client` does blocking socket I/O, which gevent's monkey patching
(locust applies it) turns into cooperative greenlet switches — the approach of
locust-plugins' socketio/websocket users. One reader greenlet per connection
routes replies to the request waiting on the same `rid` and queues pushes.

Queues are bounded; every wait has a timeout.
"""

from __future__ import annotations

import json
import time
from typing import Any

import gevent
import msgpack
import websocket
from gevent.event import AsyncResult
from gevent.queue import Empty, Full, Queue

EVENTS_MAX = 512
MAX_IN_FLIGHT = 64


class WsError(Exception):
    """An error frame (`code` from docs/protocol.md) or a local failure (`timeout`, `closed`)."""

    def __init__(self, code: str, msg: str = "") -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg


def _encode(frame: dict[str, Any]) -> bytes:
    return msgpack.packb(frame, use_bin_type=True)  # type: ignore[no-any-return]


def _decode(data: bytes | str) -> dict[str, Any]:
    value = msgpack.unpackb(data, raw=False) if isinstance(data, bytes) else json.loads(data)
    if not isinstance(value, dict):
        raise ValueError("not a map")
    return value


class GeventPlayer:
    """One player's /ws connection: hello, requests by rid, pushes in a bounded queue."""

    def __init__(self, ws_url: str, token: str, *, timeout_s: float = 10.0) -> None:
        self.ws_url = ws_url
        self.token = token
        self.timeout_s = timeout_s
        self.ws: websocket.WebSocket | None = None
        self.welcome: dict[str, Any] = {}
        self.events: Queue = Queue(EVENTS_MAX)
        self._pending: dict[int, AsyncResult] = {}
        self._rid = 0
        self._reader: gevent.Greenlet | None = None
        self.dropped_events = 0

    @property
    def user_id(self) -> str:
        return str(self.welcome["user"]["id"])

    def connect(self) -> dict[str, Any]:
        """Open the socket and say hello; the welcome frame."""
        self.ws = websocket.create_connection(self.ws_url, timeout=self.timeout_s)
        self.ws.send_binary(_encode({"t": "hello", "rid": 0, "token": self.token}))
        frame = _decode(self.ws.recv())
        if frame.get("t") != "welcome":
            self.close()
            raise WsError(str(frame.get("code", "bad_welcome")), str(frame.get("msg", "")))
        self.welcome = frame
        self.ws.settimeout(None)
        self._reader = gevent.spawn(self._read_loop)
        return frame

    def request(self, t: str, **fields: Any) -> tuple[dict[str, Any], float]:
        """Send a request and wait for its reply: (reply, round trip in ms)."""
        if self.ws is None:
            raise WsError("closed", "not connected")
        if len(self._pending) >= MAX_IN_FLIGHT:
            raise WsError("too_many_requests", "too many requests in flight")
        self._rid += 1
        rid = self._rid
        result = AsyncResult()
        self._pending[rid] = result
        started = time.perf_counter()
        try:
            self.ws.send_binary(_encode({**fields, "t": t, "rid": rid}))
            frame = result.get(timeout=self.timeout_s)
        except gevent.Timeout:
            raise WsError("timeout", f"no reply to {t}") from None
        finally:
            self._pending.pop(rid, None)
        rtt_ms = (time.perf_counter() - started) * 1000
        if frame.get("t") == "error":
            raise WsError(str(frame.get("code")), str(frame.get("msg", "")))
        return frame, rtt_ms

    def next_of(self, types: set[str], timeout_s: float) -> dict[str, Any]:
        """The next push whose type is in `types` (others are dropped), or WsError timeout."""
        deadline = time.monotonic() + timeout_s
        while True:
            left_s = deadline - time.monotonic()
            if left_s <= 0:
                raise WsError("timeout", f"none of {sorted(types)} in {timeout_s:g} s")
            try:
                frame = self.events.get(timeout=left_s)
            except Empty:
                continue
            if frame.get("t") == "_closed":
                raise WsError("closed", "the connection closed")
            if frame.get("t") in types:
                return dict(frame)

    def close(self) -> None:
        ws, self.ws = self.ws, None
        if ws is not None:
            try:
                ws.close()
            except (OSError, websocket.WebSocketException):
                pass
        if self._reader is not None:
            self._reader.kill(block=False)

    def _push(self, frame: dict[str, Any]) -> None:
        try:
            self.events.put_nowait(frame)
        except Full:
            self.events.get_nowait()
            self.dropped_events += 1
            self.events.put_nowait(frame)

    def _read_loop(self) -> None:
        ws = self.ws
        assert ws is not None
        try:
            while self.ws is ws:
                data = ws.recv()
                if not data:
                    break
                frame = _decode(data)
                rid = frame.get("rid")
                waiting = self._pending.get(rid) if isinstance(rid, int) else None
                if waiting is not None:
                    waiting.set(frame)
                else:
                    self._push(frame)
        except (OSError, ValueError, websocket.WebSocketException):
            pass
        for waiting in list(self._pending.values()):
            waiting.set({"t": "error", "code": "closed", "msg": "the connection closed"})
        self._push({"t": "_closed"})
