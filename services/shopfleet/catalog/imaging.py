"""Image checks and thumbnails with Pillow. The content decides what an upload is, never
the header a client sent. CPU-bound: call these through `asyncio.to_thread`.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

# The formats we accept and serve, by Pillow's name.
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/gif": "gif"}
THUMB_CONTENT_TYPE = "image/webp"
_BOMBS = (Image.DecompressionBombWarning, Image.DecompressionBombError)


class NotAnImage(ValueError):
    """The bytes are not an image in one of `FORMATS` (or it is broken)."""


class TooManyPixels(ValueError):
    """The image decodes to more pixels than allowed (a decompression bomb, or just huge)."""


@dataclass(frozen=True, slots=True)
class CheckedImage:
    content_type: str
    width: int
    height: int
    thumbnail: bytes


def etag(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def check_and_thumbnail(data: bytes, *, thumb_px: int, max_pixels: int) -> CheckedImage:
    """Sniff and fully decode `data`; return its type, size and a WebP thumbnail.

    Any failure of Pillow on these bytes means they are not an image we can use: its
    decoders raise many kinds of exception for broken input, so all of them are caught.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=list(FORMATS))
        except _BOMBS as exc:
            raise TooManyPixels(str(exc)) from None
        except UnidentifiedImageError:
            raise NotAnImage("not a JPEG, PNG, WebP or GIF image") from None
        except Exception as exc:
            raise NotAnImage(f"a broken image ({exc})") from None
    with image:
        width, height = image.size
        if width * height > max_pixels:
            raise TooManyPixels(f"{width}×{height} pixels is more than {max_pixels}")
        try:
            image.load()  # the whole image decodes: a truncated or corrupt file fails here
            thumb = ImageOps.exif_transpose(image)
            thumb = thumb.convert("RGBA" if _has_alpha(thumb) else "RGB")
            thumb.thumbnail((thumb_px, thumb_px), Image.Resampling.LANCZOS)
            out = io.BytesIO()
            thumb.save(out, "WEBP", quality=82, method=4)
        except Exception as exc:
            raise NotAnImage(f"a broken {image.format} image ({exc})") from None
        return CheckedImage(FORMATS[image.format or ""], width, height, out.getvalue())


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )
