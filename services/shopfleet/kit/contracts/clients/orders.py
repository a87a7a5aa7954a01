"""Orders' internal route: what payments needs to know of an order to charge it."""

from __future__ import annotations

from shopfleet.kit.contracts.clients.base import ServiceClient
from shopfleet.kit.contracts.orders import ORDER_SUMMARY_PATH, OrderSummary


class OrdersClient(ServiceClient):
    service = "orders"

    async def summary(self, shop: str, order_id: str) -> OrderSummary | None:
        """The order's summary; None when orders knows no such order in the shop."""
        path = ORDER_SUMMARY_PATH.format(shop=shop, order_id=order_id)
        response = await self.call("summary", "GET", path)
        if response.status == 404:
            return None
        return self.parse(OrderSummary, response, "summary")
