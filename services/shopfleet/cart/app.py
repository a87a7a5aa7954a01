"""The cart app: one cart per shopper on the StateStore block, priced by catalog on read."""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import FastAPI

from shopfleet.cart.api import router
from shopfleet.cart.checkout import CheckoutHooks
from shopfleet.cart.events import subscriptions
from shopfleet.cart.internal_api import router as internal_router
from shopfleet.cart.service import Carts
from shopfleet.cart.settings import CartSettings
from shopfleet.cart.store import CartStore
from shopfleet.kit.auth import TokenVerifier
from shopfleet.kit.blocks import Blocks
from shopfleet.kit.contracts.clients.base import Wording
from shopfleet.kit.contracts.clients.catalog import CatalogClient
from shopfleet.kit.service import service_app

READY_KEY = "cart:readyz"


def _cannot_price(service: str, operation: str) -> str:
    return (
        f"Prices and stock cannot be checked right now because the {service} is unavailable; "
        "your cart is unchanged. Retry in a few seconds."
    )


# The cart prices before it writes: whatever goes wrong in catalog, nothing was changed.
CATALOG_WORDING = Wording(unavailable=_cannot_price, bad_answer="unavailable")


def create_app(
    settings: CartSettings,
    blocks: Blocks,
    *,
    verifier: TokenVerifier | None = None,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """Build the app; `clock` (unix seconds) stamps lines and ages removed lines (tests
    give the state store the same clock to let time pass)."""
    store = CartStore(
        blocks.state,
        user_ttl_s=settings.user_ttl_s,
        anonymous_ttl_s=settings.anonymous_ttl_s,
        removed_ttl_s=settings.removed_ttl_s,
        attempts=settings.write_attempts,
        clock=clock,
    )
    catalog = CatalogClient(
        blocks.invoker, timeout_s=settings.catalog_timeout_s, wording=CATALOG_WORDING
    )
    hooks = CheckoutHooks(
        store, inbox_ttl_s=settings.inbox_ttl_s, order_lines_ttl_s=settings.order_lines_ttl_s
    )
    # Orders' events change carts; declared before the platform starts pub/sub.
    for subscription in subscriptions(hooks):
        blocks.pubsub.subscribe(subscription)

    async def state_ready() -> None:
        await blocks.state.get(READY_KEY)

    app = service_app(
        "cart",
        description="One cart per shopper (or anonymous X-Cart-Id), priced by catalog on "
        "every read; ETag/If-Match; removed lines and cancelled orders can be restored.",
        db=None,
        blocks=blocks,
        platform=settings.platform,
        routers=[router, internal_router],
        verifier=verifier,
        ready_checks={"state": state_ready},
    )
    app.state.carts = Carts(
        store, catalog, order_lines_ttl_s=settings.order_lines_ttl_s, clock=clock
    )
    app.state.checkout = hooks
    return app
