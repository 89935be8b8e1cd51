"""Gaming profiles: a gamer tag per platform, a region, a date of birth; who may wager.

One account per phone number is the users table's own rule. A player must be
of age (`min_age_years`, 18 by default, judged on the server clock's date),
have a tag on the match's platform and a reliability at or above the floor
before posting, accepting or queueing for a wager.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from server.errors import ApiError
from server.features.wagers.settings import WagersSettings
from server.features.wagers.standings import utc_of

TAG_RE = re.compile(r"^[A-Za-z0-9 _.#\-]{2,40}$")


@dataclass(frozen=True, slots=True)
class Eligible:
    user_id: str
    tag: str
    reliability: int


def age_on(birth: date, today: date) -> int:
    years = today.year - birth.year
    if (today.month, today.day) < (birth.month, birth.day):
        years -= 1
    return years


def check_age(settings: WagersSettings, birth: date, now_ms: int) -> None:
    today = utc_of(now_ms).date()
    if birth > today:
        raise ApiError(400, "invalid_request", "The date of birth is in the future.")
    if age_on(birth, today) < settings.min_age_years:
        raise ApiError(403, "too_young",
                       f"Wagers are open to players aged {settings.min_age_years} and over.")


async def save_profile(conn: Any, settings: WagersSettings, user_id: str, region: str,
                       birth: date, tags: dict[str, str], now_ms: int) -> None:
    """Create or update the profile; the date of birth cannot change once set."""
    if region not in settings.regions:
        raise ApiError(400, "invalid_request", f"region must be one of {settings.regions}.")
    for platform, tag in tags.items():
        if platform not in settings.platforms:
            raise ApiError(400, "invalid_request",
                           f"platform must be one of {settings.platforms}.")
        if not TAG_RE.match(tag):
            raise ApiError(400, "invalid_request",
                           "A gamer tag is 2 to 40 letters, digits, spaces or _ . # -.")
    existing = await conn.fetchrow(
        "SELECT birth_date FROM wager_profiles WHERE user_id = $1 FOR UPDATE", user_id)
    if existing is not None and existing["birth_date"] != birth:
        raise ApiError(409, "birth_date_locked",
                       "Your date of birth is already recorded; contact support to change it.")
    check_age(settings, birth, now_ms)
    await conn.execute(
        "INSERT INTO wager_profiles (user_id, region, birth_date) VALUES ($1, $2, $3)"
        " ON CONFLICT (user_id) DO UPDATE SET region = $2, updated_at = now()",
        user_id, region, birth)
    for platform, tag in sorted(tags.items()):
        taken = await conn.fetchval(
            "SELECT user_id FROM wager_gamer_tags WHERE platform = $1 AND lower(tag) = lower($2)"
            " AND user_id <> $3", platform, tag, user_id)
        if taken is not None:
            raise ApiError(409, "gamer_tag_taken",
                           "That gamer tag is already linked to another player.")
        await conn.execute(
            "INSERT INTO wager_gamer_tags (user_id, platform, tag) VALUES ($1, $2, $3)"
            " ON CONFLICT (user_id, platform) DO UPDATE SET tag = $3", user_id, platform, tag)


async def read_profile(conn: Any, user_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT p.region, p.birth_date, p.reliability, u.display_name FROM wager_profiles p"
        " JOIN users u ON u.id = p.user_id WHERE p.user_id = $1", user_id)
    if row is None:
        return None
    tags = await conn.fetch(
        "SELECT platform, tag FROM wager_gamer_tags WHERE user_id = $1 ORDER BY platform",
        user_id)
    return {"user_id": str(user_id), "display_name": row["display_name"],
            "region": row["region"], "birth_date": row["birth_date"].isoformat(),
            "reliability": row["reliability"], "tags": {t["platform"]: t["tag"] for t in tags}}


async def eligible(conn: Any, settings: WagersSettings, user_id: str, platform: str,
                   now_ms: int, *, who: str = "you") -> Eligible:
    """The player may wager on `platform` now, or the error saying why not."""
    row = await conn.fetchrow(
        "SELECT p.birth_date, p.reliability, t.tag FROM wager_profiles p"
        " LEFT JOIN wager_gamer_tags t ON t.user_id = p.user_id AND t.platform = $2"
        " WHERE p.user_id = $1", user_id, platform)
    mine = who == "you"
    if row is None:
        raise ApiError(409, "profile_required",
                       "Set up your gaming profile (gamer tag, region, date of birth) first."
                       if mine else "That player has no gaming profile yet.")
    check_age(settings, row["birth_date"], now_ms)
    if row["tag"] is None:
        raise ApiError(409, "gamer_tag_required",
                       f"Add your gamer tag for {platform} first." if mine else
                       f"That player has no gamer tag for {platform}.")
    if row["reliability"] < settings.reliability_floor:
        raise ApiError(403, "reliability_too_low",
                       "Your reliability score is below the minimum for wagers (no-shows and"
                       " false claims lower it); contact support." if mine else
                       "That player cannot wager at the moment.")
    return Eligible(user_id, row["tag"], row["reliability"])
