"""A shop's own Stripe account, end to end across the operator and payments: the Secret the
operator writes for the shop (from the Shop's `payments.stripeSecretRef`) is read by
payments' real path for a cluster (`DaprSecrets`, over a secret store answering as Dapr's
`secretstores.kubernetes` does: the Secret `shop-<shop>`'s data map), and the payment is
made in the shop's account, not the platform's. The Stripe emulator keeps one account per
secret key, as Stripe does, so the test asks each key what it can see."""

from __future__ import annotations

import base64
from typing import Any

import grpc
import pytest
import stripe

from shopfleet.kit.blocks.dapr.secrets import DaprSecrets
from shopfleet.payments.emulator import StripeEmulator
from shopfleet_operator.build.accounts import TenantAccount
from shopfleet_operator.build.secrets import shop_secret
from shopfleet_operator.config import Config
from shopfleet_operator.crd import Shop
from shopfleet_operator.handlers.readiness import secret_values
from tests.integration.payments.conftest import StartPayments

SHOP_KEY, SHOP_WEBHOOK_SECRET = "sk_test_the_shops_own_account", "whsec_the_shops_own"


class Kube:
    """The API as the operator reads it: a namespace's Secrets."""

    def __init__(self, *secrets: dict[str, Any]) -> None:
        self.secrets = {(s["metadata"]["namespace"], s["metadata"]["name"]): s for s in secrets}

    async def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        assert kind == "Secret"
        return self.secrets.get((namespace, name))


class KubernetesSecretStore:
    """A sidecar whose secret store is Dapr's `secretstores.kubernetes` over one namespace:
    GetSecret(key=<Secret name>) answers the Secret's data, decoded; a missing Secret is
    daprd's INTERNAL "... not found"."""

    call_timeout_s = 5.0

    def __init__(self, secrets: list[dict[str, Any]]) -> None:
        self.secrets = {s["metadata"]["name"]: s for s in secrets}

    def acquire(self) -> None:
        pass

    async def release(self) -> None:
        pass

    async def client(self) -> KubernetesSecretStore:
        return self

    async def get_secret(self, store_name: str, key: str) -> Any:
        assert store_name == "secretstore"
        secret = self.secrets.get(key)
        if secret is None:
            raise grpc.aio.AioRpcError(
                grpc.StatusCode.INTERNAL,
                grpc.aio.Metadata(),
                grpc.aio.Metadata(),
                details=f'failed getting secret with key {key}: secrets "{key}" not found',
            )
        data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}

        class Response:
            pass

        response = Response()
        response.secret = data  # type: ignore[attr-defined]
        return response


async def operators_secret(slug: str, tier: str) -> dict[str, Any]:
    """The shop's Secret as the operator writes it, for a Shop naming its Stripe Secret."""
    config = Config()
    shop = Shop.model_validate(
        {
            "metadata": {"name": slug, "namespace": "shops"},
            "spec": {
                "displayName": "Own account",
                "tier": tier,
                "admin": {"email": "a@example.com", "passwordSecretRef": {"name": "a", "key": "p"}},
                "payments": {
                    "stripeSecretRef": {"name": "stripe", "key": "api-key"},
                    "webhookSecretRef": {"name": "stripe", "key": "webhook-secret"},
                },
            },
        }
    )
    users = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "stripe", "namespace": "shops"},
        "stringData": {"api-key": SHOP_KEY, "webhook-secret": SHOP_WEBHOOK_SECRET},
    }
    values, check = await secret_values(Kube(users), shop)  # type: ignore[arg-type]
    assert (check.ok, check.reason) == (True, "StripeKeyConfigured")
    return shop_secret(shop, config, values, TenantAccount("tenant", "tenant-pw"))


async def visible(emulator: StripeEmulator, key: str, intent_id: str) -> bool:
    client = stripe.StripeClient(key, base_addresses={"api": emulator.url})
    try:
        await client.v1.payment_intents.retrieve_async(intent_id)
    except stripe.InvalidRequestError as exc:
        assert exc.http_status == 404, exc
        return False
    return True


@pytest.mark.parametrize("tier", ["shared", "dedicated"])
async def test_a_shops_own_stripe_key_from_the_operators_secret_takes_its_payments(
    start_payments: StartPayments, stripe_emulator: StripeEmulator, shop: str, tier: str
) -> None:
    secret = await operators_secret(shop, tier)
    # Shops with a key go to stripe_api_base: the emulator here, standing for Stripe.
    payments = await start_payments(stripe_api_base=stripe_emulator.url)
    # payments' blocks as in a cluster: its secret store reads the shop's Secret.
    payments.blocks.secrets = DaprSecrets(KubernetesSecretStore([secret]))  # type: ignore[arg-type]

    made = await payments.intent(payments.order())
    assert made.status_code == 201, made.text
    intent_id = made.json()["provider_ref"]

    platform_key = f"sk_test_emulated_{shop}"  # the account a shop without its own key uses
    assert await visible(stripe_emulator, SHOP_KEY, intent_id), (
        f"the intent is not in the shop's own Stripe account; the operator's Secret has keys "
        f"{sorted(secret['data'])}"
    )
    assert not await visible(stripe_emulator, platform_key, intent_id)
    assert await payments.app.state.stripe.webhook_secret(shop) == SHOP_WEBHOOK_SECRET
