"""The wire protocol without a transport: frames, the envelope, errors, request ids.

Everything docs/protocol.md says about a frame that does not depend on how the
bytes travel lives here, so the asyncio client (`client.py`, `websockets`) and
the gevent transport for locust (`gevent_transport.py`, `websocket-client`)
speak exactly the same protocol and cannot drift apart:

- codecs: a binary frame is a msgpack map, a text frame is the same map as JSON;
- the envelope: every frame has a type `t`; a request may carry `rid` (an
  integer here), echoed by its reply; pushes have none;
- errors: `{"t": "error", "rid", "code", "msg"}` becomes `MatchpotError(code, msg)`,
  the code being the stable one of docs/protocol.md;
- limits: the frame size the server accepts by default, the size this client
  accepts, the length of `t`, the range of `rid`;
- request ids: `RequestIds` hands out 1, 2, 3, ... (0 is the `hello`).

Nothing here does I/O, so it is also what a benchmark uses to speak to a raw socket.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

import msgpack

from matchpot_client.errors import MatchpotError

__all__ = [
    "CLIENT_VERSION", "HELLO_RID", "MAX_FRAME_BYTES", "MAX_INCOMING_FRAME_BYTES", "MAX_RID",
    "MAX_TYPE_LEN", "NO_RECONNECT_CODES", "Codec", "RequestIds", "decode", "encode",
    "error_of", "frame", "hello", "reply_rid", "welcome_of",
]

Codec = Literal["msgpack", "json"]

CLIENT_VERSION = "matchpot-client/0.1"
HELLO_RID = 0  # the rid of `hello`; requests after it are numbered from 1
MAX_TYPE_LEN = 64  # `t` is a non-empty string of at most 64 characters
MAX_RID = 2**53  # an integer rid stays within +-2^53 (JSON numbers stay exact)
MAX_FRAME_BYTES = 16 * 1024  # the server's default for a client frame (welcome.limits)
MAX_INCOMING_FRAME_BYTES = 2**22  # the largest frame this client accepts from a server
# Close codes after which reconnecting on one's own would loop: 1008 refused, 4001 replaced.
NO_RECONNECT_CODES = frozenset({1008, 4001})


def encode(frame: Mapping[str, Any], codec: Codec, *, max_bytes: int | None = None) -> bytes | str:
    """The frame as msgpack bytes (a binary frame) or JSON text (a text frame).

    With `max_bytes` (e.g. `welcome.limits.max_frame_bytes`), a frame the
    server would refuse with close 1009 raises MatchpotError("frame_too_large")
    here instead, and the connection stays up.
    """
    data: bytes | str
    if codec == "msgpack":
        data = msgpack.packb(dict(frame), use_bin_type=True)
    else:
        data = json.dumps(frame, separators=(",", ":"), ensure_ascii=False)
    if max_bytes is not None:
        size = len(data) if isinstance(data, bytes) else len(data.encode())
        if size > max_bytes:
            raise MatchpotError(
                "frame_too_large", f"The frame is {size} bytes; the limit is {max_bytes}."
            )
    return data


def decode(data: bytes | str) -> dict[str, Any]:
    """A server frame: a map with a string `t`, else ValueError (the server always sends maps)."""
    try:
        value = msgpack.unpackb(data, raw=False) if isinstance(data, bytes) else json.loads(data)
    except (TypeError, msgpack.UnpackException) as exc:  # e.g. a map key that is not hashable
        raise ValueError(f"the server sent a frame that does not decode: {exc}") from None
    if not isinstance(value, dict) or not isinstance(value.get("t"), str):
        raise ValueError("the server sent a frame that is not a map with 't'")
    return value


def frame(t: str, rid: int | None = None, /, **fields: Any) -> dict[str, Any]:
    """A client frame `{**fields, t, rid}`; `t` and `rid` win over fields of the same name.

    `t` is not checked against MAX_TYPE_LEN here: the server answers `bad_frame`.
    """
    out = {**fields, "t": t}
    if rid is not None:
        out["rid"] = rid
    return out


def hello(token: str, *, client: str = CLIENT_VERSION) -> dict[str, Any]:
    """The first frame of a connection (rid 0)."""
    return {"t": "hello", "rid": HELLO_RID, "token": token, "client": client}


def reply_rid(frame: Mapping[str, Any]) -> int | None:
    """The integer rid a frame answers, or None for a push (this client only sends int rids)."""
    rid = frame.get("rid")
    return rid if isinstance(rid, int) and not isinstance(rid, bool) else None


def error_of(frame: Mapping[str, Any]) -> MatchpotError | None:
    """The MatchpotError an error frame stands for (stable `code`, human `msg`), else None."""
    if frame.get("t") != "error":
        return None
    return MatchpotError(str(frame.get("code")), str(frame.get("msg", "")))


def welcome_of(frame: Mapping[str, Any]) -> dict[str, Any]:
    """The answer to `hello`: the welcome, or MatchpotError with the refusal's code."""
    error = error_of(frame)
    if error is not None:
        raise error
    if frame.get("t") != "welcome":
        raise MatchpotError("bad_welcome", f"Expected 'welcome', got {frame.get('t')!r}.")
    return dict(frame)


class RequestIds:
    """Request ids of one client: 1, 2, 3, ... within +-2^53 (wrapping back to 1)."""

    def __init__(self) -> None:
        self._last = HELLO_RID

    @property
    def last(self) -> int:
        return self._last

    def next(self) -> int:
        self._last = self._last + 1 if self._last < MAX_RID else 1
        return self._last
