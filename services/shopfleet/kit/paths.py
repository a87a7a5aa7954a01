"""Canonical request paths: the one check every path passes before it is routed.

A path is routed on its segments. Anything that lets two parties (the gateway, an HTTP
client library, a sidecar, the target app) disagree about which segments a path has is
refused: dot segments in any spelling (`..`, `%2e%2e`, double encoding `%252e`, overlong
UTF-8 `%c0%ae`), slashes or backslashes inside a segment (`%2f`, `%5c`, `\\`), empty
segments (`//`), `;` parameters (`..;/`), NUL and other control characters, and `?`/`#`
smuggled inside a segment (`%3f`, `%23`) that a later hop would read as a query or
fragment. What is left has one meaning everywhere, so the path that leaves the gateway is
the path that was routed (DESIGN §5).
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

# A path without any of these bytes is canonical as it stands (the common case: one scan).
_SUSPECT = re.compile(rb"[%.\\;\x00-\x20\x7f-\xff]|//")
_NOT_ASCII = re.compile(rb"[\x00-\x20\x7f-\xff]")
# Inside a decoded segment: separators, controls, and a '%' left over from double encoding.
_FORBIDDEN_IN_SEGMENT = re.compile(rb"[/\\?#%;\x00-\x1f\x7f]")


def path_problem(raw_path: bytes) -> str | None:
    """Why `raw_path` (as sent, percent-encoded, no query) is not canonical; None if it is."""
    if not raw_path.startswith(b"/"):
        return "the path must start with '/'"
    if _SUSPECT.search(raw_path) is None:
        return None
    segments = raw_path[1:].split(b"/")
    for position, segment in enumerate(segments):
        if not segment:
            if position == len(segments) - 1:
                continue  # one trailing slash is harmless
            return "the path has an empty segment ('//')"
        if b"\\" in segment:
            return "the path contains a backslash"
        if _NOT_ASCII.search(segment):
            return (
                "the path contains a space, a control or a non-ASCII character not percent-encoded"
            )
        decoded = unquote_to_bytes(segment)
        if _FORBIDDEN_IN_SEGMENT.search(decoded):
            return (
                "a path segment contains an encoded '/', '\\', '?', '#', '%', ';' or a "
                "control character"
            )
        if decoded.strip(b".") == b"":
            return "the path contains a '.' or '..' segment"
        try:
            decoded.decode("utf-8")
        except UnicodeDecodeError:
            return "a path segment is not valid UTF-8 once decoded"
    return None


def refusal_detail(problem: str) -> str:
    """The problem+json detail for a refused path: what is wrong and what to send."""
    return (
        f"This request path is not accepted: {problem}. Send the canonical path, with each "
        "segment percent-encoded once and no '.' or '..' segments."
    )
