"""A shop's Dapr objects: its state store (either tier), a dedicated shop's pub/sub and
secret store, Configuration (access control) and Resiliency."""

from __future__ import annotations

import json

from shopfleet.kit.contracts.access import access_control
from shopfleet.kit.contracts.secrets import PLATFORM_SECRET
from shopfleet_operator.build.accounts import redis_key_prefix
from shopfleet_operator.build.names import dedicated_namespace, labels, secret_name, services
from shopfleet_operator.build.secrets import (
    SECRET_PUBSUB_URL,
    SECRET_REDIS_PASSWORD,
    SECRET_REDIS_USERNAME,
    SECRET_STATE_URL,
)
from shopfleet_operator.config import Config
from shopfleet_operator.crd import Shop

# The services that use a Dapr state store / secret store at all: the scopes of the
# platform's own `statestore` and `secretstore` (components/, whose scopes a test derives
# from the code; tests/unit/operator checks these equal them). A shop's components are
# loaded only by these, never by every pooled sidecar.
STATE_USERS = ("cart", "identity", "payments")
SECRET_USERS = ("identity", "payments")


def secrets_read(shop: Shop) -> dict[str, list[str]]:
    """The Secrets each of SECRET_USERS reads through the secret store, in its namespace:
    identity its signing-key encryption key, payments the shop's Stripe keys."""
    return {"identity": [PLATFORM_SECRET], "payments": [secret_name(shop)]}


# The services with platform endpoints (`kit.auth.PlatformCaller`), which the gateway
def _component(
    shop: Shop,
    namespace: str,
    name: str,
    type_: str,
    metadata: list[dict],
    scopes: list[str],
    *,
    ignore_errors: bool = False,
) -> dict:
    body: dict = {
        "apiVersion": "dapr.io/v1alpha1",
        "kind": "Component",
        "metadata": {"name": name, "namespace": namespace, "labels": labels(shop, "dapr")},
        "spec": {"type": type_, "version": "v1", "metadata": metadata},
        "auth": {"secretStore": "kubernetes"},
    }
    if ignore_errors:
        body["spec"]["ignoreErrors"] = True
    if scopes:
        body["scopes"] = scopes
    return body


def _state_metadata(shop: Shop, config: Config) -> tuple[str, list[dict]]:
    if shop.spec.state_store == "postgresql":
        return "state.postgresql", [
            {
                "name": "connectionString",
                "secretKeyRef": {"name": secret_name(shop), "key": SECRET_STATE_URL},
            },
            {"name": "tableName", "value": f"state_{shop.name.replace('-', '_')}"},
        ]
    # The chart turns Redis auth on by default: the password comes from a Secret of the
    # component's own namespace (Dapr resolves secretKeyRefs there): the chart's
    # connections Secret on the platform, the shop's own Secret in a dedicated namespace.
    # A missing key resolves to no password (Redis without auth).
    if shop.spec.tier == "dedicated":
        # As the shop's own ACL user, on keys of a prefix of its own (the pattern the user
        # is limited to).
        own = {"name": secret_name(shop)}
        return "state.redis", [
            {"name": "redisHost", "value": config.redis_host},
            {"name": "redisUsername", "secretKeyRef": {**own, "key": SECRET_REDIS_USERNAME}},
            {"name": "redisPassword", "secretKeyRef": {**own, "key": SECRET_REDIS_PASSWORD}},
            {"name": "keyPrefix", "value": redis_key_prefix(shop.name, config)},
        ]
    return "state.redis", [
        {"name": "redisHost", "value": config.redis_host},
        {
            "name": "redisPassword",
            "secretKeyRef": {"name": config.connections_secret, "key": SECRET_REDIS_PASSWORD},
        },
        {"name": "keyPrefix", "value": "name"},
    ]


def shared_components(shop: Shop, config: Config) -> list[dict]:
    """A shared-tier shop's Dapr state store, scoped to the pooled services that use a state
    store, and `ignoreErrors`: one shop's broken store must not stop their sidecars."""
    type_, metadata = _state_metadata(shop, config)
    if shop.spec.state_store == "redis":
        metadata = [
            *(item for item in metadata if item["name"] != "keyPrefix"),
            {"name": "keyPrefix", "value": shop.name},
        ]
    name = f"shop-{shop.name}-state"
    return [
        _component(
            shop, config.namespace, name, type_, metadata, list(STATE_USERS), ignore_errors=True
        )
    ]


