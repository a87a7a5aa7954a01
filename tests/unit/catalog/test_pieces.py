"""Small pure pieces: low-stock rule, ETag matching, images, the demo catalog."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
from PIL import Image

from shopfleet.catalog import demo
from shopfleet.catalog.api import etag_matches
from shopfleet.catalog.domain import available, fell_low
from shopfleet.catalog.imaging import NotAnImage, TooManyPixels, check_and_thumbnail


@pytest.mark.parametrize(
    ("before", "after", "threshold", "low"),
    [
        (10, 5, 5, True),  # falls to the threshold
        (10, 4, 5, True),  # falls below it
        (6, 6, 5, False),  # unchanged
        (5, 4, 5, False),  # already low
        (1, 0, 0, True),  # runs out
        (3, 0, 5, True),  # runs out while low
        (0, 5, 5, False),  # restocked
    ],
)
def test_stock_low_when_availability_falls_to_the_threshold(
    before: int, after: int, threshold: int, low: bool
) -> None:
    assert fell_low(before, after, threshold) is low


def test_available_is_zero_unless_buyable() -> None:
    row = SimpleNamespace(active=True, deleted_at=None, on_hand=5, reserved=2)
    assert available(row) == 3
    assert available(SimpleNamespace(**{**row.__dict__, "active": False})) == 0
    assert available(SimpleNamespace(**{**row.__dict__, "deleted_at": "yesterday"})) == 0


def test_etag_matching() -> None:
    tag = '"abc"'
    assert etag_matches('"abc"', tag) and etag_matches('W/"abc"', tag)
    assert etag_matches('"x", "abc"', tag) and etag_matches("*", tag)
    assert not etag_matches(None, tag) and not etag_matches('"abd"', tag)


def _encode(image: Image.Image, fmt: str, **kw: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **kw)
    return out.getvalue()


@pytest.mark.parametrize(
    ("fmt", "mode", "content_type"),
    [
        ("PNG", "RGBA", "image/png"),
        ("JPEG", "RGB", "image/jpeg"),
        ("WEBP", "RGB", "image/webp"),
        ("GIF", "P", "image/gif"),
    ],
)
def test_images_are_sniffed_and_thumbnailed(fmt: str, mode: str, content_type: str) -> None:
    data = _encode(Image.new(mode, (1000, 500)), fmt)
    checked = check_and_thumbnail(data, thumb_px=320, max_pixels=10**7)
    assert (checked.content_type, checked.width, checked.height) == (content_type, 1000, 500)
    with Image.open(io.BytesIO(checked.thumbnail)) as thumb:
        assert thumb.format == "WEBP" and thumb.size == (320, 160)


def test_the_thumbnail_follows_exif_orientation() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    data = _encode(Image.new("RGB", (400, 200)), "JPEG", exif=exif)
    checked = check_and_thumbnail(data, thumb_px=100, max_pixels=10**7)
    with Image.open(io.BytesIO(checked.thumbnail)) as thumb:
        assert thumb.size == (50, 100)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello",
        b"%PDF-1.4",
        b"\x89PNG\r\n\x1a\n" + b"\0" * 40,
        _encode(Image.new("RGB", (9, 9)), "BMP"),
    ],
)
def test_what_is_not_an_image(data: bytes) -> None:
    with pytest.raises(NotAnImage):
        check_and_thumbnail(data, thumb_px=320, max_pixels=10**7)


def test_too_many_pixels() -> None:
    data = _encode(Image.new("1", (5000, 5000)), "PNG")
    with pytest.raises(TooManyPixels):
        check_and_thumbnail(data, thumb_px=320, max_pixels=10**6)


def test_the_demo_catalog_is_consistent() -> None:
    slugs = {c.slug for c in demo.CATEGORIES}
    assert len(slugs) == len(demo.CATEGORIES) >= 5
    assert all(c.parent in slugs for c in demo.CATEGORIES if c.parent)
    assert len(demo.PRODUCTS) >= 30
    assert (
        len({p.sku for p in demo.PRODUCTS})
        == len({p.name for p in demo.PRODUCTS})
        == len(demo.PRODUCTS)
    )
    assert all(p.category in slugs and p.price > 0 and p.stock >= 0 for p in demo.PRODUCTS)
    assert all(p.compare_at is None or p.compare_at > p.price for p in demo.PRODUCTS)
    body = demo.product_request(demo.PRODUCTS[0], {"mugs-cups": "c-1"})
    assert body["category_ids"] == ["c-1"] and body["price"]["currency"] == "EUR"


def test_demo_images_are_deterministic_images() -> None:
    first, other = demo.PRODUCTS[0], demo.PRODUCTS[1]
    data = demo.product_image(first, size=200)
    assert data == demo.product_image(first, size=200) != demo.product_image(other, size=200)
    checked = check_and_thumbnail(data, thumb_px=64, max_pixels=10**7)
    assert (checked.content_type, checked.width) == ("image/jpeg", 200)
    assert demo.initials("Linen Tea Towels (2)") == "LT" and demo.initials("") == "?"
