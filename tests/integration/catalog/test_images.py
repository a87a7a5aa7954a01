"""Image upload (sniffed, size-limited), thumbnails, serving with caching, deletion."""

from __future__ import annotations

import io
import random
from typing import Any

from PIL import Image


def files(data: bytes, name: str = "photo.png", content_type: str = "image/png") -> dict[str, Any]:
    return {"file": (name, data, content_type)}


async def test_upload_serve_and_delete_images(catalog: Any) -> None:
    product = await catalog.create(on_hand=1)
    images = catalog.api("acme", f"/products/{product['id']}/images")
    original = catalog.png(1600, 900, "orange")
    # The declared type is ignored: the content says PNG.
    first = await catalog.http.post(
        images, headers=catalog.admin, files=files(original, "x.txt", "text/plain")
    )
    assert first.status_code == 201, first.text
    image = first.json()
    assert (image["content_type"], image["width"], image["height"]) == ("image/png", 1600, 900)
    assert image["size_bytes"] == len(original) and first.headers["location"] == image["url"]
    jpeg = catalog.png(300, 200, "navy", fmt="JPEG")
    second = (await catalog.http.post(images, headers=catalog.admin, files=files(jpeg))).json()
    assert second["content_type"] == "image/jpeg"

    full = await catalog.http.get(image["url"])
    assert full.status_code == 200 and full.content == original
    assert full.headers["content-type"] == "image/png"
    assert full.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert full.headers["x-content-type-options"] == "nosniff"
    etag = full.headers["etag"]
    thumb = await catalog.http.get(image["thumbnail_url"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp"
    with Image.open(io.BytesIO(thumb.content)) as small:
        assert small.format == "WEBP" and small.size == (320, 180)
    assert thumb.headers["etag"] != etag

    again = await catalog.http.get(image["url"], headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    listed = await catalog.http.get(image["url"], headers={"If-None-Match": f'"x", W/{etag}'})
    assert listed.status_code == 304
    stale = await catalog.http.get(image["url"], headers={"If-None-Match": '"other"'})
    assert stale.status_code == 200

    read = (await catalog.get(product["id"])).json()
    assert [i["id"] for i in read["images"]] == [image["id"], second["id"]]
    assert read["thumbnail_url"] == image["thumbnail_url"]
    listing = (await catalog.list()).json()["items"][0]
    assert listing["thumbnail_url"] == image["thumbnail_url"]
    lookup = await catalog.internal(
        "POST", "/internal/shops/acme/products/lookup", json={"ids": [product["id"]]}
    )
    assert lookup.json()["items"][0]["image_url"] == image["thumbnail_url"]

    # Deleting the first image makes the next one the product's thumbnail.
    gone = await catalog.http.delete(f"{images}/{image['id']}", headers=catalog.admin)
    assert gone.status_code == 204
    catalog.assert_problem(await catalog.http.get(image["url"]), 404)
    after = (await catalog.get(product["id"])).json()
    assert after["thumbnail_url"] == second["thumbnail_url"] and len(after["images"]) == 1
    catalog.assert_problem(
        await catalog.http.delete(f"{images}/{image['id']}", headers=catalog.admin), 404
    )
    catalog.assert_problem(await catalog.http.get(image["url"].replace("acme", "bolt")), 404)
    catalog.assert_problem(
        await catalog.http.get(second["url"].replace("full", "huge")), 422, "query.size"
    )
    events = await catalog.pubsub.wait_for("product.updated", 4, product_id=product["id"])
    assert [e.data["version"] for e in events] == [1, 2, 3, 4]


async def test_uploads_that_are_not_images_or_too_large(start_catalog: Any) -> None:
    catalog = await start_catalog(max_image_bytes=64 * 1024)
    product = await catalog.create()
    images = catalog.api("acme", f"/products/{product['id']}/images")

    async def upload(**kw: Any) -> Any:
        return await catalog.http.post(images, headers=catalog.admin, **kw)

    text = await upload(files=files(b"<html><script>alert(1)</script></html>", "a.png"))
    catalog.assert_problem(text, 415, "body.file")
    truncated = catalog.png(400, 400, fmt="JPEG")[:600]
    catalog.assert_problem(await upload(files=files(truncated, "cut.jpg", "image/jpeg")), 415)
    bmp = io.BytesIO()
    Image.new("RGB", (10, 10)).save(bmp, "BMP")
    catalog.assert_problem(await upload(files=files(bmp.getvalue(), "a.bmp", "image/bmp")), 415)

    noise = Image.frombytes("RGB", (200, 200), random.Random(1).randbytes(200 * 200 * 3))
    big = io.BytesIO()
    noise.save(big, "PNG", compress_level=0)
    assert len(big.getvalue()) > 64 * 1024
    body = catalog.assert_problem(await upload(files=files(big.getvalue())), 413, "body.file")
    assert "65536 bytes" in body["detail"]
    # A huge declared length is refused before any of the body is read.
    huge = await catalog.http.post(
        images,
        headers=catalog.admin | {"content-type": "multipart/form-data; boundary=x"},
        content=b"--x\r\n" + b"a" * (200 * 1024),
    )
    catalog.assert_problem(huge, 413)
    bomb = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(bomb, "PNG")  # tiny file, 400 megapixels
    catalog.assert_problem(await upload(files=files(bomb.getvalue())), 413, "body.file")

    catalog.assert_problem(await upload(json={"file": "x"}), 415)
    catalog.assert_problem(
        await upload(files={"photo": ("a.png", catalog.png(), "image/png")}), 422, "body.file"
    )
    catalog.assert_problem(await upload(files=files(b"")), 422, "body.file")
    user = await catalog.http.post(images, headers=catalog.user, files=files(catalog.png()))
    catalog.assert_problem(user, 403)
    missing = catalog.api("acme", "/products/00000000-0000-0000-0000-000000000000/images")
    catalog.assert_problem(
        await catalog.http.post(missing, headers=catalog.admin, files=files(catalog.png())), 404
    )
    assert (await catalog.get(product["id"])).json()["images"] == []


async def test_images_per_product_are_limited(start_catalog: Any) -> None:
    catalog = await start_catalog(max_images_per_product=2)
    product = await catalog.create()
    images = catalog.api("acme", f"/products/{product['id']}/images")
    for _ in range(2):
        ok = await catalog.http.post(
            images, headers=catalog.admin, files=files(catalog.png(40, 40))
        )
        assert ok.status_code == 201
    third = await catalog.http.post(images, headers=catalog.admin, files=files(catalog.png(40, 40)))
    catalog.assert_problem(third, 409)
    # The refused upload left no file behind.
    stored = [p for p in (catalog.app.state.catalog.images.directory).rglob("*") if p.is_file()]
    assert len(stored) == 4
