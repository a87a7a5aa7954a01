"""The images the node can run, and a container's command as Kubernetes builds it.

The project's image is the Dockerfile's final stage: its ENTRYPOINT, CMD, ENV, WORKDIR and
USER are read from the checkout's Dockerfile, and the venv it would copy to /opt/shopfleet
is the virtual env the tests run in (the checkout's .venv), bind-mounted there by the
node, with the checkout mounted read-only at /opt/shopfleet-src and first on PYTHONPATH
(a worktree's code runs).

How Kubernetes combines them (`command_for`):

- `command` set: the image's ENTRYPOINT and CMD are both ignored; the process is
  `command + args`;
- only `args` set: `ENTRYPOINT + args`;
- neither: `ENTRYPOINT + CMD`.

`$(VAR)` in command, args and env values is expanded from the container's environment
(`$$(VAR)` is an escaped literal `$(VAR)`; an undefined `$(VAR)` stays as written).
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# What python:3.11-slim sets (the base image's config, which the Dockerfile inherits).
BASE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
}
BASE_CMD = ["python3"]


@dataclass
class ImageConfig:
    name: str
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    user: str = "0"
    # Directories the image's file system has, with (uid, gid, mode): e.g. /data.
    dirs: dict[str, tuple[int, int, int]] = field(default_factory=dict)

    @property
    def uid(self) -> int:
        return int(self.user.split(":")[0])

    @property
    def gid(self) -> int:
        parts = self.user.split(":")
        return int(parts[1]) if len(parts) > 1 else self.uid


def _logical_lines(text: str) -> list[str]:
    """Dockerfile lines with continuations joined and comments dropped."""
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") and not current:
            continue
        if stripped.startswith("#"):  # a comment inside a continued instruction
            continue
        if raw.rstrip().endswith("\\"):
            current += raw.rstrip()[:-1] + " "
            continue
        current += raw
        if current.strip():
            lines.append(current.strip())
        current = ""
    if current.strip():
        lines.append(current.strip())
    return lines


def _substitute(value: str, env: Mapping[str, str]) -> str:
    """Dockerfile variable substitution: $VAR, ${VAR}, ${VAR:-default}."""

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        default = m.group(3)
        if name in env and env[name] != "":
            return env[name]
        return default or "" if default is not None else env.get(name, "")

    return re.sub(
        r"\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\})", repl, value
    )


def _command_form(rest: str) -> list[str]:
    """Exec form (a JSON array) or shell form (run by /bin/sh -c)."""
    rest = rest.strip()
    if rest.startswith("["):
        try:
            value = json.loads(rest)
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    return ["/bin/sh", "-c", rest]


def _env_pairs(rest: str, env: Mapping[str, str]) -> list[tuple[str, str]]:
    words = shlex.split(rest, posix=True)
    if words and "=" not in words[0]:  # legacy form: ENV KEY value with spaces
        key, _, value = rest.strip().partition(" ")
        return [(key, _substitute(value.strip(), env))]
    pairs = []
    scope = dict(env)
    for word in words:
        key, _, value = word.partition("=")
        value = _substitute(value, scope)
        pairs.append((key, value))
    return pairs


def parse_dockerfile(path: str | Path, name: str = "shopfleet") -> ImageConfig:
    """The final stage's configuration."""
    lines = _logical_lines(Path(path).read_text())
    args: dict[str, str] = {}
    image = ImageConfig(name=name)
    in_final = False
    stage_args: dict[str, str] = {}
    cmd_from_base = True
    for line in lines:
        instruction, _, rest = line.partition(" ")
        instruction = instruction.upper()
        rest = rest.strip()
        if instruction == "FROM":
            image = ImageConfig(name=name, cmd=list(BASE_CMD), env=dict(BASE_ENV))
            cmd_from_base = True
            stage_args = {}
            in_final = True
            continue
        if instruction == "ARG":
            key, _, default = rest.partition("=")
            (args if not in_final else stage_args)[key.strip()] = default.strip().strip('"')
            continue
        scope = {**stage_args, **image.env}
        if instruction == "ENV":
            for key, value in _env_pairs(rest, scope):
                image.env[key] = value
                scope[key] = value
        elif instruction == "ENTRYPOINT":
            image.entrypoint = _command_form(rest)
            if cmd_from_base:  # Docker: a new ENTRYPOINT resets a CMD inherited from the base
                image.cmd = []
        elif instruction == "CMD":
            image.cmd = _command_form(rest)
            cmd_from_base = False
        elif instruction == "WORKDIR":
            workdir = _substitute(rest, scope)
            image.workdir = workdir if workdir.startswith("/") else f"{image.workdir}/{workdir}"
            image.dirs.setdefault(image.workdir, (0, 0, 0o755))
        elif instruction == "USER":
            image.user = _substitute(rest, scope)
        elif instruction == "RUN":
            # The one thing of RUN we model: directories created with an owner and mode.
            for m in re.finditer(r"install\s+--directory((?:\s+--\S+)*)\s+(/\S+)", rest):
                opts = dict(re.findall(r"--(owner|group|mode)=(\S+)", m.group(1)))
                image.dirs[m.group(2)] = (
                    int(opts.get("owner", 0)),
                    int(opts.get("group", 0)),
                    int(opts.get("mode", "0755"), 8),
                )
    return image


