"""Message types other features add to the gateway, without touching it.

    from server.gateway.registry import Connection, FrameError, register

    async def queue_join(conn: Connection, frame: dict) -> dict | None:
        game = field(frame, "game", str)
        ...
        return {"t": "queue_joined", "ticket": ticket_id}

    register("queue_join", queue_join)

The returned dict is the reply (the gateway adds the request's `rid`; a reply
without `t` is sent as `t: "ok"`); returning None sends `{"t": "ok"}` when the
request carried a `rid` and nothing otherwise. Raise `FrameError(code, msg)`
for a clean error frame; the connection stays open. Handlers run one at a
time per connection, in arrival order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from server.errors import MatchpotError
from server.gateway.connection import Connection

__all__ = [
    "Connection",
    "DisconnectHook",
    "FrameError",
    "Handler",
    "disconnect_hooks",
    "field",
    "handler_for",
    "on_disconnect",
    "register",
]

Handler = Callable[[Connection, dict[str, Any]], Awaitable[dict[str, Any] | None]]
DisconnectHook = Callable[[Connection], Awaitable[None]]

# Types the gateway itself owns: registering them would shadow the handshake or the envelope.
RESERVED_TYPES = frozenset({"hello", "welcome", "error", "ok", "auth", "authed"})
MAX_HOOKS = 64

_handlers: dict[str, Handler] = {}
_disconnect_hooks: list[DisconnectHook] = []

T = TypeVar("T")


class FrameError(MatchpotError):
    """Raised by a handler to answer with {"t": "error", "code", "msg"}; `code` is stable."""

    def __init__(self, code: str, msg: str) -> None:
        super().__init__(code, msg, 400)


def register(t: str, handler: Handler) -> None:
    """Route frames of type `t` to `handler`. One handler per type, registered at import."""
    assert t and t not in RESERVED_TYPES, f"frame type {t!r} is reserved by the gateway"
    existing = _handlers.get(t)
    assert existing is None or existing is handler, f"frame type {t!r} already has a handler"
    _handlers[t] = handler


def handler_for(t: str) -> Handler | None:
    return _handlers.get(t)


def on_disconnect(callback: DisconnectHook) -> None:
    """Run `callback(conn)` after any authenticated connection ends (for seats, presence)."""
    if callback in _disconnect_hooks:
        return
    assert len(_disconnect_hooks) < MAX_HOOKS, "too many disconnect hooks"
    _disconnect_hooks.append(callback)


def disconnect_hooks() -> tuple[DisconnectHook, ...]:
    return tuple(_disconnect_hooks)


_MISSING = object()


def field(
    frame: dict[str, Any], name: str, kind: type[T] | tuple[type[Any], ...], *,
    required: bool = True, default: Any = None,
) -> Any:
    """Read `frame[name]` checked against `kind`, or raise FrameError("invalid_field").

    A bool is never accepted where an int is asked for (msgpack and JSON both
    keep them apart, and `True` as a stake would be a bug).
    """
    value = frame.get(name, _MISSING)
    if value is _MISSING or value is None:
        if required:
            raise FrameError("invalid_field", f"'{name}' is required.")
        return default
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise FrameError("invalid_field", f"'{name}' has the wrong type.")
    if not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise FrameError("invalid_field", f"'{name}' must be of type {names}.")
    return value
