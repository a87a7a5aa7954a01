"""The app's subscriptions as the double learns them: the app's `GET /dapr/subscribe`
answer and the declared `Subscription` resources, as broker `Route`s."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson
import structlog

from shopfleet.devtools.sidecar_double.broker import Route

if TYPE_CHECKING:
    from shopfleet.devtools.sidecar_double.double import SidecarDouble

log = structlog.get_logger("sidecar")


def routes_from(double: SidecarDouble, entries: list[dict[str, Any]]) -> list[Route]:
    """Routes from the app's `GET /dapr/subscribe` answer (v1 `route` or v2 `routes`)."""
    routes = []
    for entry in entries:
        pubsub = entry["pubsubname"]
        if pubsub not in double.brokers:
            log.error("sidecar.unknown_pubsub", pubsub=pubsub)
            continue
        meta = entry.get("metadata") or {}
        path = entry.get("route") or (entry.get("routes") or {}).get("default")
        if not path:
            continue
        routes.append(
            Route(
                pubsub=pubsub,
                topic=entry["topic"],
                path=path if path.startswith("/") else f"/{path}",
                # From a component, its consumerID (daprd's: the app-id unless it says
                # otherwise); pubsub.rabbitmq reads no subscription `consumerID`. In
                # flags mode (no component), the subscription's, else the app-id.
                consumer=double.brokers[pubsub].consumer_id
                or meta.get("consumerID")
                or double.config.app_id,
                dead_letter_topic=entry.get("deadLetterTopic") or None,
                max_attempts=int(
                    meta.get("maxDeliveryAttempts") or double.config.default_max_attempts
                ),
            )
        )
    return routes


async def read_app_subscriptions(double: SidecarDouble, http: aiohttp.ClientSession) -> list[Route]:
    """The app's `GET /dapr/subscribe`, asked until its port answers (up to
    `app_ready_timeout_s`); a 404 means no subscriptions."""
    url = f"http://{double.config.app_host}:{double.config.app_port}/dapr/subscribe"
    deadline = time.monotonic() + double.config.app_ready_timeout_s
    while True:
        try:
            async with http.get(
                url, headers=double.app_headers(), timeout=aiohttp.ClientTimeout(total=5)
            ) as r:
                if r.status == 404:
                    return []  # the app declares no subscriptions
                if r.status == 200:
                    entries = orjson.loads(await r.read())
                    break
        except (aiohttp.ClientError, OSError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"app not reachable at {url}")
        await asyncio.sleep(0.05)
    return routes_from(double, entries or [])


def declared_entry(doc: dict[str, Any]) -> dict[str, Any]:
    """A `Subscription` resource (v1alpha1 `route`, v2alpha1 `routes`) as a subscribe entry."""
    spec = doc.get("spec") or {}
    return {
        "pubsubname": spec.get("pubsubname"),
        "topic": spec.get("topic"),
        "route": spec.get("route"),
        "routes": spec.get("routes") or {},
        "deadLetterTopic": spec.get("deadLetterTopic"),
        "metadata": spec.get("metadata") or {},
    }
