"""All of shipping's SQL: methods, saved addresses, shipments and cancelled orders, loaded as
typed records (`domain`) or the API's models, and written as the domain decided.

Every query names its shop. The caller owns the transaction (the session): it commits, or
rolls back after a refusal.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.cursors import PageEnd
from shopfleet.kit.db import dialect_insert
from shopfleet.shipping.domain.methods import MethodRecord
from shopfleet.shipping.domain.shipments import HistoryEntry, ShipmentRecord, ShipmentStatus
from shopfleet.shipping.models import (
    ADDRESS_COLUMNS,
    METHOD_COLUMNS,
    SHIPMENT_COLUMNS,
    AddressPublic,
    ShippingModel,
    record_columns,
)

methods_table = ShippingModel.metadata.tables["shipping_methods"]
addresses_table = ShippingModel.metadata.tables["shipping_addresses"]
shipments_table = ShippingModel.metadata.tables["shipments"]
cancelled_table = ShippingModel.metadata.tables["cancelled_orders"]
_methods, _addresses = methods_table.c, addresses_table.c
_shipments, _cancelled = shipments_table.c, cancelled_table.c


def _method(row: sa.RowMapping) -> MethodRecord:
    return MethodRecord(**{**row, "countries": list(row["countries"] or ())})


def _shipment(row: sa.RowMapping) -> ShipmentRecord:
    history: list[HistoryEntry] = list(row["history"])
    return ShipmentRecord(**{**row, "status": ShipmentStatus(row["status"]), "history": history})


class ShippingStore:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _changed(self, statement: sa.Executable) -> bool:
        result = await self.session.execute(statement)
        return isinstance(result, CursorResult) and result.rowcount > 0

    async def _count(self, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
        query = sa.select(sa.func.count()).select_from(table).where(*where)
        return await self.session.scalar(query) or 0

    # ------------------------------------------------------------------------- methods

    def _method_key(self, shop: str, method_id: str) -> tuple[sa.ColumnElement[bool], ...]:
        return (_methods.shop == shop, _methods.id == method_id)

    async def method(self, shop: str, method_id: str, *, lock: bool = False) -> MethodRecord | None:
        query = sa.select(*METHOD_COLUMNS).where(*self._method_key(shop, method_id))
        if lock:
            query = query.with_for_update()
        row = (await self.session.execute(query)).mappings().first()
        return _method(row) if row is not None else None

    async def methods(self, shop: str, *, include_inactive: bool) -> list[MethodRecord]:
        """Cheapest base price first."""
        query = sa.select(*METHOD_COLUMNS).where(_methods.shop == shop)
        if not include_inactive:
            query = query.where(_methods.active.is_(True))
        query = query.order_by(_methods.base_amount, _methods.id)
        return [_method(row) for row in (await self.session.execute(query)).mappings()]

    async def count_methods(self, shop: str) -> int:
        return await self._count(methods_table, _methods.shop == shop)

    async def insert_method(self, shop: str, method: MethodRecord) -> bool:
        """False if the shop has a method of that id (the session then needs a rollback)."""
        try:
            await self.session.execute(
                sa.insert(methods_table).values(record_columns(method) | {"shop": shop})
            )
        except IntegrityError:
            return False
        return True

    async def update_method(self, shop: str, method_id: str, columns: Mapping[str, Any]) -> None:
        statement = sa.update(methods_table).where(*self._method_key(shop, method_id))
        await self.session.execute(statement.values(dict(columns)))

    async def delete_method(self, shop: str, method_id: str) -> None:
        await self.session.execute(
            sa.delete(methods_table).where(*self._method_key(shop, method_id))
        )

    async def method_used(self, shop: str, method_id: str) -> bool:
        """Does a shipment name the method?"""
        query = sa.select(_shipments.id).where(
            _shipments.shop == shop, _shipments.method_id == method_id
        )
        return await self.session.scalar(query.limit(1)) is not None

    # ------------------------------------------------------------------------- addresses

    def _owned(self, shop: str, user_id: str) -> tuple[sa.ColumnElement[bool], ...]:
        return (_addresses.shop == shop, _addresses.user_id == user_id)

    async def address(self, shop: str, user_id: str, address_id: str) -> AddressPublic | None:
        """`user_id`'s address of that id (None for anyone else's)."""
        query = sa.select(*ADDRESS_COLUMNS).where(
            *self._owned(shop, user_id), _addresses.id == address_id
        )
        row = (await self.session.execute(query)).mappings().first()
        return AddressPublic.model_validate(dict(row)) if row is not None else None

    async def addresses(self, shop: str, user_id: str) -> list[AddressPublic]:
        """Oldest first."""
        query = (
            sa.select(*ADDRESS_COLUMNS)
            .where(*self._owned(shop, user_id))
            .order_by(_addresses.created_at, _addresses.id)
        )
        rows = (await self.session.execute(query)).mappings()
        return [AddressPublic.model_validate(dict(row)) for row in rows]

    async def count_addresses(self, shop: str, user_id: str) -> int:
        return await self._count(addresses_table, *self._owned(shop, user_id))

    async def insert_address(self, shop: str, user_id: str, address: AddressPublic) -> None:
        values = address.model_dump() | {"shop": shop, "user_id": user_id}
        await self.session.execute(sa.insert(addresses_table).values(values))

    async def update_address(
        self, shop: str, user_id: str, address_id: str, columns: Mapping[str, Any]
    ) -> None:
        statement = sa.update(addresses_table).where(
            *self._owned(shop, user_id), _addresses.id == address_id
        )
        await self.session.execute(statement.values(dict(columns)))

    async def delete_address(self, shop: str, user_id: str, address_id: str) -> bool:
        """False if `user_id` has no address of that id."""
        return await self._changed(
            sa.delete(addresses_table).where(
                *self._owned(shop, user_id), _addresses.id == address_id
            )
        )

    # ------------------------------------------------------------------------- shipments

    async def _one_shipment(
        self, where: sa.ColumnElement[bool], *, lock: bool
    ) -> ShipmentRecord | None:
        query = sa.select(*SHIPMENT_COLUMNS).where(where)
        if lock:
            query = query.with_for_update()
        row = (await self.session.execute(query)).mappings().first()
        return _shipment(row) if row is not None else None

    async def shipment(
        self, shop: str, shipment_id: str, *, lock: bool = False
    ) -> ShipmentRecord | None:
        where = sa.and_(_shipments.shop == shop, _shipments.id == shipment_id)
        return await self._one_shipment(where, lock=lock)

    async def shipment_of_order(
        self, shop: str, order_id: str, *, lock: bool = False
    ) -> ShipmentRecord | None:
        where = sa.and_(_shipments.shop == shop, _shipments.order_id == order_id)
        return await self._one_shipment(where, lock=lock)

    async def shipment_id_of_order(self, shop: str, order_id: str) -> str | None:
        query = sa.select(_shipments.id).where(
            _shipments.shop == shop, _shipments.order_id == order_id
        )
        found = await self.session.scalar(query)
        return str(found) if found is not None else None

    async def shipments_page(
        self,
        shop: str,
        *,
        user_id: str | None,
        status: str | None,
        order_id: str | None,
        after: PageEnd | None,
        limit: int,
    ) -> tuple[list[ShipmentRecord], bool]:
        """Newest first, after `after`; and whether more follow."""
        query = sa.select(*SHIPMENT_COLUMNS).where(_shipments.shop == shop)
        for column, value in (
            (_shipments.user_id, user_id),
            (_shipments.status, status),
            (_shipments.order_id, order_id),
        ):
            if value is not None:
                query = query.where(column == value)
        if after is not None:
            query = query.where(
                sa.or_(
                    _shipments.created_at < after.at,
                    sa.and_(_shipments.created_at == after.at, _shipments.id < after.id),
                )
            )
        query = query.order_by(_shipments.created_at.desc(), _shipments.id.desc())
        rows = list((await self.session.execute(query.limit(limit + 1))).mappings())
        return [_shipment(row) for row in rows[:limit]], len(rows) > limit

    async def insert_shipment(self, shop: str, shipment: ShipmentRecord) -> bool:
        """Insert the shipment unless its order has one; True if this call inserted it."""
        values = record_columns(shipment) | {"shop": shop, "status": shipment.status.value}
        statement = dialect_insert(self.session, shipments_table).values(values)
        return await self._changed(
            statement.on_conflict_do_nothing(index_elements=["shop", "order_id"])
        )

    async def update_shipment(
        self, shop: str, shipment_id: str, columns: Mapping[str, Any]
    ) -> None:
        values = {
            name: value.value if isinstance(value, ShipmentStatus) else value
            for name, value in columns.items()
        }
        await self.session.execute(
            sa.update(shipments_table)
            .where(_shipments.shop == shop, _shipments.id == shipment_id)
            .values(values)
        )

    async def delete_shipment(self, shop: str, shipment_id: str) -> None:
        await self.session.execute(
            sa.delete(shipments_table).where(_shipments.shop == shop, _shipments.id == shipment_id)
        )

    # ------------------------------------------------------------------------- cancelled orders

    async def cancelled_before(self, shop: str, order_id: str) -> bool:
        """Was the order cancelled before it had a shipment?"""
        query = sa.select(_cancelled.order_id).where(
            _cancelled.shop == shop, _cancelled.order_id == order_id
        )
        return await self.session.scalar(query) is not None

    async def remember_cancelled(self, shop: str, order_id: str, at: datetime) -> None:
        statement = dialect_insert(self.session, cancelled_table).values(
            shop=shop, order_id=order_id, cancelled_at=at
        )
        await self.session.execute(statement.on_conflict_do_nothing())
