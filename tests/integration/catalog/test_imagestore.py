"""The local image store: atomic files under one directory, and only there."""

from __future__ import annotations

from pathlib import Path

import pytest

from shopfleet.catalog.imagestore import LocalImageStore


async def test_put_get_delete(tmp_path: Path) -> None:
    store = LocalImageStore(tmp_path / "images")
    await store.put("acme/p1/i1/full.png", b"png bytes", "image/png")
    assert await store.get("acme/p1/i1/full.png") == b"png bytes"
    await store.put("acme/p1/i1/full.png", b"new", "image/png")
    assert await store.get("acme/p1/i1/full.png") == b"new"
    await store.delete("acme/p1/i1/full.png")
    await store.delete("acme/p1/i1/full.png")  # absent: no error
    assert await store.get("acme/p1/i1/full.png") is None
    assert not [p for p in (tmp_path / "images").rglob("*") if p.is_file()]


@pytest.mark.parametrize(
    "key", ["../escape.png", "acme/../../etc/passwd", "/abs.png", "acme//x.png", "a/.hidden", ""]
)
async def test_keys_stay_inside_the_directory(tmp_path: Path, key: str) -> None:
    store = LocalImageStore(tmp_path)
    with pytest.raises(ValueError, match="not a valid image key"):
        await store.put(key, b"x", "image/png")
