"""The websocket wire codec: msgpack maps in binary frames, the same maps as JSON in text frames.

Decoding never trusts the peer: any failure is one `MalformedFrame`, and the
envelope check turns a decoded value into `(t, rid)` or a `ProtocolError` with
the stable code the client sees. docs/protocol.md is the contract.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

import msgpack

Codec = Literal["msgpack", "json"]
Payload = bytes | str

MAX_TYPE_CHARS = 64
MAX_RID_CHARS = 64
MAX_RID_INT = 2**53  # JSON-safe integers only, so both codecs agree


class ProtocolError(Exception):
    """A frame the gateway refuses; `code` is the stable snake_case error code."""

    def __init__(self, code: str, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


class MalformedFrame(ProtocolError):
    """The bytes are not valid msgpack / the text is not valid JSON."""

    def __init__(self, msg: str) -> None:
        super().__init__("malformed_frame", msg)


def _fallback(value: Any) -> Any:
    """Values the server may put in frames that neither codec knows natively."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__} in a frame")


def decode(payload: Payload) -> tuple[Any, Codec]:
    """Decode one frame; binary means msgpack, text means JSON."""
    if isinstance(payload, bytes | bytearray | memoryview):
        try:
            return msgpack.unpackb(payload, raw=False, strict_map_key=True), "msgpack"
        except Exception as exc:  # any decoder failure is the peer's fault
            raise MalformedFrame("The binary frame is not valid msgpack.") from exc
    try:
        return json.loads(payload), "json"
    except (ValueError, RecursionError) as exc:
        raise MalformedFrame("The text frame is not valid JSON.") from exc


def encode(frame: Mapping[str, Any], codec: Codec) -> Payload:
    """Encode one frame in the codec the client speaks."""
    if codec == "msgpack":
        return msgpack.packb(frame, use_bin_type=True, default=_fallback)  # type: ignore[no-any-return]
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False, default=_fallback)


def envelope(value: Any) -> tuple[str, str | int | None]:
    """Check the envelope of a decoded frame and return its type and request id."""
    if not isinstance(value, dict):
        raise ProtocolError("bad_frame", "A frame must be a map with a 't' field.")
    t = value.get("t")
    if not isinstance(t, str) or not t:
        raise ProtocolError("bad_frame", "A frame needs a 't' field holding a non-empty string.")
    if len(t) > MAX_TYPE_CHARS:
        raise ProtocolError("bad_frame", f"'t' is limited to {MAX_TYPE_CHARS} characters.")
    return t, request_id(value)


def request_id(value: Any) -> str | int | None:
    """The frame's `rid` if it is well formed; raise `invalid_field` if present but wrong."""
    if not isinstance(value, dict) or "rid" not in value:
        return None
    rid = value["rid"]
    if isinstance(rid, str) and len(rid) <= MAX_RID_CHARS:
        return rid
    if isinstance(rid, int) and not isinstance(rid, bool) and abs(rid) <= MAX_RID_INT:
        return rid
    raise ProtocolError(
        "invalid_field",
        f"'rid' must be a string of at most {MAX_RID_CHARS} characters or an integer.",
    )


def safe_request_id(value: Any) -> str | int | None:
    """The `rid` to echo on an error reply, or None when it cannot be echoed safely."""
    try:
        return request_id(value)
    except ProtocolError:
        return None


def error_frame(code: str, msg: str, rid: str | int | None = None) -> dict[str, Any]:
    """The one shape of every error: {"t": "error", "rid"?, "code", "msg"}."""
    frame: dict[str, Any] = {"t": "error", "code": code, "msg": msg}
    if rid is not None:
        frame["rid"] = rid
    return frame
