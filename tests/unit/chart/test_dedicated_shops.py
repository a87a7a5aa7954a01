"""The chart's platform and the operator's dedicated shops run the same way.

The operator is configured from the environment the chart gives its Deployment (secrets
resolved as the kubelet resolves them); the dedicated Deployments it then builds must run
the same migrate and serve commands as the chart's pooled services, and reach their own
PostgreSQL databases on the platform's server.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from shopfleet.kit.settings import PlatformSettings, ServiceSettings
from shopfleet_operator.build.accounts import (
    TenantAccount,
    database_name,
    redis_key_pattern,
    tenant_account_name,
)
from shopfleet_operator.build.children import children
from shopfleet_operator.build.names import dedicated_namespace, secret_name, services
from shopfleet_operator.build.secrets import SECRET_REDIS_PASSWORD
from shopfleet_operator.config import Config
from shopfleet_operator.crd import Shop
from tests.unit.chart.conftest import Rendered, container_env
from tests.unit.operator.test_dedicated_commands import kubernetes_argv

FULLNAME = "shopfleet"


def dedicated_shop(name: str = "acme") -> Shop:
    spec = {
        "displayName": "Acme",
        "tier": "dedicated",
        "admin": {"email": "a@example.com", "passwordSecretRef": {"name": "s", "key": "k"}},
    }
    return Shop.model_validate({"metadata": {"name": name, "namespace": "shops"}, "spec": spec})


def operator_config(rendered: Rendered) -> Config:
    (deployment,) = [
        d
        for d in rendered.of_kind("Deployment")
        if d["metadata"]["labels"]["app.kubernetes.io/component"] == "operator"
    ]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return Config.from_env(container_env(container, rendered.secret_data()))


def dedicated(shop: Shop, config: Config, name: str) -> tuple[dict[str, Any], dict[str, dict]]:
    """The service's pod spec, and the Secrets of the shop's namespace (decoded)."""
    objects = children(shop, config, {}, TenantAccount("tenant", "tenant-pw"))
    (deployment,) = [
        o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == name
    ]
    secrets = {
        o["metadata"]["name"]: {k: base64.b64decode(v).decode() for k, v in o["data"].items()}
        for o in objects
        if o["kind"] == "Secret" and o["metadata"]["namespace"] == dedicated_namespace(shop)
    }
    return deployment["spec"]["template"]["spec"], secrets


@pytest.fixture(scope="module")
def rendered(render: Any) -> Rendered:
    return render({"postgres": {"host": "pg.data.svc.cluster.local", "options": "ssl=require"}})


@pytest.mark.parametrize("name", services())
def test_the_chart_and_the_operator_migrate_and_serve_alike(rendered: Rendered, name: str) -> None:
    chart = rendered.get("Deployment", f"{FULLNAME}-{name}")["spec"]["template"]["spec"]
    ours, _ = dedicated(dedicated_shop(), operator_config(rendered), name)
    assert [kubernetes_argv(c) for c in ours.get("initContainers", [])] == [
        kubernetes_argv(c) for c in chart["initContainers"]
    ], f"{name}: migrate"
    assert kubernetes_argv(ours["containers"][0]) == kubernetes_argv(chart["containers"][0]), (
        f"{name}: serve"
    )


@pytest.mark.parametrize("name", services())
def test_each_dedicated_service_has_its_own_postgres_database(
    rendered: Rendered, name: str
) -> None:
    shop = dedicated_shop("acme-outfitters")
    spec, secrets = dedicated(shop, operator_config(rendered), name)
    chart = rendered.get("Deployment", f"{FULLNAME}-{name}")["spec"]["template"]["spec"]
    chart_url = make_url(
        container_env(chart["containers"][0], rendered.secret_data())[
            f"SHOPFLEET_{name.upper()}_DATABASE_URL"
        ]
    )
    for container in [*spec.get("initContainers", []), *spec["containers"]]:
        env = container_env(container, secrets)  # a missing Secret or key fails here
        settings = ServiceSettings(platform=PlatformSettings(), **_database_url(env, name))
        url = make_url(settings.resolved_database_url(name))
        where = f"{name}/{container['name']}"
        assert url.get_backend_name() == "postgresql", f"{where}: {url} (SQLite on a RO root)"
        assert (url.host, url.port) == (chart_url.host, chart_url.port), where
        # As the shop's own role, with its password: never the platform's user.
        assert url.username == tenant_account_name(shop.name, operator_config(rendered))
        assert url.password == "tenant-pw", f"{where}: the shop's own password"
        assert url.query == chart_url.query, f"{where}: the chart's postgres.options"
        assert url.database == f"shopfleet_acme_outfitters_{name}", where


def _database_url(env: dict[str, str], name: str) -> dict[str, str]:
    variable = f"SHOPFLEET_{name.upper()}_DATABASE_URL"
    return {"database_url": env[variable]} if variable in env else {}


def test_database_names_stay_within_postgres_identifier_length() -> None:
    config = Config()
    long = dedicated_shop("a" * 40)
    names = {database_name(long, config, service) for service in services()}
    assert len(names) == len(services())
    assert all(len(name) <= 63 for name in names), names


# ---- what the operator takes from the chart -------------------------------------------


@pytest.mark.parametrize(
    ("release", "values"),
    [("prod", {}), ("shopfleet", {"connections": {"existingSecret": "data-stores"}})],
)
def test_the_operator_names_the_connections_secret(
    render: Any, release: str, values: dict[str, Any]
) -> None:
    """The shared tier's state components refer to the chart's connections Secret by the
    name the operator is given: the one the chart renders, or the one the values name."""
    rendered = render(values, release=release)
    (deployment,) = [
        d
        for d in rendered.of_kind("Deployment")
        if d["metadata"]["labels"]["app.kubernetes.io/component"] == "operator"
    ]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    named = values.get("connections", {}).get("existingSecret")
    known = set(rendered.names("Secret")) | ({named} if named else set())
    given = env.get("SHOPFLEET_OPERATOR_CONNECTIONS_SECRET")
    assert given in known, f"the operator's connections Secret is {given!r}, not in {sorted(known)}"
    # ... and the secretKeyRefs of its own env name that same Secret.
    refs = {
        e["valueFrom"]["secretKeyRef"]["name"]
        for e in container["env"]
        if "secretKeyRef" in e.get("valueFrom", {}) and e["name"] != "SHOPFLEET_PLATFORM_TOKEN"
    }
    assert refs == {env["SHOPFLEET_OPERATOR_CONNECTIONS_SECRET"]}


@pytest.mark.parametrize("auth", [True, False])
def test_a_dedicated_shops_redis_password_is_its_own(render: Any, auth: bool) -> None:
    rendered = render({"redis": {"auth": auth}})
    config = operator_config(rendered)
    _, secrets = dedicated(dedicated_shop(), config, "cart")
    password = secrets[secret_name(dedicated_shop())][SECRET_REDIS_PASSWORD]
    connections = rendered.secret_data()[f"{FULLNAME}-connections"]
    assert password and password != connections["redis-password"]


def test_the_redis_acl_key_prefix_reaches_the_operator(render: Any) -> None:
    rendered = render({"operator": {"redisAclKeyPrefix": "run."}})
    config = operator_config(rendered)
    assert config.redis_acl_key_prefix == "run."
    assert redis_key_pattern("acme", config) == "run.shopfleet_acme||*"


PLATFORM_VALUES = {
    "platform": {
        "logLevel": "DEBUG",
        "logFormat": "console",
        "callTimeoutSeconds": 7,
        "publicUrl": "https://shops.example.com",
        "env": {"SHOPFLEET_SESSION_POLL_S": "2"},
    }
}


@pytest.mark.parametrize("name", services())
def test_dedicated_pods_get_the_charts_common_env(render: Any, name: str) -> None:
    """What the chart gives every service (log level and format, call timeout, public URL,
    platform.env, ...) reaches the dedicated shops' containers too, through the operator;
    the platform credential does not (identity gets one of the shop's own)."""
    rendered = render(PLATFORM_VALUES)
    secrets = rendered.secret_data()
    (chart_pod,) = [
        d["spec"]["template"]["spec"]
        for d in rendered.of_kind("Deployment")
        if d["metadata"]["labels"]["app.kubernetes.io/component"] == name
    ]
    pod, shop_secrets = dedicated(dedicated_shop(), operator_config(rendered), name)
    shop_secrets.update(secrets)  # the platform's Secrets, should a reference leak there
    for kind in ("initContainers", "containers"):
        chart = container_env(chart_pod[kind][0], secrets)
        ours = container_env(pod[kind][0], shop_secrets)
        common = {
            k: v
            for k, v in chart.items()
            if k.startswith("SHOPFLEET_")
            and k
            not in ("SHOPFLEET_PLATFORM_TOKEN", "SHOPFLEET_SERVICE_TOKEN", "SHOPFLEET_PG_PASSWORD")
            and not k.endswith("_DATABASE_URL")
        }
        assert {k: ours.get(k) for k in common} == common, f"{name} {kind}"
        assert common["SHOPFLEET_LOG_LEVEL"] == "DEBUG"
        assert common["SHOPFLEET_SESSION_POLL_S"] == "2"
        assert chart["SHOPFLEET_PLATFORM_TOKEN"] not in ours.values()
