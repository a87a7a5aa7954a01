"""Identity as other services call it: a shop's settings (catalog, orders' and catalog's
quotas, shipping), and the token verifier's feeds (its signing keys, changed sessions)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

from shopfleet.kit.blocks import Invoker
from shopfleet.kit.contracts.clients.base import ServiceClient, Wording
from shopfleet.kit.contracts.sessions import SESSIONS_PATH, SessionChanges
from shopfleet.kit.contracts.tenants import SETTINGS_PATH, ShopSettings
from shopfleet.kit.refusals import NotFoundRefusal

JWKS_PATH = "/.well-known/jwks.json"


class KeySet(BaseModel):
    """Identity's JSON Web Key Set: the keys its tokens are signed with."""

    keys: list[dict[str, Any]] = Field(default_factory=list)


def cannot_read_shop(service: str, purpose: str) -> str:
    return f"Cannot read this shop's {purpose} right now ({service} is unavailable); retry shortly."


# Every caller of identity answers alike: the shop's `purpose` (the operation) is unreadable.
IDENTITY_WORDING = Wording(unavailable=cannot_read_shop, bad_answer="unavailable")


class IdentityClient(ServiceClient):
    service = "identity"

    def __init__(
        self,
        invoker: Invoker,
        *,
        timeout_s: float,
        app_id: str | None = None,
        wording: Wording = IDENTITY_WORDING,
    ) -> None:
        super().__init__(invoker, timeout_s=timeout_s, app_id=app_id, wording=wording)

    async def settings(self, shop: str, *, purpose: str = "settings") -> ShopSettings:
        """The shop's settings; `purpose` names what the caller wants them for (its
        refusal says so). A shop identity does not know is a 404 `shop-not-found`."""
        response = await self.call(purpose, "GET", SETTINGS_PATH.format(shop=shop))
        if response.status == 404:
            raise NotFoundRefusal(f"Shop '{shop}' does not exist.", slug="shop-not-found")
        return self.parse(ShopSettings, response, purpose)

    async def key_set(self) -> dict[str, Any]:
        """The signing keys, as the JWKS document identity serves."""
        key_set = self.parse(KeySet, await self.call("keys", "GET", JWKS_PATH), "keys")
        return key_set.model_dump()

    async def session_changes(
        self, since: float, *, headers: Sequence[tuple[bytes, bytes]] = ()
    ) -> SessionChanges:
        """Sessions changed since `since` (unix seconds); `headers` carry the credential
        the feed takes (it names users and roles)."""
        response = await self.call(
            "sessions", "GET", SESSIONS_PATH, headers=headers, query=f"since={since!r}"
        )
        return self.parse(SessionChanges, response, "sessions")
