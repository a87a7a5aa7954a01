"""What orders' routes depend on besides a session: the use cases (`Orders`), built once by
`create_app`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from shopfleet.orders.service import Orders


async def _orders(request: Request) -> Orders:  # async: a def would run in a thread
    orders: Orders = request.app.state.orders
    return orders


OrdersDep = Annotated[Orders, Depends(_orders)]
