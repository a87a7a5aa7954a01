"""Whether the gateway serves a shop's route: what `RoutesReady=True` means.

The route table reaches the gateway as a mounted ConfigMap, which the kubelet refreshes up
to a minute after the operator writes it, on each node in its own time. So the operator
asks every ready gateway replica (the addresses of the gateway Service's Endpoints) for the
shop's route as it serves it (`GET /internal/routes/<shop>`, with the platform token), and
the route counts as loaded only when each one answers the route the operator wrote.
"""

from __future__ import annotations

import asyncio

import aiohttp
from pydantic import ValidationError

from shopfleet.kit.contracts.routes import Route
from shopfleet_operator.config import Config
from shopfleet_operator.kube import Kube


def replicas(endpoints: dict | None) -> list[str]:
    """`host:port` of each ready gateway replica (its `http` port, else its first)."""
    found = []
    for subset in (endpoints or {}).get("subsets") or []:
        ports = subset.get("ports") or []
        port = next((p["port"] for p in ports if p.get("name") == "http"), None)
        if port is None and ports:
            port = ports[0]["port"]
        found += [f"{a['ip']}:{port}" for a in subset.get("addresses") or [] if port]
    return sorted(found)


class Gateways:
    """Asks the gateway's replicas what they serve (one HTTP session for the operator)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def askable(self) -> bool:
        """Without the platform token the replicas cannot be asked (nor will they be until
        the operator is configured: not worth retrying)."""
        return bool(self.config.platform_token)

    async def not_serving(self, kube: Kube, slug: str, route: Route) -> str | None:
        """None when every ready replica serves `route` for `slug`; else what is missing."""
        config = self.config
        endpoints = await kube.get("Endpoints", config.namespace, config.gateway_service)
        addresses = replicas(endpoints)
        if not addresses:
            return f"No replica of the gateway Service {config.gateway_service} is ready."
        answers = await asyncio.gather(*(self._serves(a, slug, route) for a in addresses))
        behind = [f"{a} ({why})" for a, why in zip(addresses, answers, strict=True) if why]
        if not behind:
            return None
        return (
            f"{len(behind)} of {len(addresses)} gateway replica(s) do not serve the route yet "
            f"(the kubelet refreshes the mounted route table within about a minute): "
            + ", ".join(behind)
        )[:1000]

    async def _serves(self, address: str, slug: str, route: Route) -> str | None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        try:
            async with self._session.get(
                f"http://{address}/internal/routes/{slug}",
                headers={"Authorization": f"Bearer {self.config.platform_token}"},
            ) as answer:
                if answer.status == 404:
                    return "no route"
                if answer.status != 200:
                    return f"answered {answer.status}"
                loaded = Route.model_validate_json(await answer.read())
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"unreachable: {exc.__class__.__name__}"
        except ValidationError:
            return "answered an unreadable route"
        return None if loaded == route else "an older route"
