"""What shipping charges: the cost of a method for some lines to a country, and which
method and products a quote may use.

    0                                                   if subtotal >= free_above
    base + per_kg × ⌈weight in kg⌉ + per_item × units   otherwise

where the weight is rounded up to the next whole kilogram (a 1 g parcel pays one kilogram,
a weightless one none), and amounts are integer minor units of the shop's currency.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from shopfleet.kit.contracts.catalog import ProductSnapshot
from shopfleet.kit.contracts.shipping import Quote, QuoteLine
from shopfleet.kit.money import MAX_AMOUNT, Money
from shopfleet.shipping.domain.methods import MethodRecord
from shopfleet.shipping.domain.refusals import (
    MethodRetired,
    ProductNotForSale,
    QuoteError,
    method_not_found,
)

GRAMS_PER_KG = 1000


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
    def of(cls, method: MethodRecord) -> Rates:
        return cls(
            id=method.id,
            name=method.name,
            carrier=method.carrier,
            currency=method.currency,
            base=method.base_amount,
            per_kg=method.per_kg_amount,
            per_item=method.per_item_amount,
            free_above=method.free_above_amount,
            days_min=method.estimated_days_min,
            days_max=method.estimated_days_max,
            countries=tuple(method.countries),
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
            "body.address.country",
            f"shipping method '{rates.id}' does not ship to {country}; it ships to "
            f"{', '.join(rates.countries)}. Choose another method or address",
            slug="country-not-served",
        )
    subtotal = weight = units = 0
    for index, line in enumerate(lines):
        if line.unit_price.currency != rates.currency:
            raise QuoteError(
                f"body.lines.{index}.unit_price.currency",
                f"the line is priced in {line.unit_price.currency}, but method '{rates.id}' "
                f"charges in {rates.currency}, the shop's currency",
                slug="currency-mismatch",
            )
        subtotal += line.unit_price.amount * line.quantity
        weight += line.weight_grams * line.quantity
        units += line.quantity
    cost = cost_of(rates, subtotal=subtotal, weight_grams=weight, units=units)
    if cost > MAX_AMOUNT or subtotal > MAX_AMOUNT:
        raise QuoteError(
            "body.lines",
            "the lines (or their shipping) exceed the largest amount we handle; "
            "split them into smaller orders",
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


def rates_on_offer(method: MethodRecord | None, shop: str, method_id: str) -> Rates:
    """The rates of a method a quote may use: one that exists and is still offered."""
    if method is None:
        raise method_not_found(shop, method_id)
    if not method.active:
        raise MethodRetired(
            f"Shipping method '{method_id}' is not offered any more; GET /shipping/methods "
            "lists the methods on offer."
        )
    return Rates.of(method)


def priced_lines(
    items: Sequence[tuple[str, int]], found: Mapping[str, ProductSnapshot]
) -> list[QuoteLine]:
    """(product id, quantity) pairs priced and weighed as catalog `found` them."""
    lines: list[QuoteLine] = []
    for index, (product_id, quantity) in enumerate(items):
        product = found.get(product_id)
        if product is None or not product.active:
            raise ProductNotForSale(
                f"body.lines.{index}.product_id",
                f"no product '{product_id}' is for sale in this shop",
            )
        lines.append(
            QuoteLine(
                product_id=product_id,
                quantity=quantity,
                unit_price=product.price,
                weight_grams=product.weight_grams,
            )
        )
    return lines
