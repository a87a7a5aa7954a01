"""What a dedicated shop's containers really run: the image's ENTRYPOINT/CMD combined with
the Deployment's command/args as Kubernetes combines them, then parsed by the shopfleet CLI.

Kubernetes: `command` replaces the image's ENTRYPOINT (and its CMD is then ignored);
`args` replaces CMD. (tests/support/cluster/image.py does the same for the simulated node,
which runs these containers for real; this test is the quick, node-less check of it.)
"""

from __future__ import annotations

from typing import Any

import pytest
import typer.main

from shopfleet import cli
from shopfleet_operator.build.names import services
from shopfleet_operator.build.workloads import service_objects
from shopfleet_operator.config import Config
from shopfleet_operator.crd import Shop
from tests.unit.docker.dockerfile import parse

IMAGE = parse().final


def kubernetes_argv(container: dict[str, Any]) -> list[str]:
    entrypoint = IMAGE.last("ENTRYPOINT").exec_form() or []
    cmd = IMAGE.last("CMD").exec_form() or []
    if container.get("command"):
        return [*container["command"], *container.get("args", [])]
    return [*entrypoint, *container.get("args", cmd)]


def dedicated_shop() -> Shop:
    spec = {
        "displayName": "Acme",
        "tier": "dedicated",
        "admin": {"email": "a@example.com", "passwordSecretRef": {"name": "s", "key": "k"}},
    }
    return Shop.model_validate({"metadata": {"name": "acme", "namespace": "shops"}, "spec": spec})


def pod(name: str, config: Config | None = None) -> dict[str, Any]:
    objects = service_objects(dedicated_shop(), config or Config(), name)
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    return deployment["spec"]["template"]["spec"]


def test_the_combination_rule_on_the_image_itself() -> None:
    assert kubernetes_argv({}) == ["shopfleet", "serve", "gateway"]
    assert kubernetes_argv({"args": ["cart"]}) == ["shopfleet", "serve", "cart"]
    assert kubernetes_argv({"command": ["shopfleet", "migrate"]}) == ["shopfleet", "migrate"]


@pytest.mark.parametrize("name", services())
def test_each_dedicated_container_runs_a_command_the_cli_accepts(name: str) -> None:
    group = typer.main.get_command(cli.app)
    spec = pod(name)
    for container in [*spec.get("initContainers", []), *spec["containers"]]:
        program, command, *args = kubernetes_argv(container)
        assert program == "shopfleet"
        assert command in group.commands, f"{container['name']} runs shopfleet {command}"
        try:  # parses exactly as the container would, without running anything
            group.commands[command].make_context(command, list(args))
        except Exception as exc:  # click's usage errors: the process would exit 2
            pytest.fail(
                f"{name}/{container['name']} runs {kubernetes_argv(container)}: "
                f"{type(exc).__name__}: {exc}"
            )


@pytest.mark.parametrize("name", services())
def test_each_dedicated_service_is_migrated_before_it_serves(name: str) -> None:
    spec = pod(name)
    init = [kubernetes_argv(c) for c in spec.get("initContainers", [])]
    assert init == [["shopfleet", "migrate", name]], f"{name}: init containers run {init}"
    serve = kubernetes_argv(spec["containers"][0])
    assert serve[:3] == ["shopfleet", "serve", name] and "--no-migrate" in serve, serve
