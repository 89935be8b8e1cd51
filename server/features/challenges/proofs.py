"""Checking a proof file before anyone looks at it: type, size, decoding, EXIF time, hash.

Pure apart from CPU work (run it in a thread): a picture goes through
server/images.py `check_image` (decoded, re-encoded without metadata, EXIF time
read first); a video is only sized and recognised by its container header (an
ISO-BMFF `ftyp` box: MP4 / 3GP), since the server does not decode video.
The perceptual hash (`imagehash.phash`, 64 bits) is taken from the decoded
picture, so a re-encoded, resized or lightly edited copy of an earlier proof
still lands within a few bits of it.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import imagehash
from PIL import Image

from server.images import ImageRejected, check_image

IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")
VIDEO_TYPES = {"video/mp4": "mp4", "video/3gpp": "3gp"}
PHASH_BITS = 64


class ProofRejected(ValueError):
    """The file is not a proof we keep; `code` is stable, `msg` is for the player."""

    def __init__(self, code: str, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


@dataclass(frozen=True, slots=True)
class CheckedProof:
    media: str  # image | video
    data: bytes  # what is stored: the re-encoded picture, or the video as sent
    content_type: str
    extension: str
    sha256: str
    phash: int | None  # signed 64-bit (Postgres bigint); None for a video
    taken_at: datetime | None  # EXIF time read in the player's zone


def signed64(value: int) -> int:
    """An unsigned 64-bit hash as Postgres' signed bigint (same bits)."""
    assert 0 <= value < 1 << PHASH_BITS
    return value - (1 << PHASH_BITS) if value >= 1 << (PHASH_BITS - 1) else value


def phash_of(picture: bytes) -> int:
    """The picture's 64-bit perceptual hash as a signed bigint."""
    with Image.open(io.BytesIO(picture)) as img:
        return signed64(int(str(imagehash.phash(img)), 16))


def hamming(a: int, b: int) -> int:
    return bin((a ^ b) & ((1 << PHASH_BITS) - 1)).count("1")


def check_proof(
    raw: bytes, declared_type: str | None, *, tz: ZoneInfo, max_image_bytes: int,
    max_video_bytes: int,
) -> CheckedProof:
    """Refuse what is empty, too large, not a picture/video, or not what it claims."""
    declared = (declared_type or "").split(";")[0].strip().lower()
    if not raw:
        raise ProofRejected("file_empty", "The file is empty.")
    if declared.startswith("video/"):
        return _check_video(raw, declared, max_video_bytes)
    try:
        picture = check_image(raw, declared_type=declared or None, max_bytes=max_image_bytes)
    except ImageRejected as exc:
        raise ProofRejected(exc.code, exc.msg) from exc
    # EXIF times carry no zone: a camera writes its local time, which is the player's.
    taken_at = picture.taken_at.replace(tzinfo=tz) if picture.taken_at else None
    return CheckedProof(
        "image", picture.data, picture.content_type, picture.extension,
        hashlib.sha256(raw).hexdigest(), phash_of(picture.data), taken_at,
    )


def _check_video(raw: bytes, declared: str, max_bytes: int) -> CheckedProof:
    if declared not in VIDEO_TYPES:
        raise ProofRejected("file_type", "Send a photo, or a short MP4 video.")
    if len(raw) > max_bytes:
        raise ProofRejected(
            "file_too_large", f"A video may be at most {max_bytes // (1024 * 1024)} MB.")
    if len(raw) < 12 or raw[4:8] != b"ftyp":
        raise ProofRejected("file_not_video", "That file is not a video we can read.")
    return CheckedProof(
        "video", raw, declared, VIDEO_TYPES[declared], hashlib.sha256(raw).hexdigest(),
        None, None,
    )
