"""A shop's Secrets: its own (Stripe keys, store URLs, a dedicated shop's account), the
record of a dedicated shop's generated password, and the tokens of its callers."""

from __future__ import annotations

import base64

from shopfleet.kit.contracts.credentials import (
    APP_TOKEN,
    SERVICE_TOKEN,
    SHOP_PLATFORM_CREDENTIAL,
    derived_credential,
)
from shopfleet.kit.contracts.secrets import (
    SHOP_SECRET_NAME,
    STRIPE_SECRET_KEY,
    STRIPE_WEBHOOK_SECRET,
)
from shopfleet_operator.build.accounts import TenantAccount, pubsub_url, state_dsn
from shopfleet_operator.build.names import dedicated_namespace, home_namespace, labels, secret_name
from shopfleet_operator.config import Config
from shopfleet_operator.crd import Shop

# The shop's Secret holds its Stripe keys under the names payments reads (one definition).
SECRET_STRIPE_KEY = STRIPE_SECRET_KEY
SECRET_WEBHOOK = STRIPE_WEBHOOK_SECRET
SECRET_STATE_URL = "state-url"
SECRET_PUBSUB_URL = "pubsub-url"
SECRET_REDIS_PASSWORD = "redis-password"  # in the chart's connections Secret, as there
SECRET_REDIS_USERNAME = "redis-username"  # a dedicated shop's own Redis ACL user


# The password of the shop's own PostgreSQL role, in a dedicated shop's Secret: its
# services' databases are on the platform's server, owned by that role.
SECRET_POSTGRES_PASSWORD = "postgres-password"


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def shop_secret(
    shop: Shop, config: Config, values: dict[str, str], account: TenantAccount | None = None
) -> dict:
    """The shop's own Secret (Stripe keys, store URLs), read through Dapr's secret store. A
    dedicated shop's holds its own account's credentials (`account`), never the platform's."""
    data = dict(values)
    if shop.spec.tier == "dedicated":
        if account is None:
            raise ValueError("a dedicated shop's Secret needs the shop's own account")
        data[SECRET_PUBSUB_URL] = pubsub_url(config, account)
        data[SECRET_POSTGRES_PASSWORD] = account.password
        if shop.spec.state_store == "postgresql":
            data[SECRET_STATE_URL] = state_dsn(shop, config, account)
        else:
            # Its own statestore's Redis ACL user (handlers/accounts.py).
            data[SECRET_REDIS_USERNAME] = account.name
            data[SECRET_REDIS_PASSWORD] = account.password
    elif shop.spec.state_store == "postgresql":
        data[SECRET_STATE_URL] = config.postgres_url
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": secret_name(shop),
            "namespace": home_namespace(shop, config),
            "labels": labels(shop, "secret"),
        },
        "type": "Opaque",
        "data": {key: _b64(value) for key, value in sorted(data.items())},
    }


def account_secret_name(shop_name: str) -> str:
    return f"{SHOP_SECRET_NAME.format(shop=shop_name)}-account"


ACCOUNT_USERNAME, ACCOUNT_PASSWORD = "username", "password"


def account_secret(shop: Shop, config: Config, account: TenantAccount) -> dict:
    """Where the operator keeps a dedicated shop's generated password: its own namespace,
    which no tenant reads."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": account_secret_name(shop.name),
            "namespace": config.namespace,
            "labels": labels(shop, "account"),
        },
        "type": "Opaque",
        "data": {ACCOUNT_USERNAME: _b64(account.name), ACCOUNT_PASSWORD: _b64(account.password)},
    }


def callers_secret_name(shop: Shop) -> str:
    return f"{secret_name(shop)}-callers"


def _caller_token(shop: Shop, config: Config, purpose: str) -> str:
    """A dedicated shop's own credential, derived from the platform's: stable across
    reconciles (nothing to read back), different per shop and purpose, and revealing
    nothing of the platform credential it comes from (kit/contracts/credentials.py)."""
    assert config.platform_token is not None
    return derived_credential(config.platform_token, shop.name, purpose)


def callers_secret(shop: Shop, config: Config) -> dict:
    """The tokens of a dedicated shop's callers: `token`, which each sidecar sends its app
    (Dapr's app-token-secret), `service-token`, which its services add to their calls, and
    `platform-token`, which the gateway offers the shop's identity for platform calls."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": callers_secret_name(shop),
            "namespace": dedicated_namespace(shop),
            "labels": labels(shop, "secret"),
        },
        "type": "Opaque",
        "data": {
            "token": _b64(_caller_token(shop, config, APP_TOKEN)),
            SERVICE_TOKEN: _b64(_caller_token(shop, config, SERVICE_TOKEN)),
            SHOP_PLATFORM_CREDENTIAL: _b64(_caller_token(shop, config, SHOP_PLATFORM_CREDENTIAL)),
        },
    }
