"""Where image bytes live: a small storage port and its local-directory adapter.

An object-store adapter (S3 and the like) would implement the same three calls.
Keys are relative paths of safe segments, e.g. `acme/<product id>/<image id>/thumb.webp`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path

_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class ImageStore(ABC):
    @abstractmethod
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    @abstractmethod
    async def get(self, key: str) -> bytes | None:
        """The bytes stored at `key`, or None."""

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Remove `key` (no error if it is absent)."""


class LocalImageStore(ImageStore):
    """Files under one directory, written atomically (temp file + rename)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, key: str) -> Path:
        parts = key.split("/")
        if not all(_SEGMENT.match(part) and ".." not in part for part in parts):
            raise ValueError(f"not a valid image key: {key!r}")
        return self.directory.joinpath(*parts)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._write, self.path(key), data)

    async def get(self, key: str) -> bytes | None:
        return await asyncio.to_thread(self._read, self.path(key))

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._remove, self.path(key))

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    @staticmethod
    def _read(path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    @staticmethod
    def _remove(path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        with contextlib.suppress(OSError):  # tidy the image's directory once it is empty
            path.parent.rmdir()
