"""`shopfleet shops purge`: delete a retained shop's data through the platform's API.

A Shop deleted with `deletionPolicy: Retain` leaves its rows in every service (and its
tenant in identity). This removes them later, as the operator's finalizer does for
`Delete`: each service's `DELETE /internal/tenants/{shop}/data` through the gateway, with
the platform credential, identity last. A shop that still has a route is refused: its
Shop (or someone) still serves it.
"""

from __future__ import annotations

import contextlib

import httpx

from shopfleet.kit.tenant_data import PURGE_ORDER


class PurgeRefused(ValueError):
    pass


async def purge_shop(url: str, token: str, shop: str) -> dict[str, dict[str, int]]:
    """Rows deleted by service and table (an empty dict: nothing was left there)."""
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
        routes = await http.get("/internal/routes")
        _expect(routes, "read the route table")
        if shop in routes.json().get("shops", {}):
            raise PurgeRefused(
                f"Shop '{shop}' still has a route, so it is still served: delete its Shop "
                "(or its route) first."
            )
        deleted = {}
        for service in PURGE_ORDER:
            answer = await http.delete(f"/internal/tenants/{shop}/data/{service}")
            _expect(answer, f"delete the shop's data in {service}")
            deleted[service] = answer.json()["deleted"]
        return deleted


def _expect(answer: httpx.Response, what: str) -> None:
    if answer.status_code != 200:
        detail = answer.text[:300]
        with contextlib.suppress(ValueError, AttributeError):
            detail = answer.json().get("detail") or detail
        raise PurgeRefused(
            f"Could not {what}: the platform answered {answer.status_code}: {detail}"
        )
