"""A small Dockerfile reader for tests: instructions per build stage, continuation lines
joined, comments dropped, JSON (exec) forms decoded."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper-case: FROM, COPY, RUN, ...
    args: str  # the rest of the line, continuation lines joined

    def exec_form(self) -> list[str] | None:
        """The JSON array form (ENTRYPOINT ["a", "b"]), or None for the shell form."""
        text = self.args.strip()
        if text.startswith("["):
            return json.loads(text)
        return None

    def flags_and_words(self) -> tuple[dict[str, str], list[str]]:
        flags: dict[str, str] = {}
        words: list[str] = []
        for word in shlex.split(self.args):
            if word.startswith("--") and not words:
                name, _, value = word[2:].partition("=")
                flags[name] = value
            else:
                words.append(word)
        return flags, words


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for word in shlex.split(instruction.args):
                key, _, value = word.partition("=")
                values[key] = value
        return values


@dataclass
class Dockerfile:
    args: dict[str, str]  # ARGs declared before the first FROM, with their defaults
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def base_image(self, stage: Stage) -> str:
        return re.sub(r"\$\{(\w+)\}", lambda m: self.args.get(m.group(1), ""), stage.base)


def logical_lines(text: str) -> list[str]:
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    if current:
        lines.append(current)
    return lines


def parse(path: Path = ROOT / "Dockerfile") -> Dockerfile:
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical_lines(path.read_text()):
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = rest.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        elif not stages and keyword == "ARG":
            key, _, default = rest.strip().partition("=")
            args[key] = default
        elif stages:
            stages[-1].instructions.append(Instruction(keyword, rest.strip()))
    return Dockerfile(args, stages)


def dockerignore_patterns(path: Path = ROOT / ".dockerignore") -> list[str]:
    lines = [line.strip() for line in path.read_text().splitlines()]
    return [line.lstrip("/") for line in lines if line and not line.startswith("#")]


def ignored(relative: str, patterns: list[str]) -> bool:
    """Whether .dockerignore keeps `relative` (or a parent of it) out of the build context."""
    parts = Path(relative).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!")
        if any(_match(prefix, pattern) for prefix in prefixes):
            result = not negate
    return result


def _match(path: str, pattern: str) -> bool:
    if pattern.startswith("**/"):
        tail = pattern[3:]
        return fnmatch.fnmatchcase(path, tail) or fnmatch.fnmatchcase(path, "*/" + tail)
    return fnmatch.fnmatchcase(path, pattern) and path.count("/") == pattern.count("/")
