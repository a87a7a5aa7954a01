"""The project's image, read from the real Dockerfile, and Kubernetes' command rules."""

from __future__ import annotations

import pytest

from tests.support.cluster.image import (
    PROJECT_DOCKERFILE,
    ImageConfig,
    Images,
    command_for,
    expand,
    parse_dockerfile,
)


@pytest.fixture(scope="module")
def image() -> ImageConfig:
    return parse_dockerfile(PROJECT_DOCKERFILE)


def test_the_final_stage_of_the_dockerfile(image):
    assert image.entrypoint == ["shopfleet", "serve"]
    assert image.cmd == ["gateway"]
    assert image.workdir == "/data"
    assert (image.uid, image.gid) == (10001, 10001)
    assert image.env["PATH"].startswith("/opt/shopfleet/bin:/usr/local/sbin")
    assert image.env["SHOPFLEET_PORT"] == "8000"
    assert image.env["SHOPFLEET_DATA_DIR"] == "/data"
    assert "PIP_NO_CACHE_DIR" not in image.env  # the build stage's, not the runtime's
    assert image.dirs["/data"] == (10001, 10001, 0o750)


def test_neither_command_nor_args_is_entrypoint_plus_cmd(image):
    assert command_for({}, image) == ["shopfleet", "serve", "gateway"]


def test_args_only_replace_cmd(image):
    assert command_for({"args": ["cart"]}, image) == ["shopfleet", "serve", "cart"]
    # defect 1 of issue 13, as the node runs it
    assert command_for({"args": ["serve", "cart"]}, image) == [
        "shopfleet",
        "serve",
        "serve",
        "cart",
    ]


def test_command_ignores_entrypoint_and_cmd(image):
    assert command_for({"command": ["shopfleet"], "args": ["migrate", "cart"]}, image) == [
        "shopfleet",
        "migrate",
        "cart",
    ]
    assert command_for({"command": ["python", "-m", "http.server"]}, image) == [
        "python",
        "-m",
        "http.server",
    ]


def test_empty_lists_count_as_unset(image):
    assert command_for({"command": [], "args": []}, image) == ["shopfleet", "serve", "gateway"]


def test_variable_references_expand_as_kubernetes_does():
    env = {"SVC": "cart", "PORT": "8000"}
    assert expand("$(SVC)", env) == "cart"
    assert expand("--port=$(PORT)", env) == "--port=8000"
    assert expand("$(MISSING)", env) == "$(MISSING)"
    assert expand("$$(SVC)", env) == "$(SVC)"
    assert expand("$$", env) == "$"
    assert expand("a$b", env) == "a$b"
    assert expand("$(unclosed", env) == "$(unclosed"


def test_variable_references_in_command_and_args(image):
    env = {"SVC": "cart"}
    assert command_for({"args": ["$(SVC)"]}, image, env) == ["shopfleet", "serve", "cart"]
    assert command_for({"command": ["echo", "$(SVC)", "$$(SVC)"]}, image, env) == [
        "echo",
        "cart",
        "$(SVC)",
    ]


def test_dockerfile_forms(tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        'FROM a AS build\nENTRYPOINT ["no"]\n'
        "FROM b\n"
        'ENV A=1 \\\n    B="two words"\n'
        "ENV C $A-x\n"
        "WORKDIR /app\nWORKDIR sub\n"
        "USER 1000\n"
        "ENTRYPOINT exec run --flag\n"
    )
    image = parse_dockerfile(dockerfile)
    assert image.env["A"] == "1" and image.env["B"] == "two words" and image.env["C"] == "1-x"
    assert image.workdir == "/app/sub"
    assert (image.uid, image.gid) == (1000, 1000)
    assert image.entrypoint == ["/bin/sh", "-c", "exec run --flag"]
    assert image.cmd == []  # a new ENTRYPOINT resets the base image's CMD


@pytest.mark.parametrize(
    ("ref", "known"),
    [
        ("registry.example.com/shopfleet:1.2", "project"),
        ("ghcr.io/acme/shopfleet-app@sha256:abc", "project"),
        ("shopfleet", "project"),
        ("docker.io/adrienverge/localstripe:latest", "localstripe"),
        ("nginx:1.27", None),
        ("registry:5000/other", None),
    ],
)
def test_which_images_the_node_can_run(ref, known):
    images = Images()
    config = images.resolve(ref)
    if known is None:
        assert config is None
    else:
        assert config is not None and config.name == ("shopfleet" if known == "project" else known)
