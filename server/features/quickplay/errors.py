"""The quick-play service's one error type: a stable code, a sentence and an HTTP status."""

from __future__ import annotations

from server.errors import MatchpotError


class QuickplayError(MatchpotError):
    """A bet or admin action was refused and nothing changed."""
