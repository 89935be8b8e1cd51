"""The async client: login, one websocket, requests matched by `rid`, an event stream, reconnect.

    client = MatchpotClient("http://127.0.0.1:8000")
    await client.request_otp("+254700000001")
    await client.verify_otp("+254700000001", "123456")
    welcome = await client.connect()
    pong = await client.request("ping")
    balance = await client.next_event("balance", timeout=30)

Frames that are not replies to a request are events. They go to a bounded
buffer (the oldest is dropped when it is full; `dropped_events` counts them).
The client adds its own events, whose type starts with an underscore:
`_disconnected` {code, reason} and `_reconnected` {welcome}; `on_reconnect`
hooks run first, so a game can resync its state from there.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from matchpot_client import wire
from matchpot_client.auth import AuthApi, Session
from matchpot_client.errors import MatchpotError
from matchpot_client.wire import NO_RECONNECT_CODES, Codec, decode, encode

__all__ = ["MatchpotClient", "ReconnectHook"]

VERSION = wire.CLIENT_VERSION
MAX_IN_FLIGHT = 256
ReconnectHook = Callable[[dict[str, Any]], Awaitable[None] | None]


class MatchpotClient:
    """One player's session with one Matchpot server."""

    def __init__(
        self, base_url: str, *, codec: Codec = "msgpack", ws_url: str | None = None,
        access_token: str | None = None, refresh_token: str | None = None,
        request_timeout_s: float = 10.0, events_max: int = 1000, reconnect: bool = True,
        max_reconnect_attempts: int = 20, backoff_base_s: float = 0.2,
        backoff_max_s: float = 10.0, keepalive: bool = True,
        rng: random.Random | None = None,
    ) -> None:
        assert events_max >= 1 and max_reconnect_attempts >= 0 and request_timeout_s > 0
        self.base_url = base_url.rstrip("/")
        self.ws_url = ws_url or ("ws" + self.base_url.removeprefix("http")) + "/ws"
        self.codec: Codec = codec
        self.request_timeout_s = request_timeout_s
        self.reconnect_enabled = reconnect
        self.max_reconnect_attempts = max_reconnect_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.keepalive = keepalive
        self._rng = rng or random.Random()
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=10.0)
        self.auth = AuthApi(self._http)
        self.session: Session | None = None
        if access_token is not None:
            self.session = Session(access_token, refresh_token, {})
        self.welcome: dict[str, Any] | None = None
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.dropped_events = 0
        self._ws: ClientConnection | None = None
        self._events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(events_max)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._rids = wire.RequestIds()
        self._tasks: set[asyncio.Task[None]] = set()
        self._reconnect_hooks: list[ReconnectHook] = []
        self._closed = False

    # -- login -----------------------------------------------------------------------------

    async def request_otp(self, phone: str) -> dict[str, Any]:
        """Ask the server to send a one-time code to `phone` (printed in the server log in dev)."""
        return await self.auth.request_otp(phone)

    async def verify_otp(self, phone: str, code: str) -> Session:
        """Exchange the code for a session; the client keeps its tokens."""
        self.session = await self.auth.verify_otp(phone, code)
        return self.session

    async def refresh(self) -> Session:
        """Rotate the tokens (the old refresh token is spent)."""
        if self.session is None or not self.session.refresh_token:
            raise MatchpotError("refresh_missing", "There is no refresh token to use.")
        self.session = await self.auth.refresh(self.session.refresh_token)
        return self.session

    # -- the websocket ---------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._ws is not None

    async def connect(self) -> dict[str, Any]:
        """Open /ws, say hello, and return the welcome (user, balances, limits)."""
        if self.session is None:
            raise MatchpotError("token_missing", "Log in (verify_otp) or pass access_token first.")
        self._closed = False
        return await self._open(refresh_on_expiry=True)

    async def move_to(self, ws_url: str) -> dict[str, Any]:
        """Reconnect to another node's websocket: a room lives on the node `match_found` names.

        The new socket says hello first; the server then replaces the old one
        (close 4001), which this client closes itself without reconnecting.
        """
        if self.session is None:
            raise MatchpotError("token_missing", "Log in (verify_otp) or pass access_token first.")
        old = self._ws
        self.ws_url = ws_url
        welcome = await self._open(refresh_on_expiry=True)
        if old is not None:
            await old.close()
        return welcome

    def on_reconnect(self, hook: ReconnectHook) -> None:
        """Run `hook(welcome)` after every automatic reconnect, before `_reconnected` is queued."""
        self._reconnect_hooks.append(hook)

    async def request(
        self, t: str, *, timeout: float | None = None, **fields: Any  # noqa: ASYNC109
    ) -> dict[str, Any]:
        """Send `{t, rid, **fields}` and wait for the reply with the same rid.

        Raises MatchpotError with the server's code on an error frame, `timeout`
        when no reply comes in time, `disconnected` when the socket drops first.
        """
        ws = self._ws
        if ws is None:
            raise MatchpotError("disconnected", "Not connected.")
        if len(self._pending) >= MAX_IN_FLIGHT:
            raise MatchpotError("too_many_requests", "Too many requests are awaiting replies.")
        rid = self._rids.next()
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        try:
            await ws.send(encode(wire.frame(t, rid, **fields), self.codec))
            async with asyncio.timeout(timeout or self.request_timeout_s):
                return await future
        except TimeoutError:
            raise MatchpotError("timeout", f"No reply to {t!r} in time.") from None
        except ConnectionClosed:
            raise MatchpotError("disconnected", "The connection closed.") from None
        finally:
            self._pending.pop(rid, None)

    async def send(self, t: str, **fields: Any) -> None:
        """Send a frame without waiting for anything."""
        if self._ws is None:
            raise MatchpotError("disconnected", "Not connected.")
        await self._ws.send(encode(wire.frame(t, **fields), self.codec))

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """Every event in arrival order; ends when the client is closed for good."""
        while True:
            event = await self._events.get()
            if event is None:
                return
            yield event

    async def next_event(
        self, t: str | None = None, *, timeout: float = 10.0  # noqa: ASYNC109
    ) -> dict[str, Any]:
        """The next event (of type `t`, dropping others before it), or MatchpotError `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                async with asyncio.timeout(max(0.0, left)):
                    event = await self._events.get()
            except TimeoutError:
                raise MatchpotError("timeout", f"No {t or 'event'} in {timeout:g} s.") from None
            if event is None:
                self._events.put_nowait(None)  # keep the end marker for other readers
                raise MatchpotError("closed", "The client is closed.")
            if t is None or event.get("t") == t:
                return event

    async def close(self) -> None:
        """Close the socket and the HTTP client; no reconnect."""
        self._closed = True
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._fail_pending("closed", "The client is closed.")
        self._push_event(None)
        await self._http.aclose()

    async def __aenter__(self) -> MatchpotClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- internals -------------------------------------------------------------------------

    async def _open(self, *, refresh_on_expiry: bool) -> dict[str, Any]:
        assert self.session is not None
        ws = await connect(
            self.ws_url, max_size=wire.MAX_INCOMING_FRAME_BYTES, open_timeout=self.request_timeout_s
        )
        try:
            await ws.send(encode(wire.hello(self.session.access_token), self.codec))
            async with asyncio.timeout(self.request_timeout_s):
                frame = wire.welcome_of(decode(await ws.recv()))
        except MatchpotError as exc:
            await ws.close()
            if exc.code == "token_expired" and refresh_on_expiry and self.session.refresh_token:
                await self.refresh()
                return await self._open(refresh_on_expiry=False)
            raise
        except BaseException:
            await ws.close()
            raise
        self._ws = ws
        self.welcome = frame
        self.close_code = self.close_reason = None
        self._spawn(self._read_loop(ws))
        if self.keepalive:
            idle_s = float(frame.get("limits", {}).get("idle_timeout_s", 60))
            self._spawn(self._keepalive_loop(ws, max(0.5, idle_s / 3)))
        return frame

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _push_event(self, event: dict[str, Any] | None) -> None:
        if self._events.full():
            self._events.get_nowait()
            self.dropped_events += 1
        self._events.put_nowait(event)

    def _fail_pending(self, code: str, msg: str) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(MatchpotError(code, msg))

    async def _read_loop(self, ws: ClientConnection) -> None:
        try:
            async for data in ws:
                try:
                    frame = decode(data)
                except ValueError:
                    continue
                rid = wire.reply_rid(frame)
                future = self._pending.get(rid) if rid is not None else None
                if future is not None and not future.done():
                    error = wire.error_of(frame)
                    if error is not None:
                        future.set_exception(error)
                    else:
                        future.set_result(frame)
                    continue
                self._push_event(frame)
        except ConnectionClosed:
            pass
        if self._ws is not ws:
            return  # closed on purpose
        self._ws = None
        self.close_code = ws.close_code
        self.close_reason = ws.close_reason
        self._fail_pending("disconnected", "The connection closed.")
        self._push_event({"t": "_disconnected", "code": ws.close_code, "reason": ws.close_reason})
        if not self._closed and self.reconnect_enabled and ws.close_code not in NO_RECONNECT_CODES:
            self._spawn(self._reconnect_loop())

    async def _keepalive_loop(self, ws: ClientConnection, interval_s: float) -> None:
        while self._ws is ws:
            await asyncio.sleep(interval_s)
            if self._ws is not ws:
                return
            with contextlib.suppress(MatchpotError):
                await self.request("ping")

    async def _reconnect_loop(self) -> None:
        for attempt in range(self.max_reconnect_attempts):
            delay_s = min(self.backoff_max_s, self.backoff_base_s * 2**attempt)
            await asyncio.sleep(delay_s * (0.5 + self._rng.random() / 2))
            if self._closed:
                return
            try:
                welcome = await self._open(refresh_on_expiry=True)
            except MatchpotError as exc:
                if exc.code in ("token_invalid", "forbidden", "refresh_invalid", "refresh_reused"):
                    break
                continue
            except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake):
                continue
            for hook in self._reconnect_hooks:
                result = hook(welcome)
                if inspect.isawaitable(result):
                    await result
            self._push_event({"t": "_reconnected", "welcome": welcome})
            return
        self._push_event({"t": "_disconnected", "code": self.close_code, "reason": "gave_up"})
