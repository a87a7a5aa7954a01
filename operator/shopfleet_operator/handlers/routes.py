"""The gateway's route table in its ConfigMap, updated with optimistic concurrency."""

from __future__ import annotations

import asyncio
import random

import orjson
from pydantic import ValidationError

from shopfleet.kit.contracts.routes import Route, RouteTableDoc
from shopfleet_operator.build.routing import route_configmap, with_route
from shopfleet_operator.config import Config
from shopfleet_operator.kube import ApiError, Kube

ATTEMPTS = 8


class HostTaken(Exception):
    pass


class RouteConflict(Exception):
    """The ConfigMap kept changing under us; try again later."""


def read_doc(configmap: dict | None, config: Config) -> RouteTableDoc:
    raw = ((configmap or {}).get("data") or {}).get(config.routes_key)
    if not raw:
        return RouteTableDoc()
    try:
        return RouteTableDoc.model_validate(orjson.loads(raw))
    except (ValidationError, orjson.JSONDecodeError):
        return RouteTableDoc()  # a broken table is replaced by a good one


async def put_route(kube: Kube, config: Config, slug: str, entry: Route | None) -> bool:
    """Set (or remove) one shop's route; True when the table changed."""
    labels = route_configmap(RouteTableDoc(), config)["metadata"]["labels"]
    where = ("ConfigMap", config.namespace, config.routes_configmap)
    for attempt in range(ATTEMPTS):
        # The watch-fed copy first; after a conflict, the API server's.
        current = await (kube.read(*where, labels) if attempt == 0 else kube.get(*where))
        doc = read_doc(current, config)
        if entry is not None:
            taken = sorted(
                host
                for other, route in doc.shops.items()
                if other != slug
                for host in route.hosts
                if host in entry.hosts
            )
            if taken:
                raise HostTaken(f"Host(s) {', '.join(taken)} already belong to another shop.")
        new = with_route(doc, slug, entry)
        if current is not None and new == doc:
            return False
        desired = route_configmap(new, config)
        try:
            if current is None:
                await kube.create(desired)
            else:
                version = current["metadata"].get("resourceVersion")
                desired["metadata"]["resourceVersion"] = version  # the precondition
                await kube.patch("ConfigMap", config.namespace, config.routes_configmap, desired)
            return True
        except ApiError as exc:
            if exc.status != 409:
                raise
            # Many shops reconciled at once all write this one object: spread the retries.
            await asyncio.sleep(random.uniform(0, 0.02 * (attempt + 1)))
    raise RouteConflict("The route table changed under us repeatedly; retrying later.")
