"""Shipping methods: a shop's methods as stored, and what an admin's change or deletion
does to one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from shopfleet.shipping.domain.refusals import CurrencyMismatch, DaysOutOfOrder, method_not_found


@dataclass(frozen=True, slots=True)
class MethodRecord:
    """A `shipping_methods` row (of one shop)."""

    id: str
    name: str
    carrier: str
    currency: str
    base_amount: int
    per_kg_amount: int
    per_item_amount: int
    free_above_amount: int | None
    estimated_days_min: int
    estimated_days_max: int
    countries: list[str]  # empty: everywhere
    active: bool
    created_at: datetime
    updated_at: datetime
    version: int


def changed_method(
    current: MethodRecord, changes: Mapping[str, Any], now: datetime
) -> MethodRecord:
    """The method with `changes` (non-empty), one version on; its days must stay in order."""
    changed = dataclasses.replace(current, **changes)
    if changed.estimated_days_max < changed.estimated_days_min:
        raise DaysOutOfOrder(
            "body.estimated_days_max",
            f"must be at least estimated_days_min ({changed.estimated_days_min})",
        )
    return dataclasses.replace(changed, version=current.version + 1, updated_at=now)


class Deletion(StrEnum):
    DELETE = "delete"
    DEACTIVATE = "deactivate"  # shipments name it: kept, inactive
    KEEP = "keep"  # used, and inactive already

    @property
    def outcome(self) -> Literal["deleted", "deactivated"]:
        """What the API answers: `deleted` or `deactivated`."""
        return "deleted" if self is Deletion.DELETE else "deactivated"


def method_deletion(method: MethodRecord, used: bool) -> Deletion:
    """A method no shipment uses is deleted; a used one is kept, deactivated (once)."""
    if not used:
        return Deletion.DELETE
    return Deletion.DEACTIVATE if method.active else Deletion.KEEP


def shop_currency(currency: str, asked: str | None) -> str:
    """A new method's currency: the shop's, which the admin may repeat but not change."""
    if asked is not None and asked != currency:
        raise CurrencyMismatch(
            "body.currency",
            f"this shop charges in {currency}, not {asked}; "
            "omit the field or send the shop's currency",
        )
    return currency


def visible_method(
    method: MethodRecord | None, shop: str, method_id: str, *, include_inactive: bool
) -> MethodRecord:
    """The method if it exists and is on offer; an inactive one only when asked (admins)."""
    if method is None or not (method.active or include_inactive):
        raise method_not_found(shop, method_id)
    return method
