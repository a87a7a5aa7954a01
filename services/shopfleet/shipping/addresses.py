"""Each shopper's saved addresses. A shopper sees only their own: anyone else's is a 404,
as if it did not exist (admins included: an address book is personal).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.contracts.shipping import Address
from shopfleet.kit.db import NamedRow, utcnow
from shopfleet.kit.errors import Conflict, NotFound
from shopfleet.shipping.models import (
    ADDRESS_COLUMNS,
    ADDRESS_FIELDS,
    AddressList,
    AddressPublic,
    AddressUpdate,
    SavedAddress,
    new_id,
)

ADDRESSES: sa.Table = SavedAddress.__table__  # type: ignore[attr-defined]


def address_not_found(address_id: str) -> NotFound:
    return NotFound(
        f"You have no saved address '{address_id}'; GET /shipping/addresses lists yours.",
        slug="address-not-found",
    )


def _owned(shop: str, user_id: str) -> tuple[sa.ColumnElement[bool], ...]:
    return (ADDRESSES.c.shop == shop, ADDRESSES.c.user_id == user_id)


async def find(session: AsyncSession, shop: str, user_id: str, address_id: str) -> NamedRow | None:
    query = sa.select(*ADDRESS_COLUMNS).where(*_owned(shop, user_id), ADDRESSES.c.id == address_id)
    return (await session.execute(query)).mappings().first()


async def get_address(session: AsyncSession, shop: str, user_id: str, address_id: str) -> Address:
    """The bare address (for quotes and orders); 404 unless it is `user_id`'s."""
    row = await find(session, shop, user_id, address_id)
    if row is None:
        raise address_not_found(address_id)
    return Address.model_validate({k: row[k] for k in ADDRESS_FIELDS})


async def read_address(
    session: AsyncSession, shop: str, user_id: str, address_id: str
) -> AddressPublic:
    row = await find(session, shop, user_id, address_id)
    if row is None:
        raise address_not_found(address_id)
    return AddressPublic.model_validate(dict(row))


async def list_addresses(session: AsyncSession, shop: str, user_id: str) -> AddressList:
    query = (
        sa.select(*ADDRESS_COLUMNS)
        .where(*_owned(shop, user_id))
        .order_by(ADDRESSES.c.created_at, ADDRESSES.c.id)
    )
    rows = (await session.execute(query)).mappings()
    return AddressList(items=[AddressPublic.model_validate(dict(row)) for row in rows])


async def create_address(
    session: AsyncSession, shop: str, user_id: str, body: Address, *, limit: int
) -> AddressPublic:
    count = await session.scalar(
        sa.select(sa.func.count()).select_from(ADDRESSES).where(*_owned(shop, user_id))
    )
    if (count or 0) >= limit:
        raise Conflict(
            f"You have {count} saved addresses, the most you may keep; delete one you no "
            "longer need first.",
            slug="too-many-addresses",
        )
    now = utcnow()
    row = body.model_dump() | dict(
        id=new_id(), shop=shop, user_id=user_id, created_at=now, updated_at=now
    )
    await session.execute(sa.insert(ADDRESSES).values(row))
    await session.commit()
    return AddressPublic.model_validate(row)


async def update_address(
    session: AsyncSession, shop: str, user_id: str, address_id: str, body: AddressUpdate
) -> AddressPublic:
    current = await find(session, shop, user_id, address_id)
    if current is None:
        raise address_not_found(address_id)
    # Each field was validated, and the required ones cannot be nulled: still an Address.
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if current[k] != v}
    if not changes:
        await session.rollback()
        return AddressPublic.model_validate(dict(current))
    changes["updated_at"] = utcnow()
    await session.execute(
        sa.update(ADDRESSES)
        .where(*_owned(shop, user_id), ADDRESSES.c.id == address_id)
        .values(changes)
    )
    await session.commit()
    return AddressPublic.model_validate(dict(current) | changes)


async def delete_address(session: AsyncSession, shop: str, user_id: str, address_id: str) -> None:
    result = await session.execute(
        sa.delete(ADDRESSES).where(*_owned(shop, user_id), ADDRESSES.c.id == address_id)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        await session.rollback()
        raise address_not_found(address_id)
    await session.commit()
