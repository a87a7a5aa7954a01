"""Orders' calls to cart, catalog and shipping, by service invocation, with timeouts.

Each contract path lives in `kit.contracts`; each answer is parsed into its contract model.
A service that cannot be reached, times out, or answers something unexpected becomes one
503 problem (`<app>-unavailable`, with Retry-After): the caller's request changed nothing.
Answers that are the caller's mistake (an unknown address or method) become 422 problems.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

import orjson
import structlog
from pydantic import BaseModel, ValidationError

from shopfleet.kit.blocks import Invoker, InvokeResponse, ServiceUnavailable
from shopfleet.kit.contracts.cart import CART_LINES_PATH, CartLines
from shopfleet.kit.contracts.catalog import (
    COMMIT_PATH,
    LOOKUP_PATH,
    RESERVATION_PATH,
    ProductLookup,
    ProductLookupResult,
    ProductSnapshot,
    ReservationResult,
    ReserveRequest,
)
from shopfleet.kit.contracts.shipping import ADDRESS_PATH, QUOTE_PATH, Address, Quote, QuoteRequest
from shopfleet.kit.errors import Problem, field_problem

log = structlog.get_logger("shopfleet.orders.clients")

_JSON = (b"content-type", b"application/json")
RETRY_AFTER_S = 5
M = TypeVar("M", bound=BaseModel)


class Unavailable(Problem):
    """A service orders depends on did not answer usefully: retry later, nothing changed."""

    def __init__(self, app_id: str, what: str) -> None:
        super().__init__(
            503,
            f"The {app_id} service is unavailable, so {what} cannot be done right now; "
            f"nothing was changed. Retry in a few seconds.",
            slug=f"{app_id}-unavailable",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
        self.app_id = app_id


def _detail(response: InvokeResponse) -> str:
    try:
        body = response.json()
    except orjson.JSONDecodeError:
        return ""
    return str(body.get("detail", "")) if isinstance(body, dict) else ""


class Upstreams:
    """Cart, catalog and shipping as orders sees them."""

    def __init__(
        self,
        invoker: Invoker,
        *,
        timeout_s: float,
        cart: str = "cart",
        catalog: str = "catalog",
        shipping: str = "shipping",
    ) -> None:
        self.invoker, self.timeout_s = invoker, timeout_s
        self.cart, self.catalog, self.shipping = cart, catalog, shipping

    async def _call(
        self, app_id: str, method: str, path: str, what: str, body: BaseModel | None = None
    ) -> InvokeResponse:
        raw = body.model_dump_json().encode() if body is not None else b""
        try:
            return await self.invoker.invoke(
                app_id, method, path, body=raw, headers=[_JSON], timeout_s=self.timeout_s
            )
        except ServiceUnavailable as exc:
            log.warning("upstream unavailable", app_id=app_id, path=path, reason=exc.reason)
            raise Unavailable(app_id, what) from None

    def _parse(self, model: type[M], response: InvokeResponse, app_id: str, what: str) -> M:
        if response.status != 200:
            log.warning(
                "upstream answered an error", app_id=app_id, status=response.status,
                body=response.body[:300].decode("utf-8", "replace"),
            )  # fmt: skip
            raise Unavailable(app_id, what)
        try:
            return model.model_validate_json(response.body)
        except ValidationError as exc:
            log.warning("upstream answered nonsense", app_id=app_id, error=str(exc)[:300])
            raise Unavailable(app_id, what) from None

    # ------------------------------------------------------------------------- cart

    async def cart_lines(self, shop: str, user_id: str) -> CartLines:
        what = "your cart be read"
        path = CART_LINES_PATH.format(shop=shop, user_id=user_id)
        return self._parse(CartLines, await self._call(self.cart, "GET", path, what), "cart", what)

    # ------------------------------------------------------------------------- catalog

    async def products(self, shop: str, ids: list[str]) -> dict[str, ProductSnapshot]:
        """Snapshots of `ids` that catalog knows (≤ 100 ids)."""
        what = "prices be checked"
        path = LOOKUP_PATH.format(shop=shop)
        response = await self._call(self.catalog, "POST", path, what, ProductLookup(ids=ids))
        result = self._parse(ProductLookupResult, response, "catalog", what)
        return {item.id: item for item in result.items if item.id in ids}

    async def reserve(self, shop: str, order_id: str, request: ReserveRequest) -> ReservationResult:
        what = "stock be reserved"
        path = RESERVATION_PATH.format(shop=shop, order_id=order_id)
        response = await self._call(self.catalog, "PUT", path, what, request)
        return self._parse(ReservationResult, response, "catalog", what)

    async def release(self, shop: str, order_id: str) -> Literal["released", "kept"]:
        """Put the order's reserved units back on sale. `kept`: catalog had committed them
        (they left with the order) and refuses to release; none: nothing was reserved."""
        what = "stock be released"
        path = RESERVATION_PATH.format(shop=shop, order_id=order_id)
        response = await self._call(self.catalog, "DELETE", path, what)
        if response.status == 404:
            return "released"  # never reserved: nothing to give back
        if response.status == 409 and _slug(response) == "reservation-committed":
            return "kept"
        result = self._parse(ReservationResult, response, "catalog", what)
        return "kept" if result.status == "committed" else "released"

    async def commit(self, shop: str, order_id: str) -> Literal["committed", "not_reserved"]:
        what = "stock be committed"
        path = COMMIT_PATH.format(shop=shop, order_id=order_id)
        response = await self._call(self.catalog, "POST", path, what)
        if response.status in (404, 409):
            return "not_reserved"
        self._parse(ReservationResult, response, "catalog", what)
        return "committed"

    # ------------------------------------------------------------------------- shipping

    async def address(self, shop: str, user_id: str, address_id: str) -> Address:
        what = "your saved address be read"
        path = ADDRESS_PATH.format(shop=shop, user_id=user_id, address_id=address_id)
        response = await self._call(self.shipping, "GET", path, what)
        if response.status == 404:
            raise field_problem(
                422, "shipping_address_id", f"you have no saved address '{address_id}'",
                slug="unknown-address",
            )  # fmt: skip
        return self._parse(Address, response, "shipping", what)

    async def quote(self, shop: str, request: QuoteRequest) -> Quote:
        what = "shipping be quoted"
        path = QUOTE_PATH.format(shop=shop)
        response = await self._call(self.shipping, "POST", path, what, request)
        if response.status == 404:
            raise field_problem(
                422, "shipping_method",
                f"there is no shipping method '{request.method_id}' (see GET /shipping/methods)",
                slug="unknown-shipping-method",
            )  # fmt: skip
        if response.status == 422:
            reason = _detail(response) or (
                f"it does not ship to {request.address.country}; choose another method"
            )
            raise field_problem(422, "shipping_method", reason, slug="shipping-method-unavailable")
        return self._parse(Quote, response, "shipping", what)


def _slug(response: InvokeResponse) -> str:
    try:
        body: Any = response.json()
    except orjson.JSONDecodeError:
        return ""
    kind = body.get("type", "") if isinstance(body, dict) else ""
    return str(kind).rsplit("/", 1)[-1]
