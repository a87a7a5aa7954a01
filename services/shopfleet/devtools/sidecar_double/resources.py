"""Dapr resources as daprd reads them from `--resources-path`: Components, Configuration,
Resiliency and Subscriptions (YAML, several documents per file allowed).

Parsing is pure (no I/O): `load_resources(dir)` gives the documents; `parse_component(doc)`
gives a `ComponentSpec` whose metadata is checked against the keys the real component reads
(`KNOWN_KEYS`, taken from the components' own metadata code in dapr/components-contrib, plus
the keys the runtime itself reads for every state store or pub/sub). daprd ignores an unknown
key silently; the double reports it: `unknown_keys(spec)` and, when loading, a warning
`unknown metadata key "<key>" in component <name> (<type>)` in the log.

`secretKeyRef`s stay references here; the double resolves them through the component's
`auth.secretStore` (see double.py), unless the injector already resolved them as Dapr's
operator does in Kubernetes mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DAPR_GROUP = "dapr.io"
KIND_COMPONENT = "Component"
KIND_CONFIGURATION = "Configuration"
KIND_RESILIENCY = "Resiliency"
KIND_SUBSCRIPTION = "Subscription"
KINDS = {KIND_COMPONENT, KIND_CONFIGURATION, KIND_RESILIENCY, KIND_SUBSCRIPTION}

# Annotation the injector sets on a component whose secretKeyRefs Dapr's operator could not
# resolve: the real operator then fails the sidecar's ListComponents, so daprd cannot start.
OPERATOR_ERROR_ANNOTATION = "double.shopfleet.io/operator-error"

# Keys the runtime reads for every component of a kind (not the component itself).
_STATE_RUNTIME = {
    "keyPrefix",
    "actorStateStore",
    "outboxPublishPubsub",
    "outboxPublishTopic",
    "outboxPubsub",
    "outboxDiscardWhenMissingState",
}
_PUBSUB_RUNTIME = {"consumerID", "concurrencyMode"}

_REDIS = {
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
    "sentinelUsername",
    "sentinelPassword",
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
}
_PG_COMMON = {
    "connectionString",
    "host",
    "hostaddr",
    "port",
    "database",
    "user",
    "password",
    "sslRootCert",
    "timeout",
    "metadataTableName",
    "cleanupInterval",
    "maxConns",
    "connectionMaxIdleTime",
    "queryExecMode",
    "useAzureAD",
    "azureTenantId",
    "azureClientId",
    "azureClientSecret",
    "useAWSIAM",
    "awsRegion",
    "awsAccessKey",
    "awsSecretKey",
}
_RABBITMQ = {
    "connectionString",
    "host",
    "protocol",
    "hostname",
    "username",
    "password",
    "durable",
    "deletedWhenUnused",
    "autoAck",
    "deliveryMode",
    "requeueInFailure",
    "prefetchCount",
    "reconnectWaitSeconds",
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
    "publishMessagePropertiesToMetadata",
    "maxPriority",
    "singleActiveConsumer",
}

# (type, version) -> every metadata key that is read. "*" = any version.
KNOWN_KEYS: dict[tuple[str, str], set[str]] = {
    ("state.redis", "*"): _REDIS | _STATE_RUNTIME,
    ("state.postgresql", "v1"): _PG_COMMON
    | {"tableName", "timeoutInSeconds", "cleanupIntervalInSeconds"}
    | _STATE_RUNTIME,
    ("state.postgresql", "v2"): _PG_COMMON | {"tablePrefix"} | _STATE_RUNTIME,
    ("pubsub.rabbitmq", "*"): _RABBITMQ | _PUBSUB_RUNTIME,
    ("secretstores.kubernetes", "*"): {"defaultNamespace", "kubeconfigPath"},
}
SUPPORTED_TYPES = {t for t, _ in KNOWN_KEYS}


class ResourceError(Exception):
    """A resource daprd would refuse (bad YAML, unsupported type, missing field)."""


@dataclass(frozen=True)
class MetadataItem:
    name: str
    value: str | None = None
    secret_ref: tuple[str, str] | None = None  # (secret name, key)


@dataclass(frozen=True)
class ComponentSpec:
    name: str
    type: str
    version: str
    items: tuple[MetadataItem, ...]
    ignore_errors: bool = False
    secret_store: str = ""  # auth.secretStore; "" = the built-in `kubernetes` store
    scopes: tuple[str, ...] = ()
    init_timeout: str | None = None
    operator_error: str | None = None
    source: str = ""  # the file it came from

    @property
    def label(self) -> str:
        return f"{self.name} ({self.type}/{self.version})"

    @property
    def kind(self) -> str:
        return self.type.split(".", 1)[0]

    def in_scope(self, app_id: str) -> bool:
        return not self.scopes or app_id in self.scopes


def parse_component(doc: dict[str, Any], source: str = "") -> ComponentSpec:
    meta = doc.get("metadata") or {}
    spec = doc.get("spec") or {}
    name = meta.get("name")
    type_ = spec.get("type")
    if not name or not type_:
        raise ResourceError(f"{source}: a Component needs metadata.name and spec.type")
    items = []
    for raw in spec.get("metadata") or []:
        if not isinstance(raw, dict) or not raw.get("name"):
            raise ResourceError(f"{source}: component {name}: metadata item without a name")
        ref = raw.get("secretKeyRef")
        if ref:
            items.append(
                MetadataItem(raw["name"], secret_ref=(ref["name"], ref.get("key") or ref["name"]))
            )
        else:
            value = raw.get("value")
            items.append(MetadataItem(raw["name"], value=_text(value)))
    annotations = meta.get("annotations") or {}
    return ComponentSpec(
        name=name,
        type=type_,
        version=str(spec.get("version") or "v1"),
        items=tuple(items),
        ignore_errors=_truthy(spec.get("ignoreErrors")),
        secret_store=str((doc.get("auth") or {}).get("secretStore") or ""),
        scopes=tuple(doc.get("scopes") or ()),
        init_timeout=spec.get("initTimeout"),
        operator_error=annotations.get(OPERATOR_ERROR_ANNOTATION),
        source=source,
    )


def known_keys(type_: str, version: str) -> set[str] | None:
    return KNOWN_KEYS.get((type_, version)) or KNOWN_KEYS.get((type_, "*"))


def unknown_keys(spec: ComponentSpec) -> list[str]:
    """Metadata keys the component (and the runtime) never read: daprd ignores them."""
    known = known_keys(spec.type, spec.version)
    if known is None:
        return []
    return [item.name for item in spec.items if item.name not in known]


def unknown_key_warnings(spec: ComponentSpec) -> list[str]:
    """The warning lines the double logs for `spec` (one per unknown key)."""
    return [
        f'unknown metadata key "{key}" in component {spec.name} ({spec.type})'
        for key in unknown_keys(spec)
    ]


@dataclass
class Resources:
    """What one sidecar reads from its resources directory."""

    components: list[ComponentSpec] = field(default_factory=list)
    configurations: dict[str, dict[str, Any]] = field(default_factory=dict)
    resiliencies: list[dict[str, Any]] = field(default_factory=list)
    subscriptions: list[dict[str, Any]] = field(default_factory=list)

    def for_app(self, app_id: str) -> Resources:
        """Only what is scoped to `app_id` (no scopes = every app), as daprd filters."""
        return Resources(
            components=[c for c in self.components if c.in_scope(app_id)],
            configurations=dict(self.configurations),
            resiliencies=[r for r in self.resiliencies if _in_scope(r, app_id)],
            subscriptions=[s for s in self.subscriptions if _in_scope(s, app_id)],
        )


def documents(text: str, source: str = "") -> list[dict[str, Any]]:
    try:
        loaded = [doc for doc in yaml.safe_load_all(text) if doc]
    except yaml.YAMLError as exc:
        raise ResourceError(f"{source}: not YAML: {exc}") from exc
    return [doc for doc in loaded if isinstance(doc, dict)]


def add_document(resources: Resources, doc: dict[str, Any], source: str = "") -> None:
    kind = doc.get("kind")
    group = str(doc.get("apiVersion") or "").split("/", 1)[0]
    if group != DAPR_GROUP or kind not in KINDS:
        return  # daprd skips anything else in the folder
    if kind == KIND_COMPONENT:
        resources.components.append(parse_component(doc, source))
    elif kind == KIND_CONFIGURATION:
        resources.configurations[(doc.get("metadata") or {}).get("name", "")] = doc
    elif kind == KIND_RESILIENCY:
        resources.resiliencies.append(doc)
    else:
        resources.subscriptions.append(doc)


def load_resources(path: Path) -> Resources:
    """Every Dapr resource of the `*.yaml`/`*.yml` files in `path` (not recursive)."""
    resources = Resources()
    files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
    for file in files:
        for doc in documents(file.read_text(), str(file)):
            add_document(resources, doc, str(file))
    names = [c.name for c in resources.components]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ResourceError(f"{path}: components defined twice: {', '.join(duplicates)}")
    return resources


def _in_scope(doc: dict[str, Any], app_id: str) -> bool:
    scopes = doc.get("scopes") or []
    return not scopes or app_id in scopes


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _truthy(value: Any) -> bool:
    return str(value).lower() in {"true", "1", "yes"} if value is not None else False


# ----------------------------------------------------------------------------- policies


@dataclass(frozen=True)
class SecretPolicy:
    """A Configuration's `spec.secrets.scopes` entry: which secrets the app may read from
    one store through the secrets API (component secretKeyRefs are not subject to it)."""

    store: str
    default_allow: bool = True
    allowed: frozenset[str] = frozenset()
    denied: frozenset[str] = frozenset()

    def allows(self, key: str) -> bool:
        if self.allowed:
            return key in self.allowed
        if key in self.denied:
            return False
        return self.default_allow


def secret_policies(configuration: dict[str, Any] | None) -> dict[str, SecretPolicy]:
    scopes = (((configuration or {}).get("spec") or {}).get("secrets") or {}).get("scopes") or []
    out = {}
    for entry in scopes:
        out[entry["storeName"]] = SecretPolicy(
            store=entry["storeName"],
            default_allow=str(entry.get("defaultAccess", "allow")).lower() != "deny",
            allowed=frozenset(entry.get("allowedSecrets") or ()),
            denied=frozenset(entry.get("deniedSecrets") or ()),
        )
    return out
