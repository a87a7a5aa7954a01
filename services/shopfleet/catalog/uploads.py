"""Reading one file field of a multipart upload, with a size limit enforced while reading,
and checking that it is an image we accept.

The body is parsed as it streams in: the moment the file passes `max_bytes` we answer 413
and stop reading, so a huge upload costs neither memory nor the time to receive it all.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from shopfleet.catalog.imaging import CheckedImage, NotAnImage, TooManyPixels, check_and_thumbnail
from shopfleet.catalog.settings import CatalogSettings
from shopfleet.kit.errors import Problem, field_problem

# Room for the multipart framing and a few small fields besides the file.
_OVERHEAD = 64 * 1024


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str = ""
    data: bytearray = field(default_factory=bytearray)


class _TooLarge(Exception):
    pass


def _too_large(max_bytes: int) -> Problem:
    return Problem(
        413,
        f"The image is larger than {max_bytes} bytes; upload a smaller one.",
        errors=[
            {"field": "body.file", "message": f"larger than {max_bytes} bytes", "type": "too_large"}
        ],
    )


async def read_file_field(request: Request, name: str, *, max_bytes: int) -> bytes:
    """The bytes of the multipart field `name`; 413 past `max_bytes`, 415 if not multipart."""
    media, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if media != b"multipart/form-data" or not boundary:
        raise Problem(
            415,
            f"Send the image as multipart/form-data with the field '{name}'.",
            slug="unsupported-media-type",
        )
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes + _OVERHEAD:
        raise _too_large(max_bytes)

    parts: list[_Part] = []
    header: list[bytes] = [b"", b""]
    wanted: list[_Part] = []

    def on_part_begin() -> None:
        parts.append(_Part())

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header[0] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header[1] += data[start:end]

    def on_header_end() -> None:
        parts[-1].headers[header[0].lower()] = header[1]
        header[0] = header[1] = b""

    def on_headers_finished() -> None:
        part = parts[-1]
        _, disposition = parse_options_header(part.headers.get(b"content-disposition", b""))
        part.name = disposition.get(b"name", b"").decode("latin-1")
        if part.name == name:
            wanted.append(part)

    def on_part_data(data: bytes, start: int, end: int) -> None:
        part = parts[-1]
        if part.name != name:
            return  # other fields are read past, not kept
        part.data += data[start:end]
        if len(part.data) > max_bytes:
            raise _TooLarge

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
        },
    )
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_bytes + _OVERHEAD:
                raise _TooLarge
            parser.write(chunk)
        parser.finalize()
    except _TooLarge:
        raise _too_large(max_bytes) from None
    except (MultipartParseError, ValueError, TypeError) as exc:
        raise field_problem(400, "body", f"not a well-formed multipart body ({exc})") from None
    if not wanted:
        raise field_problem(422, f"body.{name}", "field required: attach the image as this field")
    if len(wanted) > 1:
        raise field_problem(422, f"body.{name}", "send one file per upload")
    if not wanted[0].data:
        raise field_problem(422, f"body.{name}", "the file is empty")
    return bytes(wanted[0].data)


async def checked_image(data: bytes, settings: CatalogSettings) -> CheckedImage:
    """The uploaded file checked and thumbnailed (in a thread: Pillow's work is CPU); 415
    for what is not an image we accept, 413 for too many pixels."""
    try:
        return await asyncio.to_thread(
            check_and_thumbnail,
            data,
            thumb_px=settings.thumbnail_px,
            max_pixels=settings.max_image_pixels,
        )
    except NotAnImage as exc:
        raise Problem(
            415,
            f"The file is not an image we accept: {exc}. Upload a JPEG, PNG, WebP or GIF.",
            errors=[{"field": "body.file", "message": str(exc), "type": "not_an_image"}],
        ) from None
    except TooManyPixels as exc:
        raise Problem(
            413,
            f"The image has too many pixels ({exc}); upload a smaller one.",
            errors=[{"field": "body.file", "message": str(exc), "type": "too_large"}],
        ) from None
