"""The cart's ETags on the wire: quoting them and parsing `If-Match`."""

from __future__ import annotations

from dataclasses import dataclass


def quote_etag(etag: str) -> str:
    return f'"{etag}"'


@dataclass(frozen=True, slots=True)
class IfMatch:
    """A parsed `If-Match` header, compared strongly (RFC 9110 §13.1.1)."""

    etags: frozenset[str]
    any: bool = False

    @classmethod
    def parse(cls, header: str | None) -> IfMatch | None:
        if header is None:
            return None
        if header.strip() == "*":
            return cls(frozenset(), any=True)
        tags = set()
        for part in header.split(","):
            tag = part.strip()
            if tag and not tag.startswith("W/"):  # a weak tag never matches strongly
                tags.add(tag.strip('"'))
        return cls(frozenset(tags))

    def matches(self, etag: str | None) -> bool:
        """False for a cart that does not exist: there is nothing to match."""
        return etag is not None and (self.any or etag in self.etags)
