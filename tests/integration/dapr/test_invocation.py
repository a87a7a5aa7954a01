"""Service invocation: caller -> its sidecar -> the target's sidecar -> the target app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from shopfleet.devtools.sidecar_double import SidecarDouble
from shopfleet.kit.blocks.dapr import DaprInvoker
from shopfleet.kit.blocks.ports import ServiceUnavailable
from tests.support.sidecar_double import AppServer, DoubleRun

from .conftest import sidecar_of

Serve = Callable[[FastAPI], Awaitable[AppServer]]


def catalog_app() -> FastAPI:
    app = FastAPI()
    app.state.release = asyncio.Event()  # set at teardown: /slow answers, the server stops

    @app.api_route("/internal/shops/{shop}/echo", methods=["GET", "POST", "PUT"])
    async def echo(shop: str, request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "method": request.method,
                "shop": shop,
                "query": request.url.query,
                "x_request_id": request.headers.get("x-request-id"),
                "caller": request.headers.get("dapr-caller-app-id"),
                "body": (await request.body()).decode(),
            },
            headers={"x-served-by": "catalog"},
        )

    @app.get("/internal/shops/{shop}/products/{product_id}")
    async def missing(shop: str, product_id: str) -> JSONResponse:
        return JSONResponse(
            {"type": "https://shopfleet.dev/problems/not-found", "status": 404},
            status_code=404,
            media_type="application/problem+json",
        )

    @app.get("/slow")
    async def slow() -> dict[str, str]:
        await app.state.release.wait()
        return {"late": "yes"}

    return app


@pytest.fixture
async def pair(
    double_run: DoubleRun, serve: Serve
) -> AsyncIterator[tuple[DaprInvoker, SidecarDouble, AppServer]]:
    """An `orders` app calling a `catalog` app, each with its own sidecar double."""
    app = catalog_app()
    target_app = await serve(app)
    target = await double_run.start("catalog", app_port=target_app.port, pubsubs=())
    caller = await double_run.start("orders", pubsubs=())
    invoker = DaprInvoker(sidecar_of(caller))
    yield invoker, target, target_app
    app.state.release.set()
    await invoker.close()


async def test_request_reaches_the_target_app_with_method_path_query_headers_and_body(
    pair: tuple[DaprInvoker, SidecarDouble, AppServer],
) -> None:
    invoker, _, _ = pair

    response = await invoker.invoke(
        "catalog",
        "POST",
        "/internal/shops/acme/echo",
        body=b'{"sku": "MUG"}',
        headers=[(b"content-type", b"application/json"), (b"x-request-id", b"req-42")],
        query="limit=2&cursor=abc%3D",
    )

    assert response.status == 200
    assert response.header("x-served-by") == "catalog"
    assert response.json() == {
        "method": "POST",
        "shop": "acme",
        "query": "limit=2&cursor=abc%3D",
        "x_request_id": "req-42",
        "caller": "orders",
        "body": '{"sku": "MUG"}',
    }


async def test_error_answer_of_the_target_comes_back_unchanged(
    pair: tuple[DaprInvoker, SidecarDouble, AppServer],
) -> None:
    invoker, _, _ = pair

    response = await invoker.invoke("catalog", "GET", "/internal/shops/acme/products/p-404")

    assert response.status == 404
    assert response.header("content-type") == "application/problem+json"
    assert response.json()["type"] == "https://shopfleet.dev/problems/not-found"


async def test_call_without_answer_in_time_is_unavailable_and_timed_out(
    pair: tuple[DaprInvoker, SidecarDouble, AppServer],
) -> None:
    invoker, _, _ = pair

    with pytest.raises(ServiceUnavailable) as caught:
        await invoker.invoke("catalog", "GET", "/slow", timeout_s=0.3)

    assert caught.value.timed_out is True
    assert caught.value.app_id == "catalog"
    # The sidecars stay usable after the abandoned call.
    response = await invoker.invoke("catalog", "GET", "/internal/shops/acme/echo")
    assert response.status == 200


async def test_unknown_app_is_unavailable_not_timed_out(
    pair: tuple[DaprInvoker, SidecarDouble, AppServer],
) -> None:
    invoker, _, _ = pair

    with pytest.raises(ServiceUnavailable) as caught:
        await invoker.invoke("inventory", "GET", "/anything")

    assert caught.value.timed_out is False
    assert "ERR_DIRECT_INVOKE" in caught.value.reason


async def test_target_app_down_is_unavailable(
    pair: tuple[DaprInvoker, SidecarDouble, AppServer],
) -> None:
    invoker, _, target_app = pair
    await target_app.stop()

    with pytest.raises(ServiceUnavailable) as caught:
        await invoker.invoke("catalog", "GET", "/internal/shops/acme/echo")

    assert caught.value.timed_out is False


async def test_own_sidecar_down_is_unavailable(double_run: DoubleRun) -> None:
    caller = await double_run.start("orders", pubsubs=())
    invoker = DaprInvoker(sidecar_of(caller))
    await caller.stop()
    try:
        with pytest.raises(ServiceUnavailable) as caught:
            await invoker.invoke("catalog", "GET", "/internal/shops/acme/echo")
    finally:
        await invoker.close()

    assert "unreachable" in caught.value.reason
