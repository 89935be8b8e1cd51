"""Checking an uploaded picture and making the copy we keep (evidence, proofs).

The type is judged from the content, never from the file name or the declared
type; a file whose content is not what its name or declared type says is
refused. The kept copy is re-encoded from the decoded pixels, which drops
every piece of metadata (EXIF, GPS, comments) and anything hidden after the
image data. The EXIF time is read first (before it is dropped) for callers
that judge a proof by when the photo was taken.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime

from PIL import Image, UnidentifiedImageError

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a decompression bomb is refused before it is decoded
FORMATS = {"PNG": ("image/png", "png"), "JPEG": ("image/jpeg", "jpg"),
           "WEBP": ("image/webp", "webp")}
NAME_EXTENSIONS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "webp": "WEBP"}
EXIF_DATETIME_ORIGINAL = 36867
EXIF_DATETIME = 306
EXIF_IFD = 0x8769


class ImageRejected(ValueError):
    """The upload is not an image we keep; `code` is stable for the edge."""

    def __init__(self, code: str, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


@dataclass(frozen=True, slots=True)
class CheckedImage:
    data: bytes  # the re-encoded copy, metadata removed
    content_type: str
    extension: str
    width: int
    height: int
    taken_at: datetime | None  # EXIF time of the original, if it had one (taken as UTC)


def check_image(
    raw: bytes, *, filename: str | None = None, declared_type: str | None = None,
    max_bytes: int = MAX_UPLOAD_BYTES,
) -> CheckedImage:
    """Refuse what is too large, not an image, of another type than claimed; re-encode the rest."""
    if not raw:
        raise ImageRejected("file_empty", "The file is empty.")
    if len(raw) > max_bytes:
        raise ImageRejected("file_too_large",
                            f"A picture may be at most {max_bytes // (1024 * 1024)} MB.")
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with Image.open(io.BytesIO(raw)) as probe:
            kind = probe.format or ""
            probe.verify()
        with Image.open(io.BytesIO(raw)) as img:
            img.load()
            taken_at = _exif_time(img)
            if kind not in FORMATS:
                raise ImageRejected("file_type", "Send a PNG, JPEG or WebP picture.")
            _check_claims(kind, filename, declared_type)
            out = io.BytesIO()
            clean = img.convert("RGBA" if img.mode in ("RGBA", "LA", "P") else "RGB")
            if kind == "JPEG":
                clean.convert("RGB").save(out, "JPEG", quality=88)
            else:
                clean.save(out, kind)
            width, height = img.size
    except ImageRejected:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
            Image.DecompressionBombError) as exc:
        raise ImageRejected("file_not_image", "That file is not a picture we can read.") from exc
    content_type, extension = FORMATS[kind]
    return CheckedImage(out.getvalue(), content_type, extension, width, height, taken_at)


def _check_claims(kind: str, filename: str | None, declared_type: str | None) -> None:
    if filename and "." in filename:
        named = NAME_EXTENSIONS.get(filename.rsplit(".", 1)[1].lower())
        if named is None:
            raise ImageRejected("file_type", "Send a PNG, JPEG or WebP picture.")
        if named != kind:
            raise ImageRejected("file_mismatch",
                                "The file's content is not what its name says.")
    if declared_type and declared_type.split(";")[0].strip().lower() != FORMATS[kind][0]:
        raise ImageRejected("file_mismatch", "The file's content is not the declared type.")


def _exif_time(img: Image.Image) -> datetime | None:
    try:
        exif = img.getexif()
    except Exception:
        return None
    raw = exif.get_ifd(EXIF_IFD).get(EXIF_DATETIME_ORIGINAL) or exif.get(EXIF_DATETIME)
    if not isinstance(raw, str):
        return None
    try:
        return datetime.strptime(raw.strip(), "%Y:%m:%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None
