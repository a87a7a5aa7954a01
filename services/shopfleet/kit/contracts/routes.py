"""The route table's schema: which shops exist, their hosts, tier and state.

The operator writes it (into a ConfigMap mounted into the gateway); the gateway reads it
(`shopfleet.gateway.routes`, which also keeps it in a file for the embedded platform and
`shopfleet dev`). The document is `{"shops": {"<slug>": {...Route...}}}`.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shopfleet.kit.contracts.ids import SHOP_SLUG_PATTERN

HOST_PATTERN = (
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hosts: list[str] = Field(default_factory=list, max_length=20)
    tier: Literal["shared", "dedicated"] = "shared"
    namespace: str | None = Field(default=None, description="Dedicated tier: the shop's namespace.")
    suspended: bool = False
    suspended_message: str = "This shop is temporarily closed."
    requests_per_minute: int | None = Field(
        default=None, ge=1, description="The shop's request quota."
    )

    def app_id(self, service: str) -> str:
        """The Dapr app-id of `service` for this shop (namespaced for dedicated shops)."""
        if self.tier == "dedicated" and self.namespace:
            return f"{service}.{self.namespace}"
        return service


class RouteTableDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shops: dict[str, Route] = Field(default_factory=dict)


def validate_route_table(raw: bytes) -> RouteTableDoc:
    """The document in `raw`, with every slug a shop slug and every host a DNS host name.

    Raises pydantic's ValidationError for a document of the wrong shape, ValueError for a
    bad slug or host."""
    doc = RouteTableDoc.model_validate_json(raw)
    slug_re, host_re = re.compile(SHOP_SLUG_PATTERN), re.compile(HOST_PATTERN)
    for slug, route in doc.shops.items():
        if not slug_re.match(slug):
            raise ValueError(f"shop slug '{slug}' is not a DNS label of at most 40 characters")
        for host in route.hosts:
            if not host_re.match(host.lower()):
                raise ValueError(f"shop '{slug}': '{host}' is not a DNS host name")
    return doc
