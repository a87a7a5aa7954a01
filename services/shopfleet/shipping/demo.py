"""Default shipping methods for a new shop (the embedded demo shop gets them at start).

Seeding is a client of the platform's public API (see `shopfleet.seed`): it creates the
methods with the shop admin's token, and only for a shop that has none, so a second start,
or a shop whose admin changed its methods, is left alone. Amounts are minor units of the
shop's currency (the demo shop's is EUR).
"""

from __future__ import annotations

from typing import Any

import httpx

DEFAULT_METHODS: list[dict[str, Any]] = [
    {
        "id": "standard",
        "name": "Standard shipping",
        "carrier": "DHL",
        "base_amount": 490,
        "per_kg_amount": 100,
        "per_item_amount": 0,
        "free_above_amount": 5000,
        "estimated_days_min": 2,
        "estimated_days_max": 5,
        "countries": [],
    },
    {
        "id": "express",
        "name": "Express",
        "carrier": "DHL Express",
        "base_amount": 1290,
        "per_kg_amount": 200,
        "per_item_amount": 0,
        "free_above_amount": None,
        "estimated_days_min": 1,
        "estimated_days_max": 2,
        "countries": ["DE", "AT", "CH", "NL", "BE", "LU", "FR", "DK"],
    },
]


class SeedError(RuntimeError):
    pass


async def seed_default_methods(
    http: httpx.AsyncClient, api: str, admin: dict[str, str]
) -> list[str]:
    """Create the default methods through `api` (e.g. `/shops/demo/api/v1`) if the shop has
    no shipping method at all (active or not); returns the ids created."""
    existing = await http.get(
        f"{api}/shipping/methods", params={"include_inactive": "true"}, headers=admin
    )
    if existing.status_code != 200:
        raise SeedError(f"GET shipping methods: {existing.status_code} {existing.text[:300]}")
    if existing.json()["items"]:
        return []
    created: list[str] = []
    for method in DEFAULT_METHODS:
        answer = await http.post(f"{api}/shipping/methods", json=method, headers=admin)
        if answer.status_code == 201:
            created.append(method["id"])
        elif answer.status_code != 409:  # 409: made concurrently, fine
            raise SeedError(f"POST shipping method: {answer.status_code} {answer.text[:300]}")
    return created
