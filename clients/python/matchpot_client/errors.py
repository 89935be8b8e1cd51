"""Errors the client raises: one class, with the server's stable code."""

from __future__ import annotations


class MatchpotError(Exception):
    """An error frame, an HTTP error, or a local failure (`timeout`, `disconnected`).

    `code` is the stable snake_case code from docs/protocol.md or the HTTP API;
    codes the client makes up itself are `timeout`, `disconnected`, `closed`
    and `too_many_requests`.
    """

    def __init__(self, code: str, msg: str, *, status: int | None = None) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.status = status
