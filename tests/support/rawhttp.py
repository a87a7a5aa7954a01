"""HTTP/1.1 over a raw socket, for what an HTTP client will not send: huge or endless
request heads, thousands of header fields, and paths exactly as an attacker writes them
(httpx, like every good client, removes dot segments and re-encodes before sending)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson


@dataclass(frozen=True)
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return orjson.loads(self.body)


def parse_answer(data: bytes) -> RawAnswer:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
    headers = {k.strip().lower(): v.strip() for k, v in fields.items()}
    if headers.get("transfer-encoding") == "chunked":
        body = _unchunk(body)
    return RawAnswer(int(lines[0].split()[1]), headers, body)


def _unchunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return bytes(out)


async def _write(writer: asyncio.StreamWriter, data: bytes) -> None:
    with contextlib.suppress(ConnectionError):
        writer.write(data)
        await writer.drain()


async def exchange(url: str, head: bytes, *, guard_s: float = 60) -> RawAnswer:
    """Send `head` (whatever it is) and read until the server closes; fail if it has not
    closed after `guard_s` (a hang guard, not a measurement)."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    sending = asyncio.create_task(_write(writer, head))
    try:
        data = await asyncio.wait_for(reader.read(), guard_s)
    except TimeoutError:
        raise AssertionError(f"the server still holds the connection after {guard_s} s") from None
    finally:
        sending.cancel()
        writer.close()
    assert data, "the server closed the connection without an answer"
    return parse_answer(data)


def request_head(path: str, *fields: tuple[str, str], end: bool = True) -> bytes:
    """A GET's head with `fields`, asking to close after the answer; unfinished if not `end`."""
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in fields]
    return ("\r\n".join(lines) + ("\r\n\r\n" if end else "\r\n")).encode("latin-1")


async def raw_request(
    base_url: str,
    method: str,
    target: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    timeout_s: float = 30.0,
) -> RawAnswer:
    """Send `method target HTTP/1.1` with `target` byte for byte as given; read the answer."""
    url = urlsplit(base_url)
    lines = [f"{method} {target} HTTP/1.1", f"host: {url.hostname}:{url.port}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    lines += [f"content-length: {len(body)}", "connection: close", "", ""]
    return await exchange(base_url, "\r\n".join(lines).encode("latin-1") + body, guard_s=timeout_s)
