"""What an edit changes, and how many methods a shop (addresses a shopper) may keep."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shopfleet.shipping.domain.refusals import TooManyAddresses, TooManyMethods


def changed_fields(current: object, requested: Mapping[str, Any]) -> dict[str, Any]:
    """The requested fields whose value differs from `current`'s (a record or a model):
    a PATCH that sends what is stored changes nothing."""
    return {name: value for name, value in requested.items() if getattr(current, name) != value}


def check_method_room(count: int, most: int) -> None:
    """May a shop with `count` methods create one more?"""
    if count >= most:
        raise TooManyMethods(
            f"This shop has {count} shipping methods, the most it may have; delete or reuse "
            "one first."
        )


def check_address_room(count: int, most: int) -> None:
    """May a shopper with `count` saved addresses save one more?"""
    if count >= most:
        raise TooManyAddresses(
            f"You have {count} saved addresses, the most you may keep; delete one you no "
            "longer need first."
        )
