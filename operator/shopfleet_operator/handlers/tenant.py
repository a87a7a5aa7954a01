"""Bootstrapping a shop's tenant (admin user, settings, currency) through the platform."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib

import aiohttp
import orjson

from shopfleet.kit.contracts.tenants import TenantBootstrap
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

    async def bootstrap(self, kube: Kube, shop: Shop) -> bool:
        """Bootstrap the tenant; True when the platform created it (False: it existed)."""
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
            request = TenantBootstrap(
                shop=shop.name,
                display_name=shop.spec.display_name,
                currency=shop.spec.currency,
                admin_email=shop.spec.admin.email,
                admin_password=password,
            )
        except ValueError as exc:
            raise BootstrapError("InvalidTenant", str(exc), temporary=False) from None
        body = request.model_dump(mode="json")
        digest = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
        if self._done.get(shop.name) == digest:
            return False
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        try:
            async with (
                self._slots,
                self._session.post(
                    f"{config.platform_url}/internal/tenants",
                    json=body,
                    headers={"Authorization": f"Bearer {config.platform_token}"},
                ) as answer,
            ):
                text = await answer.text()
                status = answer.status
        except aiohttp.ClientError as exc:
            raise BootstrapError(
                "PlatformUnreachable", f"The platform is unreachable: {exc}", temporary=True
            ) from None
        if status >= 500 or status == 429:
            raise BootstrapError(
                "PlatformUnavailable", f"The platform answered {status}.", temporary=True
            )
        if status >= 400:
            detail = text
            with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
                detail = orjson.loads(text).get("detail") or text
            raise BootstrapError(
                "TenantRejected",
                f"The platform refused the tenant ({status}): {detail}"[:500],
                temporary=False,
            )
        self._done[shop.name] = digest
        with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
            return bool(orjson.loads(text).get("created", True))
        return True