# A dedicated shop's pub/sub behaves as the platform's (components/pubsub-rabbitmq.yaml,
# whose reasons are written there; tests/unit/operator checks the two agree): durable
# queues that outlive their consumers, persistent messages, publisher confirms, manual
# acks, dead-lettering, bounded queues.
PUBSUB_METADATA: tuple[tuple[str, str], ...] = (
    ("durable", "true"),
    ("deletedWhenUnused", "false"),
    ("deliveryMode", "2"),
    ("publisherConfirm", "true"),
    ("autoAck", "false"),
    ("requeueInFailure", "false"),
    ("enableDeadLetter", "true"),
    ("maxLen", "200000"),
    ("maxLenBytes", "536870912"),
    ("concurrencyMode", "parallel"),
    ("prefetchCount", "20"),
    ("exchangeKind", "fanout"),
    ("reconnectWaitSeconds", "5"),
    ("heartBeat", "10s"),
    ("clientName", "{podName}"),
)
DEDICATED_CONSUMER_ID = "{namespace}"


def dedicated_components(shop: Shop, config: Config) -> list[dict]:
    ns = dedicated_namespace(shop)
    type_, metadata = _state_metadata(shop, config)
    return [
        _component(shop, ns, "statestore", type_, metadata, []),
        _component(
            shop,
            ns,
            "pubsub",
            "pubsub.rabbitmq",
            [
                {
                    "name": "connectionString",
                    "secretKeyRef": {"name": secret_name(shop), "key": SECRET_PUBSUB_URL},
                },
                # Queues of the shop's own: daprd makes `{namespace}` `<namespace>.<app-id>`,
                # so the queue is `shop-<name>.<app-id>-...`, never a pooled service's
                # `<app-id>-<topic>`; and a `{namespace}` anywhere in the metadata scopes
                # the topics too (published and subscribed as `<namespace><topic>`), so the
                # shop's events and the platform's never meet on the shared broker.
                {"name": "consumerID", "value": DEDICATED_CONSUMER_ID},
                *({"name": name, "value": value} for name, value in PUBSUB_METADATA),
            ],
            [],
        ),
        # Read with the pod's ServiceAccount token (hence automountServiceAccountToken),
        # by the services that read secrets only.
        _component(shop, ns, "secretstore", "secretstores.kubernetes", [], list(SECRET_USERS)),
    ]


def dapr_configuration(shop: Shop, config: Config) -> dict:
    """The Configuration the shop's sidecars name (`dapr.io/config`): the platform's spec
    (the chart's: tracing, metrics, Dapr's built-in secret store closed to the apps), with
    the shop's own access control."""
    spec = (
        json.loads(config.dapr_configuration)
        if config.dapr_configuration
        else {
            "metrics": {"enabled": True},
            "secrets": {"scopes": [{"storeName": "kubernetes", "defaultAccess": "deny"}]},
        }
    )
    # The platform's gateway calls in from the platform namespace; the shop's own services
    # call each other inside this one.
    spec["accessControl"] = access_control(
        lambda app: config.namespace if app == "gateway" else dedicated_namespace(shop)
    )
    return {
        "apiVersion": "dapr.io/v1alpha1",
        "kind": "Configuration",
        "metadata": {
            "name": config.dapr_config,
            "namespace": dedicated_namespace(shop),
            "labels": labels(shop, "dapr"),
        },
        "spec": spec,
    }


RESILIENCY_NAME = "shopfleet"  # as components/resiliency.yaml names the platform's


def resiliency(shop: Shop, config: Config) -> list[dict]:
    """The platform's Resiliency (timeouts, retries, circuit breakers), for the shop's own
    services; none when the operator was given none."""
    if not config.dapr_resiliency:
        return []
    return [
        {
            "apiVersion": "dapr.io/v1alpha1",
            "kind": "Resiliency",
            "metadata": {
                "name": RESILIENCY_NAME,
                "namespace": dedicated_namespace(shop),
                "labels": labels(shop, "dapr"),
            },
            "scopes": services(),
            "spec": json.loads(config.dapr_resiliency),
        }
    ]