def is_set(value: list[str] | None) -> bool:
    return bool(value)


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: `$$` is a literal `$`, an undefined `$(VAR)` stays."""
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch != "$" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            close = text.find(")", i + 2)
            if close == -1:
                out.append(text[i:])
                break
            name = text[i + 2 : close]
            out.append(env[name] if name in env else text[i : close + 1])
            i = close + 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def command_for(
    container: Mapping, image: ImageConfig, env: Mapping[str, str] | None = None
) -> list[str]:
    """The process a container runs, as the kubelet and runtime build it."""
    env = env or {}
    command = container.get("command") or []
    args = container.get("args") or []
    command = [expand(c, env) for c in command]
    args = [expand(a, env) for a in args]
    if command:
        return command + args
    if args:
        return list(image.entrypoint) + args
    return list(image.entrypoint) + list(image.cmd)


# ---- the images the node knows --------------------------------------------------------------

CHECKOUT = Path(__file__).resolve().parents[3]
PROJECT_DOCKERFILE = CHECKOUT / "Dockerfile"
# The virtual env this process runs in: `scripts/test` makes it (the checkout's .venv).
VENV = Path(sys.prefix)
VENV_IN_IMAGE = "/opt/shopfleet"
# Where the checkout is mounted in containers: a fixed path, so that no volume (an
# emptyDir on /tmp, say) can hide it, wherever the checkout lives.
CHECKOUT_IN_IMAGE = "/opt/shopfleet-src"


def _venv_env() -> dict[str, str]:
    return {
        "PATH": f"{VENV_IN_IMAGE}/bin:" + BASE_ENV["PATH"],
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


class Images:
    """The node's image store: which image references it can run, and as what."""

    def __init__(self, dockerfile: str | Path = PROJECT_DOCKERFILE, checkout: Path = CHECKOUT):
        self.checkout = checkout
        self.project = parse_dockerfile(dockerfile)
        self.extra: dict[str, ImageConfig] = {
            "localstripe": ImageConfig(
                name="localstripe",
                entrypoint=[
                    "python",
                    "-m",
                    "shopfleet.payments.emulator_main",
                    "--host",
                    "0.0.0.0",
                    "--port",
                    "8420",
                ],
                env=_venv_env(),
                workdir="/",
                user="10001:10001",
            ),
        }

        # An injected sidecar (the Dapr double) runs from the venv, as the image's user.
        self.sidecar = ImageConfig(
            name="sidecar", env=_venv_env(), workdir="/", user=self.project.user
        )
        self.extra["daprd"] = self.sidecar

    def add(self, repository_part: str, config: ImageConfig) -> None:
        self.extra[repository_part] = config

    @staticmethod
    def repository(ref: str) -> str:
        ref = ref.split("@", 1)[0]
        last = ref.rsplit("/", 1)[-1]
        if ":" in last:
            ref = ref[: len(ref) - len(last)] + last.split(":", 1)[0]
        return ref

    def resolve(self, ref: str) -> ImageConfig | None:
        """The image a reference names, or None (the node reports ErrImagePull)."""
        repo = self.repository(ref or "")
        if "shopfleet" in repo:
            return self.project
        for part, config in self.extra.items():
            if part in repo:
                return config
        return None

    def pythonpath(self) -> str:
        co = CHECKOUT_IN_IMAGE
        return f"{co}/services:{co}/operator:{co}"
