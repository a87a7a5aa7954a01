"""The chart as Helm renders it: valid Kubernetes objects, wired to the code they run.

Every object is checked against the Kubernetes OpenAPI schemas (`kubernetes-validate`),
and the environment each container gets is fed to the very settings classes, CLI and
operator configuration that read it, so a renamed variable or option fails here rather
than in a cluster.
"""

from __future__ import annotations

import base64
import importlib.util
import json
from pathlib import Path
from typing import Any

import kopf.cli
import kubernetes_validate
import pytest
import typer.main
import yaml

from shopfleet import cli
from shopfleet.gateway.routes import parse_route_table
from shopfleet.gateway.settings import GatewaySettings
from shopfleet.services import SERVICES
from shopfleet_operator.config import Config
from tests.unit.chart.conftest import CHART, NAMESPACE, ROOT, Rendered, container_env

K8S_VERSION = kubernetes_validate.latest_version()
VALUES = yaml.safe_load((CHART / "values.yaml").read_text())
SERVICE_NAMES = [svc["name"] for svc in VALUES["services"]]
FULLNAME = "shopfleet"  # release "shopfleet" contains the chart's name


def kind_profile_values(helm: Any) -> dict[str, Any]:
    """The values skaffold's `kind` profile sets, parsed as `helm --set` parses them."""
    skaffold = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
    profile = next(p for p in skaffold["profiles"] if p["name"] == "kind")
    patch = next(p for p in profile["patches"] if p["path"].endswith("/setValues"))
    return helm.parse_set_string(",".join(f"{k}={v}" for k, v in patch["value"].items()))


CUSTOM = {
    "image": {"repository": "registry.example.com/shopfleet", "digest": "sha256:" + "a" * 64},
    "platform": {
        "token": {"existingSecret": "platform-token", "key": "value"},
        "signingKeyEncryption": {"createSecret": False},
    },
    "connections": {"existingSecret": "data-stores"},
    "postgres": {"host": "pg.data.svc.cluster.local", "options": "ssl=require"},
    "redis": {"host": "redis.data.svc.cluster.local:6380", "enableTLS": True},
    "rabbitmq": {"host": "mq.data.svc.cluster.local"},
    "dapr": {"components": {"stateStore": "postgresql"}},
    "ingress": {
        "enabled": True,
        "className": "nginx",
        "hosts": ["shops.example.com"],
        "tls": [{"secretName": "shops-tls", "hosts": ["shops.example.com"]}],
    },
    "operator": {"watchNamespaces": ["shops-eu", "shops-us"], "ingressClassName": "nginx"},
}


@pytest.fixture(scope="module", params=["defaults", "kind", "custom"])
def scenario(request: pytest.FixtureRequest, helm: Any, render: Any) -> Rendered:
    values = {"defaults": {}, "kind": kind_profile_values(helm), "custom": CUSTOM}
    return render(values[request.param])


@pytest.fixture(scope="module")
def default(render: Any) -> Rendered:
    return render()


def pod_spec(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]


def shopfleet_deployments(rendered: Rendered) -> list[dict[str, Any]]:
    """The Deployments that run the shopfleet image (not the throw-away data stores)."""
    return [
        d
        for d in rendered.of_kind("Deployment")
        if d["metadata"]["labels"]["app.kubernetes.io/component"]
        not in ("postgres", "redis", "rabbitmq")
    ]


# ---- helm itself ----------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["defaults", "kind"])
def test_helm_lint_is_clean(helm: Any, profile: str) -> None:
    values = {} if profile == "defaults" else kind_profile_values(helm)
    report = helm.lint(str(CHART), values, strict=True, kube_version=f"v{K8S_VERSION}.0")
    assert report["errors"] == []
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert problems == [], problems


def test_everything_renders_into_the_release_namespace(scenario: Rendered) -> None:
    cluster_scoped = {"ClusterRole", "ClusterRoleBinding", "ClusterKopfPeering"}
    served = CUSTOM["operator"]["watchNamespaces"]
    for obj in scenario.objects:
        if obj["kind"] in cluster_scoped:
            assert "namespace" not in obj["metadata"]
        elif obj["kind"] == "KopfPeering":  # one in each namespace the operator serves
            assert obj["metadata"]["namespace"] in served
        else:
            assert obj["metadata"]["namespace"] == NAMESPACE, obj["metadata"]["name"]


