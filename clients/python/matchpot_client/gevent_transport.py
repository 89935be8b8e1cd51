"""A blocking Matchpot connection for gevent programs such as locust (asyncio does not run there).

    from matchpot_client.gevent_transport import GeventConnection

    conn = GeventConnection("ws://127.0.0.1:8000/ws", access_token)
    welcome = conn.connect()                     # hello -> welcome, or MatchpotError
    pong = conn.request("ping", ts=1)            # matched by rid; MatchpotError(code) on error
    found = conn.next_of({"match_found", "queue_timeout"}, timeout=60)
    conn.close()

It speaks the same protocol as the asyncio client because both use
`matchpot_client.wire` for frames, the envelope, error frames and request ids;
only the transport differs. `websocket-client` does blocking socket I/O, which
gevent's monkey patching (locust applies it at import; elsewhere call
`gevent.monkey.patch_all()` first) turns into cooperative greenlet switches —
the approach of locust-plugins' websocket users. One reader greenlet per
connection routes each reply to the request waiting on its `rid` and queues
the pushes; a keepalive greenlet sends `ping` every third of the server's idle
timeout, as the asyncio client does.

Errors are `MatchpotError` with the server's stable code, or the client's own:
`timeout`, `disconnected` (the socket dropped), `closed` (closed here) and
`too_many_requests`. A drop queues `{"t": "_disconnected", "code", "reason"}`.
There is no automatic reconnect. Queues are bounded; every wait has a timeout.

Needs the `gevent` extra: `pip install "matchpot-client[gevent]"`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Collection
from typing import Any

import gevent
import websocket
from gevent.event import AsyncResult
from gevent.queue import Empty, Full, Queue

from matchpot_client import wire
from matchpot_client.errors import MatchpotError
from matchpot_client.wire import Codec

__all__ = ["EVENTS_MAX", "MAX_IN_FLIGHT", "GeventConnection"]

EVENTS_MAX = 512
MAX_IN_FLIGHT = 64


class GeventConnection:
    """One player's /ws connection: hello, requests by rid, pushes in a bounded queue."""

    def __init__(
        self, ws_url: str, access_token: str, *, codec: Codec = "msgpack",
        request_timeout_s: float = 10.0, events_max: int = EVENTS_MAX, keepalive: bool = True,
    ) -> None:
        assert request_timeout_s > 0 and events_max >= 1
        self.ws_url = ws_url
        self.access_token = access_token
        self.codec: Codec = codec
        self.request_timeout_s = request_timeout_s
        self.keepalive = keepalive
        self.welcome: dict[str, Any] | None = None
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.dropped_events = 0
        self._ws: websocket.WebSocket | None = None
        self._events: Any = Queue(events_max)  # gevent.queue.Queue of frames
        self._pending: dict[int, Any] = {}  # rid -> gevent.event.AsyncResult
        self._rids = wire.RequestIds()
        self._greenlets: list[Any] = []

    @property
    def connected(self) -> bool:
        return self._ws is not None

    @property
    def user_id(self) -> str:
        if self.welcome is None:
            raise MatchpotError("disconnected", "Not connected.")
        return str(self.welcome["user"]["id"])

    def connect(self) -> dict[str, Any]:
        """Open the socket, say hello and return the welcome (user, balances, limits)."""
        ws = websocket.create_connection(self.ws_url, timeout=self.request_timeout_s)
        try:
            self._send_on(ws, wire.hello(self.access_token))
            welcome = wire.welcome_of(wire.decode(ws.recv()))
        except BaseException:
            with contextlib.suppress(OSError, websocket.WebSocketException):
                ws.close()
            raise
        ws.settimeout(None)  # the reader blocks until a frame comes; waits time out in request()
        self._ws = ws
        self.welcome = welcome
        self.close_code = self.close_reason = None
        self._greenlets = [gevent.spawn(self._read_loop, ws)]
        if self.keepalive:
            idle_s = float(welcome.get("limits", {}).get("idle_timeout_s", 60))
            self._greenlets.append(gevent.spawn(self._keepalive_loop, ws, max(0.5, idle_s / 3)))
        return welcome

    def request(self, t: str, *, timeout: float | None = None, **fields: Any) -> dict[str, Any]:
        """Send `{t, rid, **fields}` and block this greenlet until the reply with that rid."""
        ws = self._ws
        if ws is None:
            raise MatchpotError("disconnected", "Not connected.")
        if len(self._pending) >= MAX_IN_FLIGHT:
            raise MatchpotError("too_many_requests", "Too many requests are awaiting replies.")
        rid = self._rids.next()
        result = AsyncResult()
        self._pending[rid] = result
        try:
            self._send_on(ws, wire.frame(t, rid, **fields))
            reply: dict[str, Any] = result.get(timeout=timeout or self.request_timeout_s)
        except gevent.Timeout:
            raise MatchpotError("timeout", f"No reply to {t!r} in time.") from None
        finally:
            self._pending.pop(rid, None)
        error = wire.error_of(reply)
        if error is not None:
            raise error
        return reply

    def send(self, t: str, **fields: Any) -> None:
        """Send a frame without waiting for anything."""
        if self._ws is None:
            raise MatchpotError("disconnected", "Not connected.")
        self._send_on(self._ws, wire.frame(t, **fields))

    def next_event(self, t: str | None = None, *, timeout: float = 10.0) -> dict[str, Any]:
        """The next push (of type `t`, dropping others before it), or MatchpotError `timeout`."""
        return self.next_of(None if t is None else (t,), timeout=timeout)

    def next_of(
        self, types: Collection[str] | None, *, timeout: float = 10.0
    ) -> dict[str, Any]:
        """The next push whose type is one of `types` (None: any); others are dropped.

        A `_disconnected` event ends the wait with MatchpotError("disconnected")
        unless it is one of `types`: what was awaited can no longer arrive.
        """
        deadline = time.monotonic() + timeout
        while True:
            left_s = deadline - time.monotonic()
            if left_s <= 0:
                wanted = "event" if types is None else f"{sorted(types)}"
                raise MatchpotError("timeout", f"No {wanted} in {timeout:g} s.")
            try:
                event: dict[str, Any] = self._events.get(timeout=left_s)
            except Empty:
                continue
            if types is None or event["t"] in types:
                return event
            if event["t"] == "_disconnected":
                raise MatchpotError("disconnected", "The connection closed.")

    def close(self) -> None:
        """Close the socket; waiting requests fail with `closed`."""
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(OSError, websocket.WebSocketException):
                ws.close()
        self._fail_pending("closed", "The client is closed.")
        for greenlet in self._greenlets:
            greenlet.kill(block=False)
        self._greenlets = []

    def __enter__(self) -> GeventConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------

    def _send_on(self, ws: websocket.WebSocket, frame: dict[str, Any]) -> None:
        data = wire.encode(frame, self.codec)
        try:
            if isinstance(data, bytes):
                ws.send_binary(data)
            else:
                ws.send(data)
        except (OSError, websocket.WebSocketException):
            raise MatchpotError("disconnected", "The connection closed.") from None

    def _push_event(self, event: dict[str, Any]) -> None:
        try:
            self._events.put_nowait(event)
        except Full:
            self._events.get_nowait()
            self.dropped_events += 1
            self._events.put_nowait(event)

    def _fail_pending(self, code: str, msg: str) -> None:
        error = {"t": "error", "code": code, "msg": msg}
        for waiting in list(self._pending.values()):
            if not waiting.ready():
                waiting.set(error)

    def _read_loop(self, ws: websocket.WebSocket) -> None:
        code: int | None = None
        reason: str | None = None
        try:
            while self._ws is ws:
                opcode, payload = ws.recv_data()
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    if len(payload) >= 2:
                        code = int.from_bytes(payload[:2], "big")
                        reason = bytes(payload[2:]).decode("utf-8", "replace")
                    break
                data = payload.decode("utf-8") if opcode == websocket.ABNF.OPCODE_TEXT else payload
                try:
                    frame = wire.decode(data)
                except ValueError:
                    continue
                rid = wire.reply_rid(frame)
                waiting = self._pending.get(rid) if rid is not None else None
                if waiting is not None and not waiting.ready():
                    waiting.set(frame)
                else:
                    self._push_event(frame)
        except (OSError, UnicodeDecodeError, websocket.WebSocketException):
            pass
        if self._ws is not ws:
            return  # closed on purpose
        self._ws = None
        self.close_code, self.close_reason = code, reason
        self._fail_pending("disconnected", "The connection closed.")
        self._push_event({"t": "_disconnected", "code": code, "reason": reason})
        with contextlib.suppress(OSError, websocket.WebSocketException):
            ws.close()

    def _keepalive_loop(self, ws: websocket.WebSocket, interval_s: float) -> None:
        while self._ws is ws:
            gevent.sleep(interval_s)
            if self._ws is not ws:
                return
            with contextlib.suppress(MatchpotError):
                self.request("ping")
