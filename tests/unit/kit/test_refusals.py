"""A rule's refusal, raised with no HTTP in it, is answered as one problem+json per kind."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from shopfleet.kit.errors import install_problem_handlers, problem_for
from shopfleet.kit.refusals import (
    DeclinedRefusal,
    FieldConflict,
    ForbiddenRefusal,
    InvalidRefusal,
    LimitRefusal,
    NotFoundRefusal,
    Refusal,
    StateRefusal,
    UnauthenticatedRefusal,
    UnavailableRefusal,
    UpstreamRefusal,
    WrongFieldRefusal,
)


class OrderNotPayable(StateRefusal):
    """A service's own kind keeps its family's status."""

    default_slug = "order-not-payable"


CASES = [
    (NotFoundRefusal("No order o1 here."), 404, "not-found", None),
    (ForbiddenRefusal("Only an Admin may."), 403, "forbidden", None),
    (StateRefusal("Already paid.", slug="order-paid"), 409, "order-paid", None),
    (OrderNotPayable("It is cancelled.", order_status="cancelled"), 409, "order-not-payable", None),
    (
        LimitRefusal("Too many today.", retry_after_s=60, slug="quota-exceeded"),
        429,
        "quota-exceeded",
        "60",
    ),
    (UnavailableRefusal("Catalog is down; retry."), 503, "service-unavailable", "5"),
    (UpstreamRefusal("Orders answered 500."), 502, "bad-gateway", None),
    (WrongFieldRefusal("body.current_password", "is not yours"), 400, "bad-request", None),
    (UnauthenticatedRefusal("Wrong email or password."), 401, "unauthenticated", None),
    (Refusal("Some rule."), 409, "refused", None),
]


def app_refusing(refusal: Exception) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/x")
    async def refuse() -> None:
        raise refusal

    return app


@pytest.mark.parametrize(("refusal", "status", "slug", "retry"), CASES)
async def test_each_kind_of_refusal_has_its_status_and_slug(
    refusal: Refusal, status: int, slug: str, retry: str | None
) -> None:
    transport = httpx.ASGITransport(app=app_refusing(refusal))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answer = await client.get("/x")
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"
    body = answer.json()
    assert body["type"] == f"https://shopfleet.io/problems/{slug}"
    assert body["detail"] == refusal.detail and body["instance"] == "/x"
    assert answer.headers.get("retry-after") == retry
    for key, value in refusal.extra.items():
        assert body[key] == value


async def test_an_invalid_value_names_the_field_to_fix() -> None:
    refusal = InvalidRefusal("lines[0].quantity", "at most 99 of one product")
    transport = httpx.ASGITransport(app=app_refusing(refusal))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        body = (await client.get("/x")).json()
    assert body["status"] == 422 and body["title"] == "Your request has invalid fields"
    assert body["errors"] == [
        {
            "field": "lines[0].quantity",
            "message": "at most 99 of one product",
            "type": "value_error",
        }
    ]
    assert "lines[0].quantity" in body["detail"]


async def test_a_taken_value_is_a_conflict_naming_the_field() -> None:
    refusal = FieldConflict("body.slug", "'shoes' is taken; choose another", slug="slug-taken")
    transport = httpx.ASGITransport(app=app_refusing(refusal))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        body = (await client.get("/x")).json()
    assert (body["status"], body["title"]) == (409, "Conflict")
    assert body["type"] == "https://shopfleet.io/problems/slug-taken"
    assert body["detail"] == "Fix this field: body.slug: 'shoes' is taken; choose another."
    assert body["errors"] == [
        {"field": "body.slug", "message": "'shoes' is taken; choose another", "type": "value_error"}
    ]


async def test_a_field_conflict_keeps_its_own_detail_and_error_type() -> None:
    class SkuTaken(FieldConflict):
        error_type = "conflict"

    refusal = SkuTaken("body.sku", "taken", detail="That SKU is taken.", slug="sku-taken")
    transport = httpx.ASGITransport(app=app_refusing(refusal))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        body = (await client.get("/x")).json()
    assert (body["status"], body["detail"]) == (409, "That SKU is taken.")
    assert body["type"] == "https://shopfleet.io/problems/sku-taken"
    assert body["errors"] == [{"field": "body.sku", "message": "taken", "type": "conflict"}]


def test_an_extra_cannot_replace_a_problems_own_member() -> None:
    with pytest.raises(ValueError, match="status"):
        StateRefusal("It is cancelled.", status="cancelled")


async def test_a_declined_payment_is_402_and_waiting_alone_may_not_help() -> None:
    declined = DeclinedRefusal("The card was declined.", slug="card-declined", code="x")
    unconfigured = UnavailableRefusal("No Stripe key here.", retry_after_s=None)
    for refusal, status, retry in ((declined, 402, None), (unconfigured, 503, None)):
        transport = httpx.ASGITransport(app=app_refusing(refusal))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            answer = await client.get("/x")
        assert answer.status_code == status
        assert answer.headers.get("retry-after") == retry
        assert answer.json()["detail"] == refusal.detail


def test_the_problem_for_a_refusal_is_what_a_client_gets() -> None:
    problem = problem_for(UnavailableRefusal("Catalog is down; retry."))
    assert (problem.status, problem.slug, problem.headers) == (
        503,
        "service-unavailable",
        {"Retry-After": "5"},
    )
    invalid = problem_for(InvalidRefusal("body.currency", "must be EUR"))
    assert invalid.title == "Your request has invalid fields"
    assert invalid.extra["errors"] == [
        {"field": "body.currency", "message": "must be EUR", "type": "value_error"}
    ]


def test_a_wrong_field_is_a_400_naming_it_and_a_failed_login_a_bearer_challenge() -> None:
    wrong = problem_for(WrongFieldRefusal("query.cursor", "not a cursor", slug="bad-cursor"))
    assert (wrong.status, wrong.slug, wrong.title) == (400, "bad-cursor", "Bad Request")
    assert wrong.extra["errors"] == [
        {"field": "query.cursor", "message": "not a cursor", "type": "value_error"}
    ]
    unauthenticated = problem_for(UnauthenticatedRefusal("Log in again."))
    assert unauthenticated.headers == {"WWW-Authenticate": 'Bearer realm="shopfleet"'}


class Owned(StateRefusal):
    title = "Owned by another"


def test_a_refusal_may_name_its_title() -> None:
    assert problem_for(Owned("Someone else's.")).title == "Owned by another"
    assert problem_for(StateRefusal("Already paid.")).title == "Conflict"
