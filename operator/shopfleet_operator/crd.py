"""The `Shop` custom resource: its spec and status as pydantic models, and the CRD.

The CustomResourceDefinition's OpenAPI schema is generated from these models
(`crd_manifest()`), so the operator and the API server validate the same thing. The chart
carries a copy; `python -m shopfleet_operator.crd` prints it as YAML and a test checks
that the copy is equal.
"""

from __future__ import annotations

import copy
import sys
from datetime import datetime
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator
from pydantic.alias_generators import to_camel

from shopfleet.kit.contracts.ids import SHOP_SLUG_PATTERN
from shopfleet.kit.money import MINOR_UNITS, check_currency

GROUP = "shopfleet.io"
VERSION = "v1alpha1"
KIND = "Shop"
PLURAL = "shops"
SINGULAR = "shop"
SHORT_NAMES = ["shop"]
API_VERSION = f"{GROUP}/{VERSION}"

# A DNS host name (RFC 1123, lower case). No look-ahead: the API server's regular
# expressions are RE2, so the total length is a separate `maxLength`.
HOST_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
# A Secret's name (DNS subdomain) and a key in its data.
SECRET_NAME_PATTERN = r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$"
SECRET_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"
# A Kubernetes resource quantity, e.g. `500m`, `1`, `256Mi`, `1.5Gi`.
QUANTITY_PATTERN = r"^([0-9]+(\.[0-9]+)?|\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"

Host = Annotated[str, Field(min_length=1, max_length=253, pattern=HOST_PATTERN)]

CONDITION_TYPES = (
    "Ready",
    "RoutesReady",
    "StorageReady",
    "PaymentsReady",
    "Degraded",
    "Deleting",
)


class _Model(BaseModel):
    """camelCase on the wire (as Kubernetes resources are), snake_case in Python."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class SecretKeyRef(_Model):
    """A key in a Secret in the Shop's namespace."""

    name: str = Field(max_length=253, pattern=SECRET_NAME_PATTERN, description="The Secret.")
    key: str = Field(max_length=253, pattern=SECRET_KEY_PATTERN, description="The key in it.")


class AdminSpec(_Model):
    email: EmailStr = Field(description="The shop administrator's e-mail (their login).")
    password_secret_ref: SecretKeyRef = Field(
        description="The administrator's initial password (at least 10 characters)."
    )


class PaymentsSpec(_Model):
    stripe_secret_ref: SecretKeyRef | None = Field(
        default=None,
        description="The shop's Stripe secret API key. Without it payments use the "
        "platform's Stripe account (or its local emulator).",
    )
    webhook_secret_ref: SecretKeyRef | None = Field(
        default=None, description="The signing secret of the shop's Stripe webhook endpoint."
    )


class QuotasSpec(_Model):
    """Limits per shop; an omitted quota means no limit."""

    requests_per_minute: int | None = Field(
        default=None, ge=1, le=1_000_000, description="Requests per minute through the gateway."
    )
    products: int | None = Field(default=None, ge=0, description="Products in the catalog.")
    orders_per_day: int | None = Field(default=None, ge=0, description="Orders per day.")


class ResourceAmounts(_Model):
    cpu: str | None = Field(default=None, pattern=QUANTITY_PATTERN, examples=["500m"])
    memory: str | None = Field(default=None, pattern=QUANTITY_PATTERN, examples=["256Mi"])


class ResourcesSpec(_Model):
    """Dedicated tier: each service container's requests and limits, and replicas."""

    requests: ResourceAmounts = Field(default_factory=ResourceAmounts)
    limits: ResourceAmounts = Field(default_factory=ResourceAmounts)
    replicas: int = Field(default=1, ge=1, le=20, description="Replicas of each service.")


class ShopSpec(_Model):
    display_name: str = Field(min_length=1, max_length=120, description="Shown to shoppers.")
    hosts: list[Host] = Field(
        default_factory=list,
        max_length=20,
        description="Host names the shop answers on (besides /shops/<name>/ on any gateway "
        "host); each gets an Ingress rule.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    tier: Literal["shared", "dedicated"] = Field(
        default="shared",
        description="shared: the pooled services; dedicated: a namespace shop-<name> "
        "with the shop's own services.",
    )
    currency: str = Field(
        default="EUR",
        description="ISO 4217 code of the shop's currency.",
        json_schema_extra={"enum": [*sorted(MINOR_UNITS)]},
    )
    admin: AdminSpec
    payments: PaymentsSpec = Field(default_factory=PaymentsSpec)
    state_store: Literal["redis", "postgresql"] = Field(
        default="redis", description="Backing store of the shop's Dapr state store."
    )
    quotas: QuotasSpec = Field(default_factory=QuotasSpec)
    suspended: bool = Field(
        default=False, description="Take the shop offline (its API answers 503); data is kept."
    )
    suspended_message: str | None = Field(
        default=None, max_length=500, description="What shoppers are told while suspended."
    )
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec)
    deletion_policy: Literal["Retain", "Delete"] = Field(
        default="Retain",
        description="On deletion, Retain keeps the shop's data (volumes, database rows); "
        "Delete removes them too: every service's rows of the shop, then its tenant.",
    )

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, hosts: list[str]) -> list[str]:
        if len(set(hosts)) != len(hosts):
            raise ValueError("hosts must not repeat")
        return hosts

    @field_validator("currency")
    @classmethod
    def _currency(cls, code: str) -> str:
        return check_currency(code)


