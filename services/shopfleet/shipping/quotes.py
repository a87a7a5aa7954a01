"""Quotes: what one method would charge to ship some lines to an address.

Orders sends lines it has priced already (`QuoteRequest`, internal); a shopper sends
product ids and quantities, which catalog prices and weighs. Both end in `service.quote`.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.auth import Principal, Unauthenticated
from shopfleet.kit.contracts.clients.base import Wording
from shopfleet.kit.contracts.clients.catalog import CatalogClient
from shopfleet.kit.contracts.shipping import Address, Quote, QuoteLine, QuoteRequest
from shopfleet.kit.errors import field_problem
from shopfleet.shipping import addresses, methods, service
from shopfleet.shipping.models import QuoteAsk


def _cannot_price(service: str, operation: str) -> str:
    return (
        f"Cannot read product prices and weights right now ({service} is unavailable); "
        "retry shortly."
    )


# A shopper's quote says catalog is down the way it always did; a bad answer says the same.
CATALOG_WORDING = Wording(unavailable=_cannot_price, bad_answer="unavailable")


async def _active_rates(session: AsyncSession, shop: str, method_id: str) -> service.Rates:
    row = await methods.find(session, shop, method_id)
    if row is None:
        raise methods.method_not_found(shop, method_id)
    if not row["active"]:
        raise methods.method_inactive(method_id)
    return service.Rates.from_row(row)


def _quote(rates: service.Rates, address: Address, lines: list[QuoteLine]) -> Quote:
    try:
        return service.quote(rates, address.country, lines)
    except service.QuoteError as exc:
        raise field_problem(422, exc.field, str(exc), slug=exc.slug) from None


async def quote_priced(session: AsyncSession, shop: str, request: QuoteRequest) -> Quote:
    """Orders' quote: 404 unknown (or retired) method, 422 country not served."""
    rates = await _active_rates(session, shop, request.method_id)
    return _quote(rates, request.address, request.lines)


async def quote_for_shopper(
    session: AsyncSession,
    shop: str,
    ask: QuoteAsk,
    user: Principal | None,
    catalog: CatalogClient,
) -> Quote:
    rates = await _active_rates(session, shop, ask.method_id)
    if ask.address is not None:
        address = ask.address
    elif user is None:
        raise Unauthenticated("Log in to quote to a saved address, or send the `address` itself.")
    else:
        address = await addresses.get_address(session, shop, user.user_id, ask.address_id or "")
    found = await catalog.lookup(shop, [line.product_id for line in ask.lines])
    lines: list[QuoteLine] = []
    for index, item in enumerate(ask.lines):
        product = found.get(item.product_id)
        if product is None or not product.active:
            raise field_problem(
                422,
                f"body.lines.{index}.product_id",
                f"no product '{item.product_id}' is for sale in this shop",
                slug="product-not-for-sale",
            )
        lines.append(
            QuoteLine(
                product_id=item.product_id,
                quantity=item.quantity,
                unit_price=product.price,
                weight_grams=product.weight_grams,
            )
        )
    return _quote(rates, address, lines)
