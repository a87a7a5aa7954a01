"""The typed clients of called services: each call's method and path, and how each answer
maps (unreachable, an answer with a meaning, an answer the contract does not foresee)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from shopfleet.cart.app import CATALOG_WORDING as CART_WORDING
from shopfleet.kit.blocks import InvokeResponse, ServiceUnavailable
from shopfleet.kit.contracts.catalog import ReservationLine, ReserveRequest
from shopfleet.kit.contracts.clients.base import Wording
from shopfleet.kit.contracts.clients.cart import CartClient
from shopfleet.kit.contracts.clients.catalog import CatalogClient
from shopfleet.kit.contracts.clients.identity import IdentityClient
from shopfleet.kit.contracts.clients.orders import OrdersClient
from shopfleet.kit.contracts.clients.shipping import CannotShip, NoSuchMethod, ShippingClient
from shopfleet.kit.contracts.shipping import Address, QuoteLine, QuoteRequest
from shopfleet.kit.refusals import NotFoundRefusal, UnavailableRefusal, UpstreamRefusal
from shopfleet.orders.upstreams import WORDING as ORDERS_WORDING
from shopfleet.shipping.upstreams import CATALOG_WORDING as SHIPPING_WORDING
from tests.support.invoker import Answer, ScriptedInvoker, answer, problem


def down(app_id: str) -> ServiceUnavailable:
    return ServiceUnavailable(app_id, "connection refused")


def snapshot(product_id: str) -> dict[str, Any]:
    return {
        "id": product_id,
        "name": "Mug",
        "slug": "mug",
        "sku": "MUG",
        "price": {"amount": 900, "currency": "EUR"},
        "available": 3,
        "active": True,
    }


EUR_10 = {"amount": 1000, "currency": "EUR"}
LOOKUP = "/internal/shops/acme/products/lookup"
RESERVATION = "/internal/shops/acme/reservations/o-1"
ADDRESS = {
    "name": "Ada",
    "line1": "1 Road",
    "city": "Paris",
    "postal_code": "75001",
    "country": "FR",
}


# ----------------------------------------------------------------------------- the mapping


async def test_unreachable_is_a_503_in_the_callers_words_with_retry_after() -> None:
    invoker = ScriptedInvoker([("catalog", "POST", LOOKUP, down("catalog"))])
    catalog = CatalogClient(invoker, timeout_s=2.5)
    with pytest.raises(UnavailableRefusal) as refused:
        await catalog.lookup("acme", ["a1"])
    assert refused.value.slug == "catalog-unavailable" and refused.value.retry_after_s == 5
    assert refused.value.detail == "The catalog service is unavailable; retry shortly."
    assert invoker.sent[0].timeout_s == 2.5


@pytest.mark.parametrize(
    ("bad", "detail"),
    [
        (answer(500, b"boom"), "The orders service answered 500; retry shortly."),
        (answer(200, {"order_id": "o-1"}), "The orders service answered something unexpected."),
        (answer(200, b"not json"), "The orders service answered something unexpected."),
    ],
)
async def test_an_answer_the_contract_does_not_foresee_is_a_502(
    bad: InvokeResponse, detail: str
) -> None:
    invoker = ScriptedInvoker([("orders", "GET", "/internal/shops/acme/orders/o-1", bad)])
    with pytest.raises(UpstreamRefusal) as refused:
        await OrdersClient(invoker, timeout_s=1).summary("acme", "o-1")
    assert refused.value.slug == "bad-gateway" and refused.value.detail == detail


async def test_a_caller_may_keep_its_503_for_bad_answers_and_its_own_slug() -> None:
    wording = Wording(
        unavailable=lambda service, operation: f"{service} cannot {operation}",
        slug="service-unavailable",
        bad_answer="unavailable",
    )
    invoker = ScriptedInvoker([("catalog-x", "POST", LOOKUP, answer(503, b""))])
    catalog = CatalogClient(invoker, app_id="catalog-x", timeout_s=1, wording=wording)
    with pytest.raises(UnavailableRefusal) as refused:
        await catalog.lookup("acme", ["a1"])
    assert refused.value.slug == "service-unavailable"
    assert refused.value.detail == "catalog cannot lookup"


# ----------------------------------------------------------------------------- catalog


async def test_a_lookup_asks_100_ids_a_call_and_keeps_only_what_it_asked() -> None:
    ids = [f"{n:04x}" for n in range(150)]
    invoker = ScriptedInvoker(
        [
            (
                "catalog",
                "POST",
                LOOKUP,
                answer(200, {"items": [snapshot(ids[0]), snapshot("ffff")], "missing": []}),
            ),
            (
                "catalog",
                "POST",
                LOOKUP,
                answer(200, {"items": [snapshot(ids[149])], "missing": []}),
            ),
        ]
    )
    trace = (b"traceparent", b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01")
    found = await CatalogClient(invoker, timeout_s=1).lookup(
        "acme", [*ids, ids[0]], headers=[trace]
    )
    invoker.done()
    assert set(found) == {ids[0], ids[149]}  # never a product it did not ask for
    first, second = invoker.sent
    assert orjson.loads(first.body) == {"ids": ids[:100]}
    assert orjson.loads(second.body) == {"ids": ids[100:]}
    assert first.headers == [(b"content-type", b"application/json"), trace]


async def test_a_lookup_of_nothing_calls_nobody() -> None:
    invoker = ScriptedInvoker([])
    assert await CatalogClient(invoker, timeout_s=1).lookup("acme", []) == {}


async def test_reserve_puts_the_lines_of_the_order() -> None:
    result = {
        "order_id": "o-1",
        "status": "reserved",
        "lines": [{"product_id": "a1", "quantity": 2}],
    }
    invoker = ScriptedInvoker([("catalog", "PUT", RESERVATION, answer(200, result))])
    request = ReserveRequest(lines=[ReservationLine(product_id="a1", quantity=2)])
    reserved = await CatalogClient(invoker, timeout_s=1).reserve("acme", "o-1", request)
    assert reserved.status == "reserved"
    assert orjson.loads(invoker.sent[0].body) == {"lines": [{"product_id": "a1", "quantity": 2}]}


@pytest.mark.parametrize(
    ("catalog_answer", "outcome"),
    [
        (problem(404, "reservation-not-found"), "released"),
        (problem(409, "reservation-committed"), "kept"),
        (answer(200, {"order_id": "o-1", "status": "committed", "lines": []}), "kept"),
        (answer(200, {"order_id": "o-1", "status": "released", "lines": []}), "released"),
    ],
)
async def test_release_says_whether_the_units_went_back_or_left(
    catalog_answer: InvokeResponse, outcome: str
) -> None:
    invoker = ScriptedInvoker([("catalog", "DELETE", RESERVATION, catalog_answer)])
    assert await CatalogClient(invoker, timeout_s=1).release("acme", "o-1") == outcome


async def test_release_refused_for_another_reason_is_a_bad_answer() -> None:
    invoker = ScriptedInvoker([("catalog", "DELETE", RESERVATION, problem(409, "conflict"))])
    with pytest.raises(UpstreamRefusal):
        await CatalogClient(invoker, timeout_s=1).release("acme", "o-1")


@pytest.mark.parametrize(
    ("catalog_answer", "outcome"),
    [
        (problem(404, "reservation-not-found"), "not_reserved"),
        (problem(409, "reservation-released"), "not_reserved"),
        (answer(200, {"order_id": "o-1", "status": "committed", "lines": []}), "committed"),
    ],
)
async def test_commit_says_whether_units_were_held(
    catalog_answer: InvokeResponse, outcome: str
) -> None:
    invoker = ScriptedInvoker([("catalog", "POST", RESERVATION + "/commit", catalog_answer)])
    assert await CatalogClient(invoker, timeout_s=1).commit("acme", "o-1") == outcome


# ----------------------------------------------------------------------------- cart, orders


async def test_cart_lines_are_read_by_user() -> None:
    lines = {"user_id": "u-1", "lines": [{"product_id": "a1", "quantity": 1}], "version": "7"}
    invoker = ScriptedInvoker(
        [("cart", "GET", "/internal/shops/acme/carts/u-1", answer(200, lines))]
    )
    cart = await CartClient(invoker, timeout_s=1).lines("acme", "u-1")
    assert cart.version == "7" and cart.lines[0].product_id == "a1"
    assert invoker.sent[0].body == b"" and invoker.sent[0].headers == []


async def test_an_order_orders_does_not_know_is_none() -> None:
    path = "/internal/shops/acme/orders/o-1"
    summary = {
        "order_id": "o-1",
        "user_id": "u-1",
        "status": "pending_payment",
        "total": EUR_10,
        "placed_at": "2026-01-02T03:04:05Z",
        "expires_at": None,
    }
    invoker = ScriptedInvoker(
        [
            ("orders", "GET", path, problem(404, "order-not-found")),
            ("orders", "GET", path, answer(200, summary)),
        ]
    )
    orders = OrdersClient(invoker, timeout_s=1)
    assert await orders.summary("acme", "o-1") is None
    found = await orders.summary("acme", "o-1")
    assert found is not None and found.total.amount == 1000


# ----------------------------------------------------------------------------- shipping


async def test_an_address_the_shopper_does_not_have_is_none() -> None:
    path = "/internal/shops/acme/users/u-1/addresses/ad-1"
    invoker = ScriptedInvoker(
        [
            ("shipping", "GET", path, problem(404, "address-not-found")),
            ("shipping", "GET", path, answer(200, ADDRESS)),
        ]
    )
    shipping = ShippingClient(invoker, timeout_s=1)
    assert await shipping.address("acme", "u-1", "ad-1") is None
    assert await shipping.address("acme", "u-1", "ad-1") == Address.model_validate(ADDRESS)


async def test_a_quote_shipping_refuses_says_why() -> None:
    request = QuoteRequest(
        method_id="express",
        address=Address.model_validate(ADDRESS),
        lines=[QuoteLine(product_id="a1", quantity=1, unit_price=EUR_10)],
    )
    path = "/internal/shops/acme/quotes"
    invoker = ScriptedInvoker(
        [
            ("shipping", "POST", path, problem(404, "shipping-method-not-found")),
            ("shipping", "POST", path, problem(422, "not-shipped-there", "not to FR")),
            ("shipping", "POST", path, answer(422, b"")),
        ]
    )
    shipping = ShippingClient(invoker, timeout_s=1)
    assert await shipping.quote("acme", request) == NoSuchMethod()
    assert await shipping.quote("acme", request) == CannotShip("not to FR")
    assert await shipping.quote("acme", request) == CannotShip("")
    assert orjson.loads(invoker.sent[0].body)["method_id"] == "express"


# ----------------------------------------------------------------------------- identity


async def test_a_shop_identity_does_not_know_is_a_404_shop_not_found() -> None:
    path = "/internal/shops/nope/settings"
    invoker = ScriptedInvoker([("identity", "GET", path, problem(404, "not-found"))])
    with pytest.raises(NotFoundRefusal) as refused:
        await IdentityClient(invoker, timeout_s=1).settings("nope")
    assert refused.value.slug == "shop-not-found"
    assert refused.value.detail == "Shop 'nope' does not exist."


@pytest.mark.parametrize("failure", [down("identity"), answer(500, b""), answer(200, b"{}")])
async def test_identity_failing_is_one_503_naming_what_was_wanted(failure: Answer) -> None:
    path = "/internal/shops/acme/settings"
    invoker = ScriptedInvoker([("identity.shop-acme", "GET", path, failure)])
    identity = IdentityClient(invoker, app_id="identity.shop-acme", timeout_s=1)
    with pytest.raises(UnavailableRefusal) as refused:
        await identity.settings("acme", purpose="quotas")
    assert refused.value.slug == "identity-unavailable"
    assert refused.value.detail == (
        "Cannot read this shop's quotas right now (identity is unavailable); retry shortly."
    )


async def test_the_verifiers_feeds_carry_their_query_and_credential() -> None:
    changes = {"as_of": 10.0, "retention_s": 60.0, "changes": []}
    invoker = ScriptedInvoker(
        [
            ("identity", "GET", "/.well-known/jwks.json", answer(200, {"keys": [{"kid": "k1"}]})),
            ("identity", "GET", "/internal/sessions", answer(200, changes)),
        ]
    )
    identity = IdentityClient(invoker, timeout_s=5)
    assert await identity.key_set() == {"keys": [{"kid": "k1"}]}
    credential = [(b"authorization", b"Bearer platform")]
    assert (await identity.session_changes(1.5, headers=credential)).as_of == 10.0
    assert invoker.sent[1].query == "since=1.5" and invoker.sent[1].headers == credential


# ----------------------------------------------------------------------------- callers' words


@pytest.mark.parametrize(
    ("wording", "service", "operation", "detail"),
    [
        (
            ORDERS_WORDING,
            "catalog",
            "reserve",
            "The catalog service is unavailable, so stock be reserved cannot be done right "
            "now; nothing was changed. Retry in a few seconds.",
        ),
        (
            CART_WORDING,
            "catalog",
            "lookup",
            "Prices and stock cannot be checked right now because the catalog is "
            "unavailable; your cart is unchanged. Retry in a few seconds.",
        ),
        (
            SHIPPING_WORDING,
            "catalog",
            "lookup",
            "Cannot read product prices and weights right now (catalog is unavailable); "
            "retry shortly.",
        ),
    ],
)
def test_each_caller_keeps_the_words_it_answered_with(
    wording: Wording, service: str, operation: str, detail: str
) -> None:
    assert wording.unavailable(service, operation) == detail
    assert wording.bad_answer == "unavailable" and wording.slug is None
