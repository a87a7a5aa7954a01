"""Bootstrapping a shop's tenant (admin user, settings, currency) through the platform."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
from typing import Any

import aiohttp
import orjson

from shopfleet.kit.contracts.tenants import (
    IDENTITY_APP_HEADER,
    ROUTE_NOT_LOADED,
    TENANT_OWNED,
    TenantBootstrap,
    TenantOwner,
    TenantPublic,
    TenantQuotas,
)
from shopfleet.kit.tenant_data import PurgeResult, Usage
from shopfleet_operator.build.routing import route
from shopfleet_operator.config import Config
from shopfleet_operator.crd import SecretKeyRef, Shop
from shopfleet_operator.kube import Kube


class BootstrapError(Exception):
    def __init__(self, reason: str, message: str, *, temporary: bool) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.temporary = temporary


async def secret_value(kube: Kube, namespace: str, ref: SecretKeyRef) -> str | None:
    secret = await kube.get("Secret", namespace, ref.name)
    if secret is None:
        return None
    if (value := (secret.get("stringData") or {}).get(ref.key)) is not None:
        return value
    raw = (secret.get("data") or {}).get(ref.key)
    return base64.b64decode(raw).decode() if raw is not None else None


def owner_of(shop: Shop) -> TenantOwner | None:
    """The tenant's owner: this Shop (None without a uid, which only a test's Shop lacks)."""
    uid = shop.metadata.get("uid")
    return TenantOwner(namespace=shop.namespace, uid=uid) if uid else None


class Platform:
    """The platform's internal API; remembers what it bootstrapped (no repeated calls)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._session: aiohttp.ClientSession | None = None
        self._done: dict[str, str] = {}
        # Each bootstrap hashes a password: a hundred at once would queue past the timeout
        # and be retried while the platform still works on them.
        self._slots = asyncio.Semaphore(config.bootstrap_concurrency)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def forget(self, slug: str) -> None:
        self._done.pop(slug, None)

    async def bootstrap(self, kube: Kube, shop: Shop) -> TenantPublic | None:
        """Bootstrap the tenant as the Shop's own (its namespace and uid); what the platform
        answered, None when this exact bootstrap was done already. BootstrapError
        `TenantOwned` (permanent) when another namespace's Shop owns the tenant."""
        body = (await self._request(kube, shop)).model_dump(mode="json")
        digest = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
        if self._done.get(shop.name) == digest:
            return None
        status, text = await self._post_tenant(shop, body)
        tenant = bootstrap_answer(status, text)
        self._done[shop.name] = digest
        return tenant

    async def _request(self, kube: Kube, shop: Shop) -> TenantBootstrap:
        """The bootstrap the Shop asks for, once the platform is configured and the admin's
        password is there (BootstrapError otherwise)."""
        config = self.config
        if not (config.platform_url and config.platform_token):
            raise BootstrapError(
                "PlatformNotConfigured",
                "The operator has no platform to bootstrap the shop's tenant in: set "
                "SHOPFLEET_PLATFORM_URL and SHOPFLEET_PLATFORM_TOKEN.",
                temporary=False,
            )
        ref = shop.spec.admin.password_secret_ref
        password = await secret_value(kube, shop.namespace, ref)
        if password is None:
            raise BootstrapError(
                "AdminSecretMissing",
                f"Secret {shop.namespace}/{ref.name} with key '{ref.key}' (the admin's "
                "password) does not exist yet.",
                temporary=True,
            )
        try:
            return TenantBootstrap(
                shop=shop.name,
                display_name=shop.spec.display_name,
                currency=shop.spec.currency,
                admin_email=shop.spec.admin.email,
                admin_password=password,
                quotas=TenantQuotas(
                    products=shop.spec.quotas.products,
                    orders_per_day=shop.spec.quotas.orders_per_day,
                ),
                owner=owner_of(shop),
            )
        except ValueError as exc:
            raise BootstrapError("InvalidTenant", str(exc), temporary=False) from None

    async def _post_tenant(self, shop: Shop, body: dict[str, Any]) -> tuple[int, str]:
        """POST the bootstrap to the platform: its status and text (BootstrapError when it
        cannot be reached)."""
        config = self.config
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        try:
            async with (
                self._slots,
                self._session.post(
                    f"{config.platform_url}/internal/tenants",
                    json=body,
                    headers={
                        "Authorization": f"Bearer {config.platform_token}",
                        # The identity the tenant belongs in: the gateway refuses (503) while
                        # its route table still says another (a new dedicated shop's route
                        # not loaded yet would put the tenant in the pooled identity).
                        IDENTITY_APP_HEADER: route(shop).app_id("identity"),
                    },
                ) as answer,
            ):
                return answer.status, await answer.text()
        except aiohttp.ClientError as exc:
            raise BootstrapError(
                "PlatformUnreachable", f"The platform is unreachable: {exc}", temporary=True
            ) from None

    async def owner(self, name: str) -> TenantOwner | None:
        """The recorded owner of the shop's tenant; None: no tenant, no owner, or the
        platform cannot say (BootstrapError when it cannot be asked)."""
        status, body = await self._call("GET", f"/internal/tenants/{name}")
        if status != 200:
            return None
        try:
            return TenantPublic.model_validate_json(body).owner
        except ValueError:
            return None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        return self._session

    async def _call(self, method: str, path: str) -> tuple[int, bytes]:
        """One call of the platform's internal API; BootstrapError if it cannot be made."""
        config = self.config
        if not (config.platform_url and config.platform_token):
            raise BootstrapError(
                "PlatformNotConfigured",
                "The operator has no platform: set "
                "SHOPFLEET_PLATFORM_URL and SHOPFLEET_PLATFORM_TOKEN.",
                temporary=False,
            )
        headers = {"Authorization": f"Bearer {config.platform_token}"}
        try:
            async with self._client().request(
                method, f"{config.platform_url}{path}", headers=headers
            ) as answer:
                return answer.status, await answer.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise BootstrapError(
                "PlatformUnreachable", f"The platform is unreachable: {exc}", temporary=True
            ) from None

    async def usage(self, shop: Shop) -> Usage | None:
        """The shop's usage against its quotas; None when the platform cannot say now
        (the status keeps the last count)."""
        try:
            status, body = await self._call("GET", f"/internal/tenants/{shop.name}/usage")
        except BootstrapError:
            return None
        if status != 200:
            return None
        try:
            return Usage.model_validate_json(body)
        except ValueError:
            return None

    async def purge(self, shop: Shop, service: str) -> dict[str, int]:
        """Delete what `service` keeps for the shop (idempotent); rows deleted by table."""
        status, body = await self._call("DELETE", f"/internal/tenants/{shop.name}/data/{service}")
        if status == 200:
            try:
                return PurgeResult.model_validate_json(body).deleted
            except ValueError:
                pass
        # Retried whatever the answer: the Shop waits (its finalizer) until the data is gone,
        # and its status says why it waits.
        raise BootstrapError(
            "PurgeFailed",
            f"The platform did not delete the shop's data in {service} ({status}): "
            f"{body[:300].decode('utf-8', 'replace')}",
            temporary=True,
        )


