"""This node's open connections, and their link to every other node through Redis pub/sub.

One pub/sub connection per node. When it is lost (a Redis restart), redis-py reconnects
and subscribes again to every channel it had; each confirmation of a channel that was
already confirmed is such a resubscription, and since frames published while the
connection was down are gone for good, the hub then pushes that player a fresh balance.

The node SUBSCRIBEs to a player's channel when the player's first socket arrives
here and UNSUBSCRIBEs when the last one leaves, so Redis routes a player's frames
only to nodes that hold that player.
(A pattern subscription would be simpler but would make every node receive and
discard every player's traffic: N nodes times all messages.)

The node also subscribes to its own channel, so the pub/sub connection always
has a subscription and a blocking read is always valid.

A user's second connection: the newest wins (docs/protocol.md). Each new socket
announces itself on the player's channel with its accept time; any older socket
of that player, on any node, gets an error frame `replaced` and close 4001.
Ties on the clock are broken by connection id, so exactly one socket survives.

Sessions end on the same channel: a logout publishes the session id
(server/auth/sessions.py) and each node closes that player's sockets of that
session with `session_revoked`. Once a second, with the idle check, sockets
whose access token has expired are closed with `token_expired` (a client keeps
a socket open past that by sending `auth` with a fresh token).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import msgpack
import structlog

from server import keys
from server.auth.sessions import session_of_message
from server.gateway.balances import BalancePusher
from server.gateway.connection import CLOSE_REPLACED, Connection
from server.gateway.protocol import Codec, Payload, encode
from server.logs import log_outage

if TYPE_CHECKING:
    from redis.asyncio.client import PubSub

    from server.state import AppState

log = structlog.get_logger(__name__)

SUBSCRIBE_WAIT_S = 5.0  # how long a new socket waits for Redis to confirm its subscription
READ_BACKOFF_MAX_S = 5.0
READ_WAIT_S = 5.0  # a read returns at least this often, so health checks run while idle
CLOSE_IDLE = 1000
CLOSE_POLICY = 1008


class Hub:
    """Who is connected to this node, and delivery of frames to them from any node."""

    def __init__(self, state: AppState) -> None:
        settings = state.settings
        self.state = state
        self.prefix = settings.redis_prefix
        self.open_sockets = 0  # accepted sockets, including those still before `hello`
        self._by_user: dict[str, dict[str, Connection]] = {}
        self._user_of_channel: dict[bytes, str] = {}
        self._sub_ready: dict[bytes, asyncio.Future[None]] = {}
        self._sub_outstanding: dict[bytes, int] = {}
        self._pubsub: PubSub | None = None
        self._pubsub_lock = asyncio.Lock()  # commands go out in the order the bookkeeping ran
        self._tasks: list[asyncio.Task[None]] = []
        # Unix time for token expiry; tests replace it to move time.
        self.wall_clock: Callable[[], float] = time.time
        self.resubscribed = 0  # channels confirmed again after a reconnect (tests read it)
        self.balances = BalancePusher(
            state, self.deliver_local, self.has_user,
            max_concurrent_reads=max(1, settings.db_pool_max // 4),
        )

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        self._pubsub = self.state.redis.pubsub()
        await self._pubsub.subscribe(keys.node_channel(self.prefix, self.state.settings.node_id))
        self._tasks.append(asyncio.create_task(self._read_loop(), name="ws-pubsub-reader"))
        self._tasks.append(asyncio.create_task(self._idle_loop(), name="ws-idle-sweeper"))

    async def close(self) -> None:
        for conn in list(self.connections()):
            conn.close_with_error(1001, "server_shutdown", "The server is restarting; reconnect.")
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.balances.close()
        if self._pubsub is not None:
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]

    # -- local registry ------------------------------------------------------------------

    def connections(self) -> Iterator[Connection]:
        for conns in self._by_user.values():
            yield from conns.values()

    @property
    def connection_count(self) -> int:
        return sum(len(c) for c in self._by_user.values())

    def connections_of(self, user_id: str) -> list[Connection]:
        return list(self._by_user.get(user_id, {}).values())

    def has_user(self, user_id: str) -> bool:
        return user_id in self._by_user

    async def add(self, conn: Connection) -> None:
        """Register an authenticated socket, replace older ones, and subscribe its player."""
        conns = self._by_user.setdefault(conn.user_id, {})
        conns[conn.conn_id] = conn
        self._replace_older(conn.user_id, conn.stamp_ns, conn.conn_id)
        await self._subscribe(conn.user_id)
        announce = msgpack.packb({"k": "r", "s": conn.stamp_ns, "c": conn.conn_id})
        try:
            await self.state.redis.publish(keys.user_channel(self.prefix, conn.user_id), announce)
        except Exception:
            log.exception("ws_announce_failed", user_id=conn.user_id)

    async def remove(self, conn: Connection) -> None:
        conns = self._by_user.get(conn.user_id)
        if conns is None or conns.pop(conn.conn_id, None) is None:
            return
        if not conns:
            del self._by_user[conn.user_id]
            await self._unsubscribe(conn.user_id)

    def _replace_older(self, user_id: str, stamp_ns: int, conn_id: str) -> None:
        for other in self.connections_of(user_id):
            if (other.stamp_ns, other.conn_id) < (stamp_ns, conn_id):
                log.info("ws_replaced", conn_id=other.conn_id, by=conn_id)
                other.close_with_error(
                    CLOSE_REPLACED, "replaced",
                    "This account connected from somewhere else; this connection is closed.",
                )

    # -- delivery ------------------------------------------------------------------------

    def deliver_local(self, user_id: str, frame: dict[str, Any]) -> int:
        """Queue `frame` on every socket of `user_id` here, encoding once per codec."""
        encoded: dict[Codec, Payload] = {}
        sent = 0
        for conn in self.connections_of(user_id):
            if conn.closing:
                continue
            if not conn.welcomed:
                conn.hold(frame)
                continue
            payload = encoded.get(conn.codec)
            if payload is None:
                payload = encoded[conn.codec] = encode(frame, conn.codec)
            conn.send_payload(payload)
            sent += 1
        return sent

    def _on_message(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        channel: bytes = message["channel"]
        if kind == "subscribe":
            left = self._sub_outstanding.get(channel, 0) - 1
            if left > 0:
                self._sub_outstanding[channel] = left
                return
            resubscribed = channel not in self._sub_outstanding
            self._sub_outstanding.pop(channel, None)
            ready = self._sub_ready.get(channel)
            if ready is not None and not ready.done():
                ready.set_result(None)
            user = self._user_of_channel.get(channel)
            if resubscribed and user is not None:
                self.resubscribed += 1
                self.balances.changed(user)  # pushes sent while disconnected were lost
            return
        if kind != "message":
            return
        user_id = self._user_of_channel.get(channel)
        if user_id is None:
            return
        try:
            envelope = msgpack.unpackb(message["data"], raw=False)
        except Exception:
            log.warning("ws_bad_pubsub_message", channel=channel)
            return
        if not isinstance(envelope, dict):
            return
        if envelope.get("k") == "r":
            self._replace_older(user_id, int(envelope["s"]), str(envelope["c"]))
            return
        ended = session_of_message(envelope)
        if ended is not None:
            self.end_session(user_id, ended)
            return
        frame = envelope.get("f")
        if not isinstance(frame, dict):
            return
        if frame.get("t") == "balance_changed":
            self.balances.changed(user_id)
        else:
            self.deliver_local(user_id, frame)

    # -- sessions ------------------------------------------------------------------------

    def end_session(self, user_id: str, session_id: str) -> int:
        """Close this node's sockets of `user_id` opened with a token of `session_id`."""
        closed = 0
        for conn in self.connections_of(user_id):
            if conn.session_id == session_id and not conn.closing:
                conn.close_with_error(
                    CLOSE_POLICY, "session_revoked", "This session was logged out; log in again."
                )
                closed += 1
        if closed:
            log.info("ws_session_ended", user_id=user_id, sockets=closed)
        return closed

    def close_expired(self) -> int:
        """Close sockets whose access token has expired; returns how many."""
        return self._sweep(idle_before_s=float("-inf"), idle_s=0.0)[0]

    def _sweep(self, *, idle_before_s: float, idle_s: float) -> tuple[int, int]:
        """One pass over every socket: close those whose token expired or that were idle
        since before `idle_before_s` (loop time). Returns (expired, idle) counts.

        One pass, not one per check: with tens of thousands of idle sockets this runs
        every second and is most of what the process does at rest.
        """
        now_s = self.wall_clock()
        expired: list[Connection] = []
        idle: list[Connection] = []
        for conns in self._by_user.values():
            for conn in conns.values():
                if conn.closing:
                    continue
                if conn.token_expires_s <= now_s:
                    expired.append(conn)
                elif conn.last_rx_s < idle_before_s:
                    idle.append(conn)
        for conn in expired:
            conn.close_with_error(
                CLOSE_POLICY, "token_expired",
                "The access token has expired; refresh it and reconnect, or send 'auth'.",
            )
        for conn in idle:
            conn.close_with_error(
                CLOSE_IDLE, "idle_timeout",
                f"No frame for {idle_s:g} s; send 'ping' to keep the connection open.",
            )
        return len(expired), len(idle)

    # -- pub/sub -------------------------------------------------------------------------

    async def _subscribe(self, user_id: str) -> None:
        assert self._pubsub is not None, "the hub is not started"
        channel = keys.user_channel(self.prefix, user_id).encode()
        ready = self._sub_ready.get(channel)
        if ready is None:
            ready = self._sub_ready[channel] = asyncio.get_running_loop().create_future()
            self._user_of_channel[channel] = user_id
            self._sub_outstanding[channel] = self._sub_outstanding.get(channel, 0) + 1
            try:
                async with self._pubsub_lock:
                    await self._pubsub.subscribe(channel)
            except Exception:
                log.exception("ws_subscribe_failed", user_id=user_id)
                return
        try:
            async with asyncio.timeout(SUBSCRIBE_WAIT_S):
                await asyncio.shield(ready)
        except TimeoutError:
            log.warning("ws_subscribe_unconfirmed", user_id=user_id)

    async def _unsubscribe(self, user_id: str) -> None:
        assert self._pubsub is not None
        channel = keys.user_channel(self.prefix, user_id).encode()
        ready = self._sub_ready.pop(channel, None)
        if ready is not None and not ready.done():
            ready.set_result(None)
        self._user_of_channel.pop(channel, None)
        try:
            async with self._pubsub_lock:
                await self._pubsub.unsubscribe(channel)
        except Exception:
            log.exception("ws_unsubscribe_failed", user_id=user_id)

    async def _read_loop(self) -> None:
        assert self._pubsub is not None
        backoff_s = 0.1
        while True:
            try:
                message = await self._pubsub.get_message(timeout=READ_WAIT_S)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis is down: redis-py reconnects and resubscribes
                log_outage(exc, "ws_pubsub_read")
                await asyncio.sleep(backoff_s)
                backoff_s = min(READ_BACKOFF_MAX_S, backoff_s * 2)
                continue
            backoff_s = 0.1
            if message is not None:
                try:
                    self._on_message(message)
                except Exception:
                    log.exception("ws_pubsub_message_failed")

    # -- idle timeout --------------------------------------------------------------------

    async def _idle_loop(self) -> None:
        idle_s = self.state.settings.ws_idle_timeout_s
        assert idle_s > 0
        interval_s = min(1.0, idle_s / 4)
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval_s)
            self._sweep(idle_before_s=loop.time() - idle_s, idle_s=idle_s)


def now_stamp_ns() -> int:
    """Accept time of a socket, comparable across nodes (wall clock, ties broken by id)."""
    return time.time_ns()
