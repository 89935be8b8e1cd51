"""One authenticated websocket: a bounded send queue drained by one writer task.

`send()` never blocks and never grows memory without bound: when the queue is
full the peer is not reading fast enough, so the queue is dropped and the
connection closed with 4002 `slow_consumer` (docs/protocol.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

import structlog

from server import metrics
from server.gateway.protocol import Codec, Payload, encode, error_frame

if TYPE_CHECKING:
    from server.state import AppState

log = structlog.get_logger(__name__)

AsgiSend = Callable[[dict[str, Any]], Awaitable[None]]

CLOSE_REPLACED: Final = 4001
CLOSE_SLOW_CONSUMER: Final = 4002
MAX_HELD_FRAMES: Final = 32  # pushes kept for a socket whose welcome is not sent yet


class _CloseMarker:
    __slots__ = ()


_CLOSE: Final = _CloseMarker()


class _LastEncoded:
    """The frame most recently encoded by any connection's `send`, and its payload.

    A room publishes one frame object to every seat and spectator in a row; each of
    them encodes it the same way, so the second and later ones reuse the first's
    payload. Only the very same object in the same codec matches, and it is held
    here, so its id cannot be reused meanwhile.
    """

    __slots__ = ("codec", "frame", "payload")

    def __init__(self) -> None:
        self.frame: Mapping[str, Any] | None = None
        self.codec: Codec | None = None
        self.payload: Payload = b""


_LAST = _LastEncoded()


class Connection:
    """What a handler sees: who is connected (`user_id`), which socket (`conn_id`), `send()`."""

    __slots__ = (
        "_closing",
        "_held",
        "_missed_balance",
        "_queue",
        "_writer",
        "codec",
        "conn_id",
        "last_rx_s",
        "node_id",
        "profile",
        "session_id",
        "stamp_ns",
        "state",
        "token_expires_s",
        "user_id",
        "welcomed",
    )

    def __init__(
        self, state: AppState, user_id: str, conn_id: str, codec: Codec, *,
        send_queue_max: int, stamp_ns: int, now_s: float,
    ) -> None:
        assert send_queue_max >= 2, "the queue must hold at least a notice and the close"
        self.state = state
        self.user_id = user_id
        self.conn_id = conn_id
        self.node_id: str = state.settings.node_id
        self.codec: Codec = codec  # the codec of the client's latest frame; pushes use it
        self.stamp_ns = stamp_ns  # when the socket was accepted: the newest connection wins
        self.last_rx_s = now_s
        self._queue: asyncio.Queue[Payload | _CloseMarker] = asyncio.Queue(send_queue_max)
        self._closing: tuple[int, str] | None = None
        self._writer: asyncio.Task[None] | None = None
        self.welcomed = False
        self.profile: dict[str, Any] = {"id": user_id}  # what `welcome` says about the player
        self._held: list[dict[str, Any]] = []
        self._missed_balance = False
        # The access token's session and expiry (unix seconds): logout of that session or
        # the expiry closes the socket unless the client re-authenticates (`auth`).
        self.session_id: str | None = None
        self.token_expires_s: float = float("inf")

    # -- before the welcome ---------------------------------------------------------------

    def hold(self, frame: dict[str, Any]) -> None:
        """Keep a push that arrived before `welcome`; a balance is re-read after it instead."""
        if frame.get("t") == "balance":
            self._missed_balance = True
        elif len(self._held) < MAX_HELD_FRAMES:
            self._held.append(frame)
        else:
            log.warning("ws_held_frame_dropped", conn_id=self.conn_id, t=frame.get("t"))

    def send_welcome(self, welcome: dict[str, Any]) -> bool:
        """Send `welcome`, then what was held; True if balances changed meanwhile."""
        assert not self.welcomed
        self.send(welcome)
        self.welcomed = True
        held, self._held = self._held, []
        for frame in held:
            self.send(frame)
        return self._missed_balance

    # -- sending -------------------------------------------------------------------------

    def send(self, frame: Mapping[str, Any]) -> None:
        """Queue `frame` for this socket in its codec; never blocks.

        A frame handed to `send` is not changed afterwards (the room runtime builds a new
        one per publish): a broadcast is encoded once for all its receivers.
        """
        if self._closing is not None:
            return
        last = _LAST
        if last.frame is frame and last.codec == self.codec:
            payload = last.payload
        else:
            payload = encode(frame, self.codec)
            last.frame, last.codec, last.payload = frame, self.codec, payload
        self.send_payload(payload)

    def send_payload(self, payload: Payload) -> None:
        """Queue an already encoded frame (fan-out encodes once per codec)."""
        if self._closing is not None:
            return
        try:
            self._queue.put_nowait(payload)
        except asyncio.QueueFull:
            metrics.ERRORS.labels(code="slow_consumer").inc()
            log.info("ws_slow_consumer", conn_id=self.conn_id, queued=self._queue.qsize())
            self.close(CLOSE_SLOW_CONSUMER, "slow_consumer", notice=error_frame(
                "slow_consumer", "Frames were not read fast enough; reconnect to resync.",
            ))

    @property
    def queued(self) -> int:
        """Frames waiting for the socket: never more than the configured maximum."""
        return self._queue.qsize()

    @property
    def closing(self) -> bool:
        return self._closing is not None

    def close(self, code: int, reason: str, *, notice: Mapping[str, Any] | None = None) -> None:
        """Close after the frames already queued (and `notice`, if any) are written.

        If the queue is full the peer is not reading: its backlog is dropped so
        memory is released at once, and only the notice and the close remain.
        """
        if self._closing is not None:
            return
        self._closing = (code, reason)
        queue = self._queue
        if queue.maxsize - queue.qsize() < 2:
            while not queue.empty():
                queue.get_nowait()
        if notice is not None:
            queue.put_nowait(encode(notice, self.codec))
        queue.put_nowait(_CLOSE)

    def close_with_error(self, close_code: int, code: str, msg: str) -> None:
        """Tell the client why in an error frame, then close with `close_code`."""
        metrics.ERRORS.labels(code=code).inc()
        self.close(close_code, code, notice=error_frame(code, msg))

    # -- the writer task -----------------------------------------------------------------

    def start_writer(self, send: AsgiSend) -> None:
        assert self._writer is None, "one writer per connection"
        self._writer = asyncio.create_task(self._write_loop(send), name=f"ws-writer-{self.conn_id}")

    async def stop_writer(self) -> None:
        """Called once the socket is gone: stop writing and drop whatever is left."""
        if self._closing is None:
            self._closing = (1006, "gone")
        writer = self._writer
        if writer is not None and not writer.done():
            writer.cancel()
            try:
                await writer
            except asyncio.CancelledError:
                if (task := asyncio.current_task()) is not None and task.cancelling():
                    raise
        while not self._queue.empty():
            self._queue.get_nowait()

    async def _write_loop(self, send: AsgiSend) -> None:
        queue = self._queue
        frames_out = metrics.WS_FRAMES_OUT
        try:
            while True:
                item = await queue.get()
                if isinstance(item, _CloseMarker):
                    break
                if isinstance(item, bytes):
                    await send({"type": "websocket.send", "bytes": item})
                else:
                    await send({"type": "websocket.send", "text": item})
                frames_out.inc()
            assert self._closing is not None
            code, reason = self._closing
            metrics.WS_CLOSED.labels(code=str(code)).inc()
            await send({"type": "websocket.close", "code": code, "reason": reason})
        except OSError:
            return  # the peer went away mid-write; the reader sees the disconnect
