"""The refusals of tournaments, in the product's words (server.errors.describe maps them)."""

from __future__ import annotations

from server.errors import MatchpotError

STATUS = {
    "tournament_not_found": 404, "not_entered": 404, "wrong_node": 409, "forbidden": 403,
}


class TournamentError(MatchpotError):
    """Nothing changed; `code` is stable."""

    def __init__(self, code: str, msg: str, status: int | None = None) -> None:
        super().__init__(code, msg, status or STATUS.get(code, 409))
