"""Shipping's pure domain rules: what a shipment costs, where a method ships, how a
shipment's status may move. No I/O: `methods`, `addresses`, `quotes` and `shipments`
load rows, ask these functions, and write the answer.

Cost of a method for some lines to a country:

    0                                                   if subtotal >= free_above
    base + per_kg × ⌈weight in kg⌉ + per_item × units   otherwise

where the weight is rounded up to the next whole kilogram (a 1 g parcel pays one kilogram,
a weightless one none), and amounts are integer minor units of the shop's currency.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from shopfleet.kit.contracts.shipping import Quote, QuoteLine
from shopfleet.kit.db import NamedRow
from shopfleet.kit.money import MAX_AMOUNT, Money

GRAMS_PER_KG = 1000


class QuoteError(ValueError):
    """A quote that cannot be given; `field` names the request field to fix."""

    def __init__(self, message: str, *, field: str, slug: str) -> None:
        super().__init__(message)
        self.field, self.slug = field, slug


@dataclass(frozen=True, slots=True)
class Rates:
    """A shipping method as the cost calculation needs it."""

    id: str
    name: str
    carrier: str
    currency: str
    base: int
    per_kg: int
    per_item: int
    free_above: int | None
    days_min: int
    days_max: int
    countries: tuple[str, ...] = ()  # empty: everywhere

    @classmethod
    def from_row(cls, row: NamedRow) -> Rates:
        """From a `shipping_methods` row (or a mapping with its column names)."""
        return cls(
            id=row["id"],
            name=row["name"],
            carrier=row["carrier"],
            currency=row["currency"],
            base=row["base_amount"],
            per_kg=row["per_kg_amount"],
            per_item=row["per_item_amount"],
            free_above=row["free_above_amount"],
            days_min=row["estimated_days_min"],
            days_max=row["estimated_days_max"],
            countries=tuple(row["countries"] or ()),
        )


def billable_kg(weight_grams: int) -> int:
    """Whole kilograms charged for a weight: every started kilogram counts."""
    return -(-weight_grams // GRAMS_PER_KG)


def serves(countries: Iterable[str], country: str) -> bool:
    """Does a method with these zones ship to `country`? No zones: everywhere."""
    zones = tuple(countries)
    return not zones or country in zones


def cost_of(rates: Rates, *, subtotal: int, weight_grams: int, units: int) -> int:
    """The shipping cost in minor units (see the module's docstring)."""
    if rates.free_above is not None and subtotal >= rates.free_above:
        return 0
    return rates.base + rates.per_kg * billable_kg(weight_grams) + rates.per_item * units


def quote(rates: Rates, country: str, lines: Sequence[QuoteLine]) -> Quote:
    """Quote `rates` for `lines` shipped to `country`; `QuoteError` when it cannot."""
    if not serves(rates.countries, country):
        raise QuoteError(
            f"shipping method '{rates.id}' does not ship to {country}; it ships to "
            f"{', '.join(rates.countries)}. Choose another method or address",
            field="body.address.country",
            slug="country-not-served",
        )
    subtotal = weight = units = 0
    for index, line in enumerate(lines):
        if line.unit_price.currency != rates.currency:
            raise QuoteError(
                f"the line is priced in {line.unit_price.currency}, but method '{rates.id}' "
                f"charges in {rates.currency}, the shop's currency",
                field=f"body.lines.{index}.unit_price.currency",
                slug="currency-mismatch",
            )
        subtotal += line.unit_price.amount * line.quantity
        weight += line.weight_grams * line.quantity
        units += line.quantity
    cost = cost_of(rates, subtotal=subtotal, weight_grams=weight, units=units)
    if cost > MAX_AMOUNT or subtotal > MAX_AMOUNT:
        raise QuoteError(
            "the lines (or their shipping) exceed the largest amount we handle; "
            "split them into smaller orders",
            field="body.lines",
            slug="amount-too-large",
        )
    return Quote(
        method_id=rates.id,
        method_name=rates.name,
        carrier=rates.carrier,
        cost=Money(amount=cost, currency=rates.currency),
        subtotal=Money(amount=subtotal, currency=rates.currency),
        weight_grams=weight,
        estimated_days_min=rates.days_min,
        estimated_days_max=rates.days_max,
    )


# ----------------------------------------------------------------------------- shipments

# Where a shipment may go from each status. A parcel may skip steps forward (a carrier
# scan can be missed), never go back once it left; returned and cancelled are final.
TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"packed", "shipped", "cancelled"}),
    "packed": frozenset({"pending", "shipped", "cancelled"}),
    "shipped": frozenset({"in_transit", "delivered", "returned"}),
    "in_transit": frozenset({"delivered", "returned"}),
    "delivered": frozenset({"returned"}),
    "returned": frozenset(),
    "cancelled": frozenset(),
}
NOT_YET_SHIPPED: frozenset[str] = frozenset({"pending", "packed"})
DELETABLE: frozenset[str] = frozenset({"pending", "cancelled"})


class TransitionError(ValueError):
    pass


def check_transition(current: str, target: str) -> None:
    """May a shipment in `current` move to `target`? `TransitionError` says why not."""
    allowed = TRANSITIONS.get(current, frozenset())
    if target not in allowed:
        options = ", ".join(sorted(allowed)) or "nothing (it is final)"
        raise TransitionError(
            f"a {current} shipment cannot become {target}; from {current} it may become {options}"
        )
