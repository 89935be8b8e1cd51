"""The wire codec: msgpack maps in binary frames, or JSON maps in text frames."""

from __future__ import annotations

import json
from typing import Any, Literal

import msgpack

Codec = Literal["msgpack", "json"]


def encode(frame: dict[str, Any], codec: Codec) -> bytes | str:
    if codec == "msgpack":
        return msgpack.packb(frame, use_bin_type=True)  # type: ignore[no-any-return]
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def decode(data: bytes | str) -> dict[str, Any]:
    """Decode a server frame; the server always sends maps."""
    value = msgpack.unpackb(data, raw=False) if isinstance(data, bytes) else json.loads(data)
    if not isinstance(value, dict) or not isinstance(value.get("t"), str):
        raise ValueError("the server sent a frame that is not a map with 't'")
    return value
