"""Where uploaded files live (wager evidence, challenge proofs), behind one small interface.

A `Storage` stores bytes under a key the server chooses and never a name the
client sent, so no upload can pick its own path. `LocalStorage` keeps files
under the data dir (the default); another backend (an S3-compatible bucket)
implements the same four calls. Keys are `<area>/<id>.<ext>`: lowercase
letters, digits, `-`, `_` and one `/` between area and name.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

KEY_RE = re.compile(r"^[a-z0-9_-]{1,32}/[a-z0-9_-]{1,80}\.[a-z0-9]{1,8}$")
MAX_OBJECT_BYTES = 50 * 1024 * 1024


class StorageError(Exception):
    """A store or fetch failed; nothing was half-written."""


class Storage(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store `data` under `key`, atomically (readers see all of it or nothing)."""
        ...

    async def get(self, key: str) -> bytes | None:
        """The bytes under `key`, or None."""
        ...

    async def delete(self, key: str) -> None:
        """Remove `key` if present."""
        ...

    async def exists(self, key: str) -> bool: ...


def check_key(key: str) -> str:
    if not KEY_RE.match(key):
        raise StorageError(f"not a storage key: {key!r}")
    return key


class LocalStorage:
    """Files under one folder (by default `<data dir>/uploads`); writes go through a rename."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        assert len(data) <= MAX_OBJECT_BYTES, "objects are bounded"
        path = self._path(key)
        await asyncio.to_thread(_write_atomically, path, data)

    async def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None

    async def delete(self, key: str) -> None:
        path = self._path(key)
        await asyncio.to_thread(path.unlink, missing_ok=True)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).exists)


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".up-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
