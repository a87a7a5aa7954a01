"""The one service payments calls: orders, for the summary of an order it is to charge."""

from __future__ import annotations

from shopfleet.kit.blocks import Invoker
from shopfleet.kit.contracts.clients.base import Wording
from shopfleet.kit.contracts.clients.orders import OrdersClient


def orders_client(invoker: Invoker, *, timeout_s: float) -> OrdersClient:
    # Payments has always answered orders' outage with the plain `service-unavailable`.
    return OrdersClient(invoker, timeout_s=timeout_s, wording=Wording(slug="service-unavailable"))
