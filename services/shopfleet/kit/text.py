"""Text that people type: names, titles, descriptions."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator


def has_control_chars(value: str) -> bool:
    return any(unicodedata.category(char) == "Cc" for char in value)


def _printable(value: str) -> str:
    # PostgreSQL cannot store NUL, and no name needs a control character.
    if has_control_chars(value):
        raise ValueError("must not contain control characters")
    return value


Printable = AfterValidator(_printable)
"""Annotate a `str` with it: `Annotated[str, Field(max_length=100), Printable]`."""

PrintableStr = Annotated[str, Printable]
