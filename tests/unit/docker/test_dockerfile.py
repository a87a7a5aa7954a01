"""The Dockerfile, read as a file (no Docker here): one slim image, built as a wheel in a
build stage, run as an unprivileged user, `shopfleet serve <part>` as its entrypoint,
a health check that needs no curl, and a build context that holds what it copies."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from setuptools import find_namespace_packages, find_packages

from shopfleet.kit.settings import PlatformSettings
from shopfleet.serve import served_names
from shopfleet.services import SERVICES
from tests.unit.docker.dockerfile import ROOT, dockerignore_patterns, ignored, parse

DOCKERFILE = parse()
FINAL = DOCKERFILE.final


def test_a_slim_python_311_image_built_in_two_stages() -> None:
    assert len(DOCKERFILE.stages) == 2
    build, final = DOCKERFILE.stages
    assert build.name == "build"
    for stage in (build, final):
        assert DOCKERFILE.base_image(stage) == "python:3.11-slim"
    _, words = build.last("RUN").flags_and_words()  # the wheel is built in the build stage
    assert "wheel" in words
    copied = [i.flags_and_words() for i in final.all("COPY")]
    assert copied == [({"from": "build"}, ["/opt/shopfleet", "/opt/shopfleet"])]
    assert "/opt/shopfleet/bin" in FINAL.env()["PATH"].split(":")


def test_it_runs_as_an_unprivileged_numeric_user() -> None:
    user = FINAL.last("USER")
    assert user is not None
    uid, _, gid = user.args.partition(":")
    assert uid.isdigit() and int(uid) >= 1000  # numeric: runAsNonRoot can check it
    assert not gid or (gid.isdigit() and int(gid) != 0)
    # nothing after USER switches back
    after = FINAL.instructions[FINAL.instructions.index(user) + 1 :]
    assert not [i for i in after if i.keyword == "USER"]


def test_the_entrypoint_is_serve_and_the_default_part_the_gateway() -> None:
    entrypoint, cmd = FINAL.last("ENTRYPOINT"), FINAL.last("CMD")
    assert entrypoint is not None and cmd is not None
    assert entrypoint.exec_form() == ["shopfleet", "serve"]
    assert cmd.exec_form() == ["gateway"]
    assert cmd.exec_form()[0] in served_names()
    assert FINAL.last("STOPSIGNAL").args == "SIGTERM"


def test_the_environment_selects_dapr_and_json_logs_and_is_valid_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = FINAL.env()
    assert env["SHOPFLEET_BLOCKS"] == "dapr"
    assert env["SHOPFLEET_LOG_FORMAT"] == "json"
    assert FINAL.last("EXPOSE").args == env["SHOPFLEET_PORT"] == "8000"
    for key, value in env.items():
        if key.startswith("SHOPFLEET_"):
            monkeypatch.setenv(key, value)
    settings = PlatformSettings()  # the image's settings are valid settings
    assert (settings.blocks, settings.log_format, str(settings.data_dir)) == (
        "dapr",
        "json",
        env["SHOPFLEET_DATA_DIR"],
    )


def test_the_healthcheck_asks_healthz_with_python_not_curl() -> None:
    check = FINAL.last("HEALTHCHECK")
    assert check is not None
    flags, words = check.flags_and_words()
    assert words[0] == "CMD" and words[1] == "python"
    assert "/healthz" in check.args and "SHOPFLEET_PORT" in check.args
    assert "curl" not in check.args and "wget" not in check.args
    assert {"interval", "timeout", "start-period", "retries"} <= set(flags)


def test_every_path_it_copies_exists_and_is_in_the_build_context() -> None:
    patterns = dockerignore_patterns()
    sources = []
    for stage in DOCKERFILE.stages:
        for copy in stage.all("COPY"):
            flags, words = copy.flags_and_words()
            if "from" in flags:
                continue  # from another stage, not from the context
            sources += words[:-1]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: no such path"
        assert not ignored(source, patterns), f"COPY {source}: excluded by .dockerignore"
    # what the build needs to make the wheel: the project file and the readme it names
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert {"pyproject.toml", pyproject["project"]["readme"]} <= set(sources)
    for where in pyproject["tool"]["setuptools"]["packages"]["find"]["where"]:
        assert where in sources


def test_the_build_context_leaves_out_local_state_and_tests() -> None:
    patterns = dockerignore_patterns()
    for path in (".venv", ".git", ".shopfleet", "tests/unit", "services/shopfleet/x.db"):
        assert ignored(path, patterns), path
    for path in ("services/shopfleet/serve.py", "operator/shopfleet_operator/__init__.py"):
        assert not ignored(path, patterns), path


def test_the_wheel_carries_every_services_migrations() -> None:
    """The packages setuptools finds (as pyproject.toml configures it) hold each service's
    alembic env.py and versions, so `shopfleet migrate` works from the installed wheel."""
    find = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"][
        "find"
    ]
    finder = find_namespace_packages if find.get("namespaces", True) else find_packages
    packages = {pkg for where in find["where"] for pkg in finder(where=str(ROOT / where))}
    for name, spec in SERVICES.items():
        migrations = ROOT / "services" / spec.module.replace(".", "/") / "migrations"
        if not migrations.exists():
            continue
        assert f"{spec.module}.migrations" in packages, name
        assert f"{spec.module}.migrations.versions" in packages, name


def test_the_entrypoint_runs_and_lists_every_service() -> None:
    entrypoint = FINAL.last("ENTRYPOINT").exec_form()
    executable = str(Path(sys.executable).with_name(entrypoint[0]))  # as installed on PATH
    done = subprocess.run(
        [executable, *entrypoint[1:], "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for name in served_names():
        assert name in done.stdout
