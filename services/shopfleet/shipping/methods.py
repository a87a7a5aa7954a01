"""Each shop's shipping methods: admins create, change, deactivate or delete them.

A method is priced in its shop's currency, asked of identity once per shop when the first
method is created (and checked against a `currency` the admin may send). A method that
shipments use is never deleted: DELETE deactivates it, so their `method_id` still names it.
"""

from __future__ import annotations

from typing import Literal

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.contracts.clients.identity import IdentityClient
from shopfleet.kit.db import NamedRow, utcnow
from shopfleet.kit.errors import Conflict, NotFound, Problem, field_problem
from shopfleet.shipping.models import (
    METHOD_COLUMNS,
    MethodCreate,
    MethodDeletion,
    MethodList,
    MethodPublic,
    MethodUpdate,
    Shipment,
    ShippingMethod,
)

METHODS: sa.Table = ShippingMethod.__table__  # type: ignore[attr-defined]
SHIPMENTS: sa.Table = Shipment.__table__  # type: ignore[attr-defined]


class ShopCurrencies:
    """A shop's currency from identity, remembered (a shop's currency never changes)."""

    def __init__(self, identity: IdentityClient) -> None:
        self.identity = identity
        self._known: dict[str, str] = {}

    async def currency(self, shop: str) -> str:
        known = self._known.get(shop)
        if known is None:
            known = self._known[shop] = (await self.identity.settings(shop)).currency
        return known


def method_not_found(shop: str, method_id: str) -> NotFound:
    return NotFound(
        f"No shipping method '{method_id}' in shop '{shop}'; GET /shipping/methods lists them.",
        slug="shipping-method-not-found",
    )


async def find(
    session: AsyncSession, shop: str, method_id: str, *, lock: bool = False
) -> NamedRow | None:
    query = sa.select(METHODS).where(METHODS.c.shop == shop, METHODS.c.id == method_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).mappings().first()


async def list_methods(
    session: AsyncSession, shop: str, *, country: str | None, include_inactive: bool
) -> MethodList:
    query = sa.select(*METHOD_COLUMNS).where(METHODS.c.shop == shop)
    if not include_inactive:
        query = query.where(METHODS.c.active.is_(True))
    rows = (await session.execute(query.order_by(METHODS.c.base_amount, METHODS.c.id))).mappings()
    items = [MethodPublic.model_validate(dict(row)) for row in rows]
    if country is not None:
        items = [m for m in items if not m.countries or country in m.countries]
    return MethodList(items=items)


async def get_method(
    session: AsyncSession, shop: str, method_id: str, *, include_inactive: bool
) -> MethodPublic:
    row = await find(session, shop, method_id)
    if row is None or not (row["active"] or include_inactive):
        raise method_not_found(shop, method_id)
    return MethodPublic.model_validate(dict(row))


async def create_method(
    session: AsyncSession,
    shop: str,
    body: MethodCreate,
    currencies: ShopCurrencies,
    *,
    max_methods: int,
) -> MethodPublic:
    currency = await currencies.currency(shop)
    if body.currency is not None and body.currency != currency:
        raise field_problem(
            422,
            "body.currency",
            f"this shop charges in {currency}, not {body.currency}; "
            "omit the field or send the shop's currency",
            slug="currency-mismatch",
        )
    count = await session.scalar(
        sa.select(sa.func.count()).select_from(METHODS).where(METHODS.c.shop == shop)
    )
    if (count or 0) >= max_methods:
        raise Conflict(
            f"This shop has {count} shipping methods, the most it may have; delete or reuse "
            "one first.",
            slug="too-many-methods",
        )
    now = utcnow()
    row = body.model_dump(exclude={"currency"}) | dict(
        shop=shop, currency=currency, created_at=now, updated_at=now, version=1
    )
    try:
        await session.execute(sa.insert(METHODS).values(row))
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise field_problem(
            409,
            "body.id",
            f"'{body.id}' is already a shipping method of this shop; choose "
            "another id, or PATCH /shipping/methods/" + body.id,
            slug="method-id-taken",
        ) from None
    return MethodPublic.model_validate(row)


def _check_days(row: NamedRow) -> None:
    if row["estimated_days_max"] < row["estimated_days_min"]:
        raise field_problem(
            422,
            "body.estimated_days_max",
            f"must be at least estimated_days_min ({row['estimated_days_min']})",
        )


async def update_method(
    session: AsyncSession, shop: str, method_id: str, body: MethodUpdate
) -> MethodPublic:
    current = await find(session, shop, method_id, lock=True)
    if current is None:
        raise method_not_found(shop, method_id)
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if current[k] != v}
    if not changes:
        await session.rollback()
        return MethodPublic.model_validate(dict(current))
    row = dict(current) | changes
    _check_days(row)
    row |= dict(version=current["version"] + 1, updated_at=utcnow())
    await session.execute(
        sa.update(METHODS)
        .where(METHODS.c.shop == shop, METHODS.c.id == method_id)
        .values({k: row[k] for k in (*changes, "version", "updated_at")})
    )
    await session.commit()
    return MethodPublic.model_validate(row)


async def delete_method(session: AsyncSession, shop: str, method_id: str) -> MethodDeletion:
    """Delete an unused method; one that shipments use is deactivated instead."""
    current = await find(session, shop, method_id, lock=True)
    if current is None:
        raise method_not_found(shop, method_id)
    used = await session.scalar(
        sa.select(SHIPMENTS.c.id)
        .where(SHIPMENTS.c.shop == shop, SHIPMENTS.c.method_id == method_id)
        .limit(1)
    )
    where = (METHODS.c.shop == shop, METHODS.c.id == method_id)
    if used is None:
        await session.execute(sa.delete(METHODS).where(*where))
        outcome: Literal["deleted", "deactivated"] = "deleted"
    else:
        if current["active"]:
            await session.execute(
                sa.update(METHODS)
                .where(*where)
                .values(active=False, version=current["version"] + 1, updated_at=utcnow())
            )
        outcome = "deactivated"
    await session.commit()
    return MethodDeletion(id=method_id, outcome=outcome)


def method_inactive(method_id: str) -> Problem:
    return NotFound(
        f"Shipping method '{method_id}' is not offered any more; GET /shipping/methods lists "
        "the methods on offer.",
        slug="shipping-method-not-found",
    )
