"""Kubernetes resource quantities, as the API server reads and writes them.

The server stores a quantity in canonical form (`5120Mi` reads back `5Gi`, `1000m` reads
back `1`, `0.5` reads back `500m`), so the operator writes canonical quantities and
compares quantities by value, never by spelling.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_SUFFIX = {v: k for k, v in _DECIMAL.items()}
_BINARY_SUFFIX = {v: k for k, v in _BINARY.items()}
_PATTERN = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))([eE][+-]?[0-9]+|[a-zA-Z]*)$")


def parse(text: str | int | float) -> tuple[Fraction, bool]:
    """(value, written in binary units). ValueError if it is not a quantity."""
    match = _PATTERN.match(str(text).strip())
    if not match:
        raise ValueError(f"not a quantity: {text!r}")
    number, suffix = match.groups()
    value = Fraction(number)
    if suffix in _BINARY:
        return value * 1024 ** _BINARY[suffix], True
    if suffix in _DECIMAL:
        return value * Fraction(10) ** _DECIMAL[suffix], False
    if suffix[:1] in ("e", "E"):
        return value * Fraction(10) ** int(suffix[1:]), False
    raise ValueError(f"not a quantity: {text!r}")


def canonical(value: Fraction, binary: bool) -> str:
    """As `resource.Quantity.String()`: nano precision (rounded up), the largest suffix
    that keeps the number whole; binary suffixes only for whole values of 1Ki or more."""
    value = Fraction(math.ceil(value * 10**9), 10**9)
    if value == 0:
        return "0"
    if binary and value >= 1024 and value.denominator == 1:
        number, exponent = int(value), 0
        while number % 1024 == 0 and exponent < 6:
            number //= 1024
            exponent += 1
        return f"{number}{_BINARY_SUFFIX.get(exponent, '')}"
    for exponent in range(18, -10, -3):
        mantissa = value / Fraction(10) ** exponent
        if mantissa.denominator == 1:
            return f"{mantissa}{_SUFFIX[exponent]}"
    raise AssertionError("unreachable at nano precision")  # pragma: no cover


def normalise(text: str) -> str:
    return canonical(*parse(text))


def total(amounts: list[str], factor: int = 1) -> str:
    """`factor` × the sum of `amounts`, canonical (binary if any amount is)."""
    parsed = [parse(a) for a in amounts if a]
    value = sum((v for v, _ in parsed), Fraction(0)) * factor
    return canonical(value, any(binary for _, binary in parsed))


def same(a: object, b: object) -> bool:
    """Whether two quantities are equal by value (`5120Mi` and `5Gi` are)."""
    try:
        return parse(str(a))[0] == parse(str(b))[0]
    except ValueError:
        return False
