"""Fetching a media message's file from the Graph API (proof photos and videos).

Two requests, both with the bearer token: `GET {api_base}/{version}/{media_id}` answers
the file's temporary `url`, `mime_type` and `file_size`; `GET <url>` answers the bytes.
The declared size is checked before downloading and the download is cut off at
`max_bytes`, so a large file is refused without being buffered. A refusal that will not
change (unknown media, too large, a type we do not keep) is `MediaRefused`; anything
transient (network, 5xx, 429) is `MediaUnavailable`, and the inbound worker tries the
message again later.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from server.config import Settings
from server.errors import MatchpotError

MAX_META_BYTES = 16 * 1024
CHUNK_BYTES = 64 * 1024


class MediaRefused(MatchpotError):
    """The file cannot be used; the player is told why."""


class MediaUnavailable(Exception):
    """The Graph API could not hand the file over right now; try again later."""


@dataclass(frozen=True, slots=True)
class Media:
    data: bytes
    mime_type: str


async def fetch_media(
    settings: Settings, client: httpx.AsyncClient, media_id: str, *, max_bytes: int,
    allowed_types: tuple[str, ...],
) -> Media:
    """The bytes of `media_id`, within `max_bytes` and of one of `allowed_types`."""
    if not media_id or len(media_id) > 128 or not media_id.replace("_", "").isalnum():
        raise MediaRefused("media_invalid", "That file could not be read.")
    headers = {"Authorization": f"Bearer {settings.whatsapp_access_token}"}
    base = f"{settings.whatsapp_api_base.rstrip('/')}/{settings.whatsapp_api_version}"
    try:
        meta = await client.get(f"{base}/{media_id}", headers=headers)
    except httpx.HTTPError as exc:
        raise MediaUnavailable(f"media lookup: {type(exc).__name__}") from exc
    if meta.status_code == 429 or meta.status_code >= 500:
        raise MediaUnavailable(f"media lookup: http {meta.status_code}")
    if meta.status_code != 200 or len(meta.content) > MAX_META_BYTES:
        raise MediaRefused("media_invalid", "That file could not be fetched; please send it"
                           " again.")
    try:
        info = meta.json()
        url = str(info["url"])
        mime = str(info.get("mime_type", "")).split(";")[0].strip().lower()
        size = int(info.get("file_size", 0) or 0)
    except (ValueError, KeyError, TypeError) as exc:
        raise MediaRefused("media_invalid", "That file could not be read.") from exc
    if mime not in allowed_types:
        raise MediaRefused("file_type", "Send a photo (JPEG, PNG, WebP) or a short MP4 video.")
    if size > max_bytes:
        raise MediaRefused("file_too_large", f"That file is too large (at most"
                           f" {max_bytes // (1024 * 1024)} MB).")
    if not url.startswith(("https://", "http://")):
        raise MediaRefused("media_invalid", "That file could not be read.")
    chunks: list[bytes] = []
    got = 0
    try:
        async with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 429 or response.status_code >= 500:
                raise MediaUnavailable(f"media download: http {response.status_code}")
            if response.status_code != 200:
                raise MediaRefused("media_invalid", "That file could not be fetched; please"
                                   " send it again.")
            async for chunk in response.aiter_bytes(CHUNK_BYTES):
                got += len(chunk)
                if got > max_bytes:
                    raise MediaRefused("file_too_large", f"That file is too large (at most"
                                       f" {max_bytes // (1024 * 1024)} MB).")
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise MediaUnavailable(f"media download: {type(exc).__name__}") from exc
    return Media(b"".join(chunks), mime)
