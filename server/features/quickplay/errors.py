"""The quick-play service's one error type: a stable code, a sentence and an HTTP status."""

from __future__ import annotations


class QuickplayError(Exception):
    """A bet or admin action was refused and nothing changed."""

    def __init__(self, code: str, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status