def bootstrap_answer(status: int, text: str) -> TenantPublic:
    """The tenant the platform answered, or the BootstrapError its answer means."""
    if status == 503 and ROUTE_NOT_LOADED in text:
        raise BootstrapError(
            "RouteNotLoaded",
            f"The gateway does not route the shop to its identity yet: {text}"[:500],
            temporary=True,
        )
    if status >= 500 or status == 429:
        raise BootstrapError(
            "PlatformUnavailable", f"The platform answered {status}.", temporary=True
        )
    if status >= 400:
        detail, slug = text, ""
        with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
            problem = orjson.loads(text)
            detail, slug = problem.get("detail") or text, str(problem.get("type", ""))
        if status == 409 and slug.endswith(TENANT_OWNED):
            # Permanent: it changes only when that namespace takes it back or it is
            # purged; the drift timer asks again (one cheap refused call).
            raise BootstrapError("TenantOwned", detail[:1000], temporary=False)
        raise BootstrapError(
            "TenantRejected",
            f"The platform refused the tenant ({status}): {detail}"[:500],
            temporary=False,
        )
    try:
        return TenantPublic.model_validate_json(text)
    except ValueError:
        raise BootstrapError(
            "PlatformUnavailable",
            f"The platform answered {status}: {text[:300]}",
            temporary=True,
        ) from None
