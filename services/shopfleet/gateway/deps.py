"""What the gateway's own routes depend on: the route table, the invoker and the OpenAPI
aggregator, put on the platform app's state by `Gateway` (app.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from shopfleet.gateway.openapi import OpenApiAggregator
from shopfleet.gateway.routes import RouteFile
from shopfleet.kit.blocks import Invoker


async def _routes(request: Request) -> RouteFile:  # async: a def would run in a thread
    routes: RouteFile = request.app.state.routes
    return routes


async def _invoker(request: Request) -> Invoker:
    invoker: Invoker = request.app.state.invoker
    return invoker


async def _aggregator(request: Request) -> OpenApiAggregator:
    aggregator: OpenApiAggregator = request.app.state.aggregator
    return aggregator


RoutesDep = Annotated[RouteFile, Depends(_routes)]
InvokerDep = Annotated[Invoker, Depends(_invoker)]
AggregatorDep = Annotated[OpenApiAggregator, Depends(_aggregator)]