class Condition(_Model):
    type: str = Field(
        description="Ready, RoutesReady, StorageReady, PaymentsReady, Degraded, Deleting."
    )
    status: Literal["True", "False", "Unknown"]
    reason: str = Field(default="", description="CamelCase, machine-readable.")
    message: str = Field(default="", description="For humans: what is wrong and how to fix it.")
    last_transition_time: datetime | None = None
    observed_generation: int | None = Field(default=None, ge=0)


class QuotaUsage(_Model):
    used: int = Field(ge=0)
    limit: int | None = Field(default=None, ge=0, description="None: no quota.")


class ShopUsage(_Model):
    """Usage against `spec.quotas`, as the platform counted it on the last drift check."""

    products: QuotaUsage | None = Field(default=None, description="Live products.")
    orders_today: QuotaUsage | None = Field(
        default=None, description="Orders placed since 00:00 UTC."
    )


class ShopStatus(_Model):
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )
    observed_generation: int | None = Field(default=None, ge=0)
    url: str | None = Field(default=None, description="The shop's API base URL.")
    endpoints: dict[str, str] = Field(
        default_factory=dict, description="Where the shop's API and services answer."
    )
    usage: ShopUsage | None = Field(default=None, description="Usage against spec.quotas.")

    def condition(self, type_: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)


class Shop(_Model):
    """A whole Shop object as the operator reads it (metadata kept as a plain dict)."""

    model_config = ConfigDict(extra="ignore")

    api_version: str = API_VERSION
    kind: str = KIND
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: ShopSpec
    status: ShopStatus = Field(default_factory=ShopStatus)

    @property
    def name(self) -> str:
        return self.metadata["name"]

    @property
    def namespace(self) -> str:
        return self.metadata.get("namespace") or "default"


# ---- the CRD ----------------------------------------------------------------------------

_DROP = {"title", "examples"}
_ORDER = {"type": 0, "description": 1, "required": 7, "properties": 8}


def structural(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON schema as a Kubernetes structural schema.

    `$ref`s are inlined, `X | None` becomes an optional `X` (absent rather than null), titles
    and examples are dropped, and `default: null` is left out.
    """
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(n) for n in node]
        if not isinstance(node, dict):
            return node
        node = dict(node)
        if "$ref" in node:
            target = defs[node.pop("$ref").rsplit("/", 1)[-1]]
            node = {**copy.deepcopy(target), **node}
        if "anyOf" in node:
            branches = [b for b in node.pop("anyOf") if b.get("type") != "null"]
            if len(branches) != 1:
                raise ValueError(f"cannot express a union of {branches} structurally")
            node = {**branches[0], **node}
            if "$ref" in node:
                return walk(node)
        if node.get("default", ...) is None:
            del node["default"]
        if node.get("additionalProperties") is False:  # not allowed in a structural schema
            del node["additionalProperties"]
        if "enum" in node and "type" not in node:
            node["type"] = "string"
        out: dict[str, Any] = {}
        for key, value in sorted(node.items(), key=lambda kv: _ORDER.get(kv[0], 9)):
            if key in _DROP or key == "$defs":
                continue
            if key == "properties":
                out[key] = {name: walk(sub) for name, sub in value.items()}
            elif key in ("items", "additionalProperties") and isinstance(value, dict):
                out[key] = walk(value)
            elif key == "default" and isinstance(value, dict | list):
                out[key] = copy.deepcopy(value)
            else:
                out[key] = value
        return out

    return walk(schema)


def _shop_schema() -> dict[str, Any]:
    spec = structural(ShopSpec.model_json_schema(by_alias=True, mode="validation"))
    status = structural(ShopStatus.model_json_schema(by_alias=True, mode="serialization"))
    spec = {"type": "object", "description": "The desired shop.", **spec}
    status = {"type": "object", "description": "What the operator observed and did.", **status}
    status.pop("required", None)
    return {
        "type": "object",
        "description": "A shop (tenant) of the shopfleet platform.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
        "x-kubernetes-validations": [
            {
                "rule": f"self.metadata.name.matches('{SHOP_SLUG_PATTERN}')",
                "message": "a Shop's name is its slug: lower-case letters, digits and '-', "
                "at most 40 characters, starting and ending with a letter or digit",
            }
        ],
    }


def crd_manifest() -> dict[str, Any]:
    """The Shop CustomResourceDefinition (apiextensions.k8s.io/v1)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": list(SHORT_NAMES),
                "categories": ["shopfleet"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {"name": "Tier", "type": "string", "jsonPath": ".spec.tier"},
                        {
                            "name": "Ready",
                            "type": "string",
                            "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
                        },
                        {"name": "URL", "type": "string", "jsonPath": ".status.url"},
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                    "schema": {"openAPIV3Schema": _shop_schema()},
                }
            ],
        },
    }


def crd_yaml() -> str:
    return yaml.safe_dump(crd_manifest(), sort_keys=False, width=100)


if __name__ == "__main__":
    sys.stdout.write(crd_yaml())
