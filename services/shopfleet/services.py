"""The registry of services this platform runs: name → settings class and app factory.

`shopfleet up` runs all of them in one process; `shopfleet serve <name>` runs one. A new
service is added here and nowhere else. Imports are lazy so that naming a service does
not import every other one.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from shopfleet.kit.settings import ServiceSettings


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str  # the package holding app.py (create_app) and settings.py
    settings_class: str

    def settings_type(self) -> type[ServiceSettings]:
        return getattr(importlib.import_module(f"{self.module}.settings"), self.settings_class)

    def factory(self) -> Callable[..., FastAPI]:
        return importlib.import_module(f"{self.module}.app").create_app

    def build(self, settings: ServiceSettings, blocks: Any, **kwargs: Any) -> FastAPI:
        return self.factory()(settings, blocks, **kwargs)


SERVICES: dict[str, ServiceSpec] = {
    spec.name: spec
    for spec in (
        ServiceSpec("identity", "shopfleet.identity", "IdentitySettings"),
        ServiceSpec("categories", "shopfleet.categories", "CategoriesSettings"),
        ServiceSpec("catalog", "shopfleet.catalog", "CatalogSettings"),
        ServiceSpec("cart", "shopfleet.cart", "CartSettings"),
        ServiceSpec("orders", "shopfleet.orders", "OrdersSettings"),
        ServiceSpec("shipping", "shopfleet.shipping", "ShippingSettings"),
        ServiceSpec("payments", "shopfleet.payments", "PaymentsSettings"),
        ServiceSpec("notifications", "shopfleet.notifications", "NotificationsSettings"),
    )
}
