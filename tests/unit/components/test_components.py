"""components/: every Dapr resource parses, has the fields Dapr requires, uses only documented
metadata names (Dapr ignores a misspelt one silently), keeps secrets in secretKeyRefs,
scopes only real app-ids (and every app that uses a block), and its Resiliency points at
real apps, components and policies."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from shopfleet.kit.blocks import Subscription
from shopfleet.services import SERVICES

ROOT = Path(__file__).resolve().parents[3]
COMPONENTS = ROOT / "components"
SOURCES = ROOT / "services" / "shopfleet"

# The parts of DESIGN §1 that run as Dapr apps. Those not yet in SERVICES are planned; a
# service added to SERVICES must be one of these (or this list grows with it).
APP_IDS = {
    "gateway",
    "identity",
    "catalog",
    "categories",
    "cart",
    "orders",
    "payments",
    "shipping",
    "notifications",
}

# Per component type and version: the metadata Dapr requires, and every field its
# reference documents (docs.dapr.io, components-reference), plus the runtime's own
# `keyPrefix` for state stores.
SPECS: dict[tuple[str, str], dict[str, set[str]]] = {
    ("state.redis", "v1"): {
        "required": {"redisHost"},
        "known": {
            "redisHost",
            "redisPassword",
            "redisUsername",
            "useEntraID",
            "enableTLS",
            "clientCert",
            "clientKey",
            "maxRetries",
            "maxRetryBackoff",
            "failover",
            "sentinelMasterName",
            "redeliverInterval",
            "processingTimeout",
            "redisType",
            "redisDB",
            "redisMaxRetries",
            "redisMinRetryInterval",
            "redisMaxRetryInterval",
            "dialTimeout",
            "readTimeout",
            "writeTimeout",
            "poolSize",
            "poolTimeout",
            "maxConnAge",
            "minIdleConns",
            "idleCheckFrequency",
            "idleTimeout",
            "ttlInSeconds",
            "queryIndexes",
            "actorStateStore",
            "keyPrefix",
        },
    },
    ("state.postgresql", "v2"): {
        "required": {"connectionString"},
        "known": {
            "connectionString",
            "host",
            "hostaddr",
            "port",
            "database",
            "user",
            "password",
            "sslRootCert",
            "timeout",
            "tablePrefix",
            "metadataTableName",
            "cleanupInterval",
            "maxConns",
            "connectionMaxIdleTime",
            "queryExecMode",
            "actorStateStore",
            "useAzureAD",
            "keyPrefix",
        },
    },
    ("pubsub.rabbitmq", "v1"): {
        "required": {"connectionString"},
        "known": {
            "connectionString",
            "protocol",
            "hostname",
            "username",
            "password",
            "consumerID",
            "durable",
            "deletedWhenUnused",
            "autoAck",
            "deliveryMode",
            "requeueInFailure",
            "prefetchCount",
            "reconnectWaitSeconds",
            "concurrencyMode",
            "publisherConfirm",
            "enableDeadLetter",
            "maxLen",
            "maxLenBytes",
            "exchangeKind",
            "saslExternal",
            "ttlInSeconds",
            "clientName",
            "heartBeat",
            "caCert",
            "clientCert",
            "clientKey",
        },
    },
    ("secretstores.kubernetes", "v1"): {
        "required": set(),
        "known": {"defaultNamespace", "kubeconfigPath"},
    },
}
SECRET_FIELDS = {"redisPassword", "connectionString", "password", "clientKey"}

# Our decisions that must stay written out (a Dapr default changing must not change them).
PINNED = {
    "pubsub.rabbitmq": {
        "durable": "true",
        "deletedWhenUnused": "false",
        "autoAck": "false",
        "deliveryMode": "2",
        "publisherConfirm": "true",
        "requeueInFailure": "false",
        "enableDeadLetter": "true",
        "concurrencyMode": "parallel",
    },
    "state.redis": {"keyPrefix": "appid"},
    "state.postgresql": {"keyPrefix": "appid"},
}
PRESENT = {"pubsub.rabbitmq": {"maxLen", "prefetchCount"}}

# What a service's code does with a block → the component it needs to be scoped to.
USES = {
    "statestore": re.compile(r"blocks\.state\b"),
    "pubsub": re.compile(r"OutboxRelay\(|pubsub\.subscribe\("),
    "secretstore": re.compile(r"blocks\.secrets\b"),
}

DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")


def load_all() -> dict[str, dict[str, Any]]:
    docs = {}
    for path in sorted(COMPONENTS.glob("*.yaml")):
        loaded = list(yaml.safe_load_all(path.read_text()))
        assert len(loaded) == 1, f"{path.name}: one resource per file"
        docs[path.name] = loaded[0]
    return docs


DOCS = load_all()
COMPONENT_DOCS = {name: doc for name, doc in DOCS.items() if doc["kind"] == "Component"}


def by_kind(kind: str) -> dict[str, Any]:
    [doc] = [doc for doc in DOCS.values() if doc["kind"] == kind]
    return doc


def metadata_of(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in doc["spec"].get("metadata") or []}


def test_the_platform_has_each_resource() -> None:
    assert set(DOCS) == {
        "statestore-redis.yaml",
        "statestore-postgresql.yaml",
        "pubsub-rabbitmq.yaml",
        "secretstore-kubernetes.yaml",
        "resiliency.yaml",
        "configuration.yaml",
    }
    assert (COMPONENTS / "README.md").read_text().count("keyPrefix") >= 1


@pytest.mark.parametrize("filename", sorted(DOCS))
def test_every_resource_has_api_version_kind_and_name(filename: str) -> None:
    doc = DOCS[filename]
    assert doc["apiVersion"] == "dapr.io/v1alpha1"
    assert doc["kind"] in {"Component", "Resiliency", "Configuration"}
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", doc["metadata"]["name"])
    assert isinstance(doc["spec"], dict)


@pytest.mark.parametrize("filename", sorted(COMPONENT_DOCS))
def test_components_carry_the_metadata_dapr_requires_and_only_documented_fields(
    filename: str,
) -> None:
    doc = COMPONENT_DOCS[filename]
    spec = doc["spec"]
    key = (spec["type"], spec["version"])
    assert key in SPECS, f"{filename}: no reference table for {key}"
    items = metadata_of(doc)
    assert len(items) == len(spec.get("metadata") or []), f"{filename}: a field twice"
    missing = SPECS[key]["required"] - set(items)
    unknown = set(items) - SPECS[key]["known"]
    assert not missing, f"{filename}: required metadata missing: {missing}"
    assert not unknown, f"{filename}: not a documented field of {key}: {unknown}"
    for name, item in items.items():
        sources = {"value", "secretKeyRef"} & set(item)
        assert len(sources) == 1, f"{filename}: {name} needs exactly one of value/secretKeyRef"
        if "value" in item:
            assert isinstance(item["value"], str), f"{filename}: quote {name}'s value"
        if name in SECRET_FIELDS:
            ref = item.get("secretKeyRef")
            assert ref and ref.get("name") and ref.get("key"), (
                f"{filename}: {name} is a secret: use secretKeyRef {{name, key}}"
            )


@pytest.mark.parametrize("component_type", sorted(PINNED))
def test_our_delivery_and_key_decisions_are_written_out(component_type: str) -> None:
    [doc] = [d for d in COMPONENT_DOCS.values() if d["spec"]["type"] == component_type]
    items = metadata_of(doc)
    for name, value in PINNED[component_type].items():
        assert items.get(name, {}).get("value") == value, f"{component_type}: {name} != {value}"
    for name in PRESENT.get(component_type, ()):
        assert int(items[name]["value"]) > 0


def test_the_two_state_stores_are_alternatives_under_one_name() -> None:
    names = [doc["metadata"]["name"] for doc in COMPONENT_DOCS.values()]
    state = [
        doc["metadata"]["name"]
        for doc in COMPONENT_DOCS.values()
        if doc["spec"]["type"].startswith("state.")
    ]
    assert state == ["statestore", "statestore"]
    others = [n for n in names if n != "statestore"]
    assert len(others) == len(set(others))


@pytest.mark.parametrize("filename", sorted(COMPONENT_DOCS))
def test_scopes_name_only_real_app_ids(filename: str) -> None:
    scopes = COMPONENT_DOCS[filename].get("scopes")
    assert scopes, f"{filename}: scope the component to the apps that use it"
    assert set(SERVICES) <= APP_IDS, "a new service: add its app-id to APP_IDS"
    assert set(scopes) <= APP_IDS, f"{filename}: unknown app-ids {set(scopes) - APP_IDS}"
    assert len(scopes) == len(set(scopes))


@pytest.mark.parametrize("component", sorted(USES))
def test_every_service_that_uses_a_block_is_in_its_scopes(component: str) -> None:
    scoped: set[str] = set()
    for doc in COMPONENT_DOCS.values():
        if doc["metadata"]["name"] == component:
            scoped |= set(doc["scopes"])
    assert scoped, f"no component named {component}"
    users = {
        name
        for name, spec in SERVICES.items()
        if any(
            USES[component].search(path.read_text())
            for path in (SOURCES / spec.module.rsplit(".", 1)[-1]).rglob("*.py")
        )
    }
    assert users, f"no service uses {component}? the pattern {USES[component].pattern} is stale"
    assert users <= scoped, f"{component}: add {users - scoped} to its scopes"


def test_resiliency_targets_name_real_apps_components_and_policies() -> None:
    doc = by_kind("Resiliency")
    policies, targets = doc["spec"]["policies"], doc["spec"]["targets"]
    assert set(doc["scopes"]) <= APP_IDS
    components = {d["metadata"]["name"] for d in COMPONENT_DOCS.values()}
    assert set(targets["apps"]) <= APP_IDS
    assert set(SERVICES) <= set(targets["apps"]), "every service is invoked: give it a policy"
    assert set(targets["components"]) <= components
    assert {"statestore", "pubsub"} <= set(targets["components"])

    def check(where: str, target: dict[str, str]) -> None:
        assert set(target) <= {"timeout", "retry", "circuitBreaker"}, where
        assert target.keys() == {"timeout", "retry", "circuitBreaker"}, f"{where}: all three"
        assert target["timeout"] in policies["timeouts"], where
        assert target["retry"] in policies["retries"], where
        assert target["circuitBreaker"] in policies["circuitBreakers"], where

    for app, target in targets["apps"].items():
        check(f"apps.{app}", target)
    for component, directions in targets["components"].items():
        assert set(directions) <= {"outbound", "inbound"}
        for direction, target in directions.items():
            check(f"components.{component}.{direction}", target)
    assert "inbound" in targets["components"]["pubsub"]


def test_resiliency_policies_are_well_formed_with_exponential_back_off() -> None:
    policies = by_kind("Resiliency")["spec"]["policies"]
    for name, value in policies["timeouts"].items():
        assert DURATION.match(value), f"timeout {name}: {value!r}"
    for name, retry in policies["retries"].items():
        assert retry["policy"] == "exponential", name
        assert DURATION.match(retry["maxInterval"]), name
        assert isinstance(retry["maxRetries"], int) and retry["maxRetries"] >= 0, name
        codes = retry.get("matching", {}).get("httpStatusCodes", "")
        # invocation must not repeat a request that may have run (500/502/504)
        assert not {"500", "502", "504"} & set(codes.split(",")), name
    for name, breaker in policies["circuitBreakers"].items():
        assert re.fullmatch(r"consecutiveFailures > \d+", breaker["trip"]), name
        assert DURATION.match(breaker["timeout"]) and DURATION.match(breaker["interval"]), name


def test_deliveries_are_retried_as_often_as_a_subscription_allows_then_dead_lettered() -> None:
    doc = by_kind("Resiliency")
    inbound = doc["spec"]["targets"]["components"]["pubsub"]["inbound"]
    retry = doc["spec"]["policies"]["retries"][inbound["retry"]]

    async def handler(_: Any) -> Any: ...

    attempts = Subscription("t", consumer="c", handler=handler).max_attempts
    assert retry["maxRetries"] + 1 == attempts


def test_configuration_traces_to_otel_and_exports_metrics() -> None:
    spec = by_kind("Configuration")["spec"]
    tracing = spec["tracing"]
    assert isinstance(tracing["samplingRate"], str)
    assert 0 < float(tracing["samplingRate"]) <= 1
    assert re.fullmatch(r"[a-z0-9.-]+:\d+", tracing["otel"]["endpointAddress"])
    assert tracing["otel"]["protocol"] in {"grpc", "http"}
    assert spec["metrics"]["enabled"] is True
    assert spec["metrics"]["http"]["increasedCardinality"] is False
    [scope] = spec["secrets"]["scopes"]
    assert scope == {"storeName": "kubernetes", "defaultAccess": "deny"}


def test_service_invocation_is_denied_but_for_the_grants_of_each_caller() -> None:
    """Issue 12, hole 1: the platform's Configuration is the grants table of the contracts
    (the operator builds a dedicated shop's from the same table), deny by default, every
    caller a real app, and no caller but the gateway may reach the shop APIs."""
    from shopfleet.kit.contracts.access import access_control

    spec = by_kind("Configuration")["spec"]["accessControl"]
    assert spec == access_control(lambda _: "default")
    assert spec["defaultAction"] == "deny"
    callers = {policy["appId"] for policy in spec["policies"]}
    assert callers <= APP_IDS
    for policy in spec["policies"]:
        assert policy["defaultAction"] == "deny"
        public = [op for op in policy["operations"] if op["name"].startswith("/shops/")]
        assert not public or policy["appId"] == "gateway", policy
        internal = [op for op in policy["operations"] if op["name"].startswith("/internal/shops")]
        assert not internal or policy["appId"] != "gateway", policy
