"""Uploaded pictures: type judged from content, metadata dropped, stored atomically by key."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from server.images import ImageRejected, check_image
from server.storage import LocalStorage, StorageError


def picture(
    fmt: str = "PNG", size: tuple[int, int] = (8, 6), exif_time: str | None = None
) -> bytes:
    img = Image.new("RGB", size, (200, 30, 30))
    out = io.BytesIO()
    if exif_time is not None:
        exif = Image.Exif()
        exif[306] = exif_time
        img.save(out, fmt, exif=exif)
    else:
        img.save(out, fmt)
    return out.getvalue()


@pytest.mark.parametrize("fmt,name,ctype", [("PNG", "a.png", "image/png"),
                                            ("JPEG", "b.JPG", "image/jpeg"),
                                            ("WEBP", "c.webp", "image/webp")])
def test_a_real_picture_is_kept_as_its_own_type(fmt: str, name: str, ctype: str) -> None:
    checked = check_image(picture(fmt), filename=name, declared_type=ctype)
    assert checked.content_type == ctype and (checked.width, checked.height) == (8, 6)
    with Image.open(io.BytesIO(checked.data)) as again:
        assert again.format == fmt


def test_metadata_is_read_then_dropped() -> None:
    raw = picture("JPEG", exif_time="2026:11:30 07:15:00")
    checked = check_image(raw, filename="gym.jpg")
    assert checked.taken_at is not None
    assert checked.taken_at.isoformat().startswith("2026-11-30T07:15")
    with Image.open(io.BytesIO(checked.data)) as kept:
        assert not kept.getexif(), "the kept copy has no EXIF"


@pytest.mark.parametrize("raw,name,ctype,code", [
    (b"", "a.png", None, "file_empty"),
    (b"GIF89a" + b"\0" * 20, "a.png", None, "file_not_image"),
    (b"%PDF-1.4 not a picture", "a.pdf", None, "file_not_image"),
    (picture("PNG"), "a.jpg", None, "file_mismatch"),
    (picture("JPEG"), "a.png", None, "file_mismatch"),
    (picture("PNG"), "a.png", "image/jpeg", "file_mismatch"),
    (picture("PNG"), "a.exe", None, "file_type"),
])
def test_bad_uploads_get_a_clear_code(raw: bytes, name: str, ctype: str | None, code: str) -> None:
    with pytest.raises(ImageRejected) as err:
        check_image(raw, filename=name, declared_type=ctype)
    assert err.value.code == code and err.value.msg


def test_too_large_is_refused_before_decoding() -> None:
    with pytest.raises(ImageRejected) as err:
        check_image(picture("PNG"), max_bytes=10)
    assert err.value.code == "file_too_large"


async def test_local_storage_round_trip_and_refuses_foreign_keys(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    await store.put("evidence/abc-1.png", b"bytes", "image/png")
    assert await store.get("evidence/abc-1.png") == b"bytes"
    assert await store.exists("evidence/abc-1.png")
    await store.delete("evidence/abc-1.png")
    assert await store.get("evidence/abc-1.png") is None
    for bad in ("../etc/passwd", "evidence/../../x.png", "/abs/x.png", "Evidence/A.PNG", "a.png"):
        with pytest.raises(StorageError):
            await store.put(bad, b"x", "image/png")
    left = [p.name for p in tmp_path.rglob("*")]  # noqa: ASYNC240  (a test's own temp dir)
    assert not any(n.startswith(".up-") for n in left), "no temp file is left behind"
