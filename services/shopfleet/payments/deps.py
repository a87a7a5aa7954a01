"""What payments' routes depend on besides a session: the use cases (`PaymentsService`),
built once by `create_app`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from shopfleet.payments.service import PaymentsService


async def _payments(request: Request) -> PaymentsService:  # async: a def would run in a thread
    payments: PaymentsService = request.app.state.payments
    return payments


Payments = Annotated[PaymentsService, Depends(_payments)]