def test_every_kubernetes_object_is_valid(scenario: Rendered) -> None:
    checked = 0
    for obj in scenario.objects:
        if obj["apiVersion"].startswith(("dapr.io/", "kopf.dev/")):
            continue  # not in the Kubernetes schemas (the API server checks kopf's CRD's)
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        checked += 1
    assert checked >= 2 * len(SERVICE_NAMES) + 10


def test_labels_follow_the_recommended_scheme(scenario: Rendered) -> None:
    for obj in scenario.objects:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "shopfleet"
        assert labels["app.kubernetes.io/instance"] == "shopfleet"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["app.kubernetes.io/component"]
    for deployment in scenario.of_kind("Deployment"):
        selector = deployment["spec"]["selector"]["matchLabels"]
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= pod_labels.items()
        assert "app.kubernetes.io/version" not in selector  # selectors are immutable
    for service in scenario.of_kind("Service"):
        targets = [
            d
            for d in scenario.of_kind("Deployment")
            if service["spec"]["selector"].items()
            <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(targets) == 1, f"Service {service['metadata']['name']} selects {len(targets)}"


# ---- the pooled services and the gateway ----------------------------------------------


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_each_pooled_service_runs_with_its_dapr_sidecar(default: Rendered, name: str) -> None:
    deployment = default.get("Deployment", f"{FULLNAME}-{name}")
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    container = pod_spec(deployment)["containers"][0]
    port = container["ports"][0]["containerPort"]
    assert annotations["dapr.io/enabled"] == "true"
    assert annotations["dapr.io/app-id"] == name  # what Route.app_id() invokes
    assert annotations["dapr.io/app-port"] == str(port)
    assert default.get("Configuration", annotations["dapr.io/config"])
    assert container["command"][:3] == ["shopfleet", "serve", name]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    (migrate,) = pod_spec(deployment)["initContainers"]
    assert migrate["command"] == ["shopfleet", "migrate", name]
    assert migrate["image"] == container["image"]
    service = default.get("Service", f"{FULLNAME}-{name}")
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_only_services_hold_the_caller_credentials(default: Rendered) -> None:
    """Issue 12, hole 1: every service answers only its sidecar (app token, the Secret's
    key `token` as Dapr reads it) and has the service credential; the gateway, which
    forwards what shoppers send, has neither."""
    for name in SERVICE_NAMES:
        deployment = default.get("Deployment", f"{FULLNAME}-{name}")
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        secret = default.get("Secret", annotations["dapr.io/app-token-secret"])
        assert set(secret["data"]) == {"token"}
        env = {e["name"]: e for e in pod_spec(deployment)["containers"][0]["env"]}
        ref = env["SHOPFLEET_SERVICE_TOKEN"]["valueFrom"]["secretKeyRef"]
        assert default.get("Secret", ref["name"])["data"][ref["key"]]
    gateway = default.get("Deployment", f"{FULLNAME}-gateway")
    assert "dapr.io/app-token-secret" not in gateway["spec"]["template"]["metadata"]["annotations"]
    names = {e["name"] for c in pod_spec(gateway)["containers"] for e in c.get("env", [])}
    assert "SHOPFLEET_SERVICE_TOKEN" not in names


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_service_reads_its_own_postgres_database_from_the_rendered_env(
    render: Any, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    rendered = render({"backing": {"enabled": True}})
    deployment = rendered.get("Deployment", f"{FULLNAME}-{name}")
    secrets = rendered.secret_data()
    for container in [*pod_spec(deployment)["initContainers"], *pod_spec(deployment)["containers"]]:
        env = container_env(container, secrets)
        settings = settings_from(monkeypatch, env, SERVICES[name].settings_type())
        password = secrets[f"{FULLNAME}-connections"]["postgres-password"]
        assert settings.resolved_database_url(name) == (
            f"postgresql+asyncpg://shopfleet:{password}"
            f"@{FULLNAME}-postgres.{NAMESPACE}.svc:5432/shopfleet_{name}"
        )
        assert settings.platform.blocks == "dapr"
        assert settings.platform.platform_token is not None
        token = secrets[f"{FULLNAME}-platform-token"]["token"]
        assert settings.platform.platform_token.get_secret_value() == token


def settings_from(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], cls: type) -> Any:
    import os

    for key in list(os.environ):
        if key.startswith("SHOPFLEET_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return cls()


def test_database_options_reach_the_url(render: Any) -> None:
    rendered = render(CUSTOM)
    container = pod_spec(rendered.get("Deployment", f"{FULLNAME}-catalog"))["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    url = env["SHOPFLEET_CATALOG_DATABASE_URL"]
    assert url.endswith("@pg.data.svc.cluster.local:5432/shopfleet_catalog?ssl=require")
    # The password comes from the named Secret, which the chart then does not create; it
    # makes only the callers' tokens (app token, service credential), which are its own.
    assert [s["metadata"]["name"] for s in rendered.of_kind("Secret")] == CALLER_SECRETS


def test_the_backing_postgres_creates_every_database_the_services_use(render: Any) -> None:
    rendered = render({"backing": {"enabled": True}})
    sql = rendered.get("ConfigMap", f"{FULLNAME}-postgres-init")["data"]["databases.sql"]
    for name in [*SERVICE_NAMES, "state"]:
        assert f'CREATE DATABASE "shopfleet_{name}";' in sql
    dsn = rendered.secret_data()[f"{FULLNAME}-connections"]["postgres-state-dsn"]
    assert "dbname=shopfleet_state" in dsn


def test_the_gateway_reads_the_route_table_the_chart_mounts(
    default: Rendered, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = default.get("Deployment", f"{FULLNAME}-gateway")
    spec = pod_spec(deployment)
    (container,) = spec["containers"]
    env = container_env(container, default.secret_data())
    settings = settings_from(monkeypatch, env, GatewaySettings)
    mount = next(m for m in container["volumeMounts"] if m["name"] == "routes")
    volume = next(v for v in spec["volumes"] if v["name"] == "routes")
    assert "subPath" not in mount  # a subPath mount never sees the operator's updates
    assert settings.resolved_routes_file() == Path(mount["mountPath"]) / "routes.json"
    configmap = default.get("ConfigMap", volume["configMap"]["name"])
    table = parse_route_table(configmap["data"]["routes.json"].encode())
    assert table.doc.shops == {}
    assert settings.cors_origins == ["*"]
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["dapr.io/app-id"] == "gateway"
    assert default.get("Service", f"{FULLNAME}-gateway")["spec"]["ports"][0]["port"] == 80


def test_the_route_table_survives_upgrades_and_uninstalls(default: Rendered) -> None:
    configmap = default.get("ConfigMap", f"{FULLNAME}-routes")
    assert configmap["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    template = (CHART / "templates" / "routes.yaml").read_text()
    assert 'lookup "v1" "ConfigMap"' in template  # an upgrade keeps what the operator wrote


@pytest.mark.parametrize("name", ["gateway", *sorted(SERVICES)])
def test_container_commands_parse_with_the_shopfleet_cli(default: Rendered, name: str) -> None:
    group = typer.main.get_command(cli.app)
    deployment = default.get("Deployment", f"{FULLNAME}-{name}")
    spec = pod_spec(deployment)
    for container in [*spec.get("initContainers", []), *spec["containers"]]:
        program, command, *args = container["command"]
        assert program == "shopfleet"
        # Parses the arguments exactly as the container would, without running anything.
        group.commands[command].make_context(command, list(args))


def test_pods_are_hardened_and_sized(scenario: Rendered) -> None:
    for deployment in shopfleet_deployments(scenario):
        spec = pod_spec(deployment)
        assert spec["securityContext"]["runAsNonRoot"] is True
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["readOnlyRootFilesystem"] is True
            assert context["capabilities"]["drop"] == ["ALL"]
        for container in spec["containers"]:
            assert container["resources"]["requests"], deployment["metadata"]["name"]
            assert container["resources"]["limits"]["memory"], deployment["metadata"]["name"]


def test_the_image_is_the_configured_one(render: Any) -> None:
    rendered = render(CUSTOM)
    images = {
        c["image"]
        for d in shopfleet_deployments(rendered)
        for c in [*pod_spec(d).get("initContainers", []), *pod_spec(d)["containers"]]
    }
    assert images == {"registry.example.com/shopfleet@sha256:" + "a" * 64}
    default = render()
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    container = pod_spec(default.get("Deployment", f"{FULLNAME}-cart"))["containers"][0]
    assert container["image"] == f"shopfleet:{chart['appVersion']}"


# ---- the operator ---------------------------------------------------------------------


def test_the_operator_is_configured_for_this_release(default: Rendered) -> None:
    deployment = default.get("Deployment", f"{FULLNAME}-operator")
    assert deployment["spec"]["replicas"] == 2  # a leader and a standby (kopf peering)
    budget = default.get("PodDisruptionBudget", f"{FULLNAME}-operator")
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"].items() <= (
        deployment["spec"]["template"]["metadata"]["labels"].items()
    )
    (container,) = pod_spec(deployment)["containers"]
    secrets = default.secret_data()
    config = Config.from_env(container_env(container, secrets))
    gateway = default.get("Service", config.gateway_service)
    assert config.namespace == NAMESPACE
    assert config.gateway_port == gateway["spec"]["ports"][0]["port"]
    assert config.platform_url == f"http://{FULLNAME}-gateway.{NAMESPACE}.svc:80"
    assert default.get("ConfigMap", config.routes_configmap)["data"]["routes.json"]
    assert default.get("Configuration", config.dapr_config)
    assert config.image == container["image"]
    assert config.platform_token == secrets[f"{FULLNAME}-platform-token"]["token"]
    # The dedicated tier's Dapr components reach the same data stores as the platform's.
    connections = secrets[f"{FULLNAME}-connections"]
    assert config.rabbitmq_url == connections["rabbitmq-url"]
    assert config.postgres_url == connections["postgres-state-dsn"]
    state = default.get("Component", "statestore")
    redis_host = next(m for m in state["spec"]["metadata"] if m["name"] == "redisHost")["value"]
    assert config.redis_host == redis_host


def operator_config(rendered: Rendered) -> Config:
    (container,) = pod_spec(rendered.get("Deployment", f"{FULLNAME}-operator"))["containers"]
    return Config.from_env(container_env(container, rendered.secret_data()))


def test_shop_urls_say_https_exactly_when_their_ingresses_have_tls(
    render: Any, default: Rendered
) -> None:
    assert not operator_config(default).tls
    assert operator_config(default).scheme == "http"
    issued = operator_config(render({"operator": {"tls": {"clusterIssuer": "letsencrypt"}}}))
    assert (issued.tls_cluster_issuer, issued.scheme) == ("letsencrypt", "https")
    wildcard = operator_config(render({"operator": {"tls": {"secretName": "shops-tls"}}}))
    assert (wildcard.tls_secret, wildcard.scheme) == ("shops-tls", "https")
    # TLS ended by a load balancer in front of the ingress controller.
    in_front = operator_config(render({"operator": {"publicScheme": "https"}}))
    assert (in_front.tls, in_front.scheme) == (False, "https")


def test_one_source_of_shop_certificates_at_a_time(helm: Any) -> None:
    both = {"operator": {"tls": {"clusterIssuer": "letsencrypt", "secretName": "shops-tls"}}}
    with helm.Chart.load(str(CHART)) as chart, pytest.raises(Exception) as refused:
        chart.render(both, name="shopfleet", namespace=NAMESPACE)
    assert "set one of clusterIssuer, issuer and secretName" in str(refused.value)


def test_data_store_hosts_resolve_from_dedicated_namespaces(scenario: Rendered) -> None:
    deployment = scenario.get("Deployment", f"{FULLNAME}-operator")
    (container,) = pod_spec(deployment)["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    wheres = [env["SHOPFLEET_OPERATOR_REDIS_HOST"]]
    connections = scenario.secret_data().get(f"{FULLNAME}-connections")
    if connections:  # else an existing Secret the operator of the cluster filled in
        wheres += [connections["rabbitmq-url"], connections["postgres-state-dsn"]]
    for where in wheres:
        assert ".svc" in where, f"{where} does not resolve outside the release namespace"


@pytest.mark.parametrize("profile", ["defaults", "custom"])
def test_the_operator_command_is_a_valid_kopf_run(render: Any, profile: str) -> None:
    rendered = render({} if profile == "defaults" else CUSTOM)
    deployment = rendered.get("Deployment", f"{FULLNAME}-operator")
    (container,) = pod_spec(deployment)["containers"]
    program, command, *args = container["command"]
    assert (program, command) == ("kopf", "run")
    context = kopf.cli.main.commands["run"].make_context("run", list(args))
    assert not context.params["standalone"]  # replicas elect a leader by peering
    peering = context.params["peering_name"]
    kind = "ClusterKopfPeering" if profile == "defaults" else "KopfPeering"
    assert peering in rendered.names(kind)  # one, or one per namespace served
    assert context.params["modules"] == ("shopfleet_operator.main",)
    assert importlib.util.find_spec("shopfleet_operator.main") is not None
    if profile == "defaults":
        assert context.params["clusterwide"] is True
    else:
        assert context.params["namespaces"] == ("shops-eu", "shops-us")
    port = container["ports"][0]["containerPort"]
    assert context.params["liveness_endpoint"] == f"http://0.0.0.0:{port}/healthz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


# ---- secrets, ingress, notes ----------------------------------------------------------


def test_generated_credentials(default: Rendered) -> None:
    secrets = default.secret_data()
    token = secrets[f"{FULLNAME}-platform-token"]["token"]
    assert len(token) == 48 and token.isalnum()
    connections = secrets[f"{FULLNAME}-connections"]
    assert set(connections) == {
        "postgres-password",
        "redis-password",
        "rabbitmq-password",
        "rabbitmq-url",
        "postgres-state-dsn",
    }
    password = connections["rabbitmq-password"]
    assert connections["rabbitmq-url"] == (
        f"amqp://shopfleet:{password}@rabbitmq.{NAMESPACE}.svc:5672/"
    )
    for secret in default.of_kind("Secret"):
        # Kept on `helm uninstall`, and read back with `lookup` on upgrades.
        assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    raw = next(s for s in default.of_kind("Secret") if "data" in s)["data"]["token"]
    assert base64.b64decode(raw).decode() == token


CALLER_SECRETS = [f"{FULLNAME}-app-token", f"{FULLNAME}-service-token"]


def test_existing_secrets_are_referenced_not_created(render: Any) -> None:
    rendered = render(CUSTOM)
    assert [s["metadata"]["name"] for s in rendered.of_kind("Secret")] == CALLER_SECRETS
    refs = {
        (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
        for d in shopfleet_deployments(rendered)
        for c in pod_spec(d)["containers"]
        for e in c["env"]
        if "valueFrom" in e
    }
    assert ("platform-token", "value") in refs
    assert ("data-stores", "postgres-password") in refs
    assert {name for name, _ in refs} == {
        "platform-token",
        "data-stores",
        f"{FULLNAME}-service-token",
    }


def test_the_gateway_ingress(render: Any, default: Rendered) -> None:
    assert default.of_kind("Ingress") == []
    (ingress,) = render(CUSTOM).of_kind("Ingress")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "shops.example.com"
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": f"{FULLNAME}-gateway", "port": {"name": "http"}}
    (catch_all,) = render({"ingress": {"enabled": True}}).of_kind("Ingress")
    assert "host" not in catch_all["spec"]["rules"][0]


def test_notes_say_how_to_reach_the_gateway_and_make_a_shop(default: Rendered) -> None:
    assert f"port-forward svc/{FULLNAME}-gateway 8080:80" in default.notes
    assert "kubectl apply -f examples/shop.yaml" in default.notes


def settings_variables(cls: type) -> set[str]:
    """The environment variables a settings class reads."""
    prefix = cls.model_config.get("env_prefix", "")
    return {f"{prefix}{name}".upper() for name in cls.model_fields}


@pytest.mark.parametrize("name", ["gateway", *sorted(SERVICES)])
def test_every_variable_the_chart_sets_is_read_by_the_code(default: Rendered, name: str) -> None:
    from shopfleet.kit.settings import PlatformSettings

    settings = GatewaySettings if name == "gateway" else SERVICES[name].settings_type()
    known = settings_variables(PlatformSettings) | settings_variables(settings)
    known |= {"SHOPFLEET_PG_PASSWORD"}  # a part of the database URL, by $(reference)
    spec = pod_spec(default.get("Deployment", f"{FULLNAME}-{name}"))
    for container in [*spec.get("initContainers", []), *spec["containers"]]:
        unread = {e["name"] for e in container["env"]} - known
        assert unread == set(), f"{name}/{container['name']}: nothing reads {unread}"


def test_every_variable_the_operator_gets_is_read_by_its_config(default: Rendered) -> None:
    import dataclasses

    known = {"SHOPFLEET_PLATFORM_URL", "SHOPFLEET_PLATFORM_TOKEN"} | {
        f"SHOPFLEET_OPERATOR_{f.name.upper()}" for f in dataclasses.fields(Config)
    }
    deployment = default.get("Deployment", f"{FULLNAME}-operator")
    (container,) = pod_spec(deployment)["containers"]
    env = container_env(container, default.secret_data())
    assert set(env) - known == set()
    config = Config.from_env(env)
    for variable, value in env.items():
        field = variable.removeprefix("SHOPFLEET_OPERATOR_").removeprefix("SHOPFLEET_").lower()
        actual = getattr(config, field)
        if isinstance(actual, tuple):  # a JSON object, as (name, value) pairs
            assert actual == tuple(json.loads(value).items()), variable
            continue
        assert actual == type(actual)(value), variable  # parsed, not ignored


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"servics": []}, "'servics' not allowed"),  # a misspelt key is not silently ignored
        ({"services": [{"replicas": 1}]}, "missing property 'name'"),
        ({"operator": {"watchNamespaces": "some"}}, "/operator/watchNamespaces"),
        ({"platform": {"publicUrl": "shops.example.com/"}}, "/platform/publicUrl"),
        ({"image": {"digest": "latest"}}, "/image/digest"),
    ],
)
def test_values_are_checked_against_the_charts_schema(
    helm: Any, values: dict[str, Any], complaint: str
) -> None:
    with helm.Chart.load(str(CHART)) as chart, pytest.raises(helm.HelmValuesError) as refused:
        chart.render(values, name="shopfleet", namespace=NAMESPACE)
    assert complaint in str(refused.value)


def test_the_operators_metrics_are_scraped_where_it_serves_them(
    default: Rendered, render: Any
) -> None:
    deployment = default.get("Deployment", f"{FULLNAME}-operator")
    (container,) = pod_spec(deployment)["containers"]
    config = Config.from_env(container_env(container, default.secret_data()))
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["metrics"] == config.metrics_port
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(config.metrics_port)
    assert default.of_kind("ServiceMonitor") == []  # only when asked
    monitored = render({"operator": {"serviceMonitor": {"enabled": True, "labels": {"r": "p"}}}})
    service = monitored.get("Service", f"{FULLNAME}-operator-metrics")
    assert service["spec"]["selector"].items() <= (
        deployment["spec"]["template"]["metadata"]["labels"].items()
    )
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    monitor = monitored.get("ServiceMonitor", f"{FULLNAME}-operator")
    assert monitor["metadata"]["labels"]["r"] == "p"
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["endpoints"] == [
        {"port": "metrics", "path": "/metrics", "interval": "30s"}
    ]
