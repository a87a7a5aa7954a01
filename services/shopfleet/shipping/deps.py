"""What shipping's routes depend on besides a session: the use cases (`ShippingService`,
with its limits and clients), built once by `create_app`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from shopfleet.shipping.service import ShippingService


async def _shipping(request: Request) -> ShippingService:  # async: a def would run in a thread
    service: ShippingService = request.app.state.shipping
    return service


ShippingDep = Annotated[ShippingService, Depends(_shipping)]
