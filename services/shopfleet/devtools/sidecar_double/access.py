"""Dapr's service-invocation access control, as the called app's sidecar applies it.

Read from a Dapr `Configuration` (`spec.accessControl`): a global `defaultAction`, and per
calling app-id (with its namespace and trust domain) an app-level `defaultAction` and
`operations` — a path pattern (`*` one segment, `**` any depth), HTTP verbs (`*` any) and
an action. The rules, as Dapr documents them: no policy at all allows everything; policies
without a global default mean deny; a caller without a policy gets the global default; a
caller with one gets the action of the most specific operation matching path and verb,
else its app-level default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class Operation:
    pattern: re.Pattern[str]
    specificity: int  # literal characters: the longer, the more specific
    verbs: frozenset[str]
    allow: bool

    def matches(self, verb: str, path: str) -> bool:
        return ("*" in self.verbs or verb in self.verbs) and self.pattern.fullmatch(
            path
        ) is not None


@dataclass(frozen=True)
class AppPolicy:
    app_id: str
    namespace: str
    trust_domain: str
    allow_by_default: bool
    operations: tuple[Operation, ...]


@dataclass(frozen=True)
class AccessControl:
    allow_by_default: bool
    trust_domain: str
    policies: tuple[AppPolicy, ...]

    @classmethod
    def allow_all(cls) -> AccessControl:
        return cls(True, "public", ())

    @classmethod
    def from_configuration(cls, path: Path) -> AccessControl:
        return cls.from_document(yaml.safe_load(path.read_text()))

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> AccessControl:
        spec = (doc.get("spec") or {}).get("accessControl")
        if not spec:
            return cls.allow_all()
        policies = tuple(_policy(entry) for entry in spec.get("policies") or [])
        default = spec.get("defaultAction")
        allow = default == "allow" if default else not policies
        return cls(allow, spec.get("trustDomain") or "public", policies)

    def allows(self, caller: str, namespace: str, verb: str, path: str) -> bool:
        """May `caller` (app-id in `namespace`) call `verb path` on the app this guards?"""
        for policy in self.policies:
            if (policy.app_id, policy.namespace) != (caller, namespace):
                continue
            if policy.trust_domain != self.trust_domain:
                continue
            matching = [op for op in policy.operations if op.matches(verb, path)]
            if matching:
                return max(matching, key=lambda op: op.specificity).allow
            return policy.allow_by_default
        return self.allow_by_default


def _policy(entry: dict[str, Any]) -> AppPolicy:
    return AppPolicy(
        app_id=entry["appId"],
        namespace=entry.get("namespace") or "default",
        trust_domain=entry.get("trustDomain") or "public",
        allow_by_default=entry.get("defaultAction", "deny") == "allow",
        operations=tuple(_operation(op) for op in entry.get("operations") or []),
    )


def _operation(op: dict[str, Any]) -> Operation:
    name = op["name"] if op["name"].startswith("/") else "/" + op["name"]
    parts = []
    for segment in name.split("/"):
        if segment == "**":
            parts.append(".*")
        else:
            parts.append("[^/]*".join(re.escape(piece) for piece in segment.split("*")))
    pattern = re.compile("/".join(parts).replace("/.*", "(?:/.*)?"))
    return Operation(
        pattern=pattern,
        specificity=len(name.replace("*", "")),
        verbs=frozenset(v.upper() for v in op.get("httpVerb") or ["*"]),
        allow=op.get("action", "allow") == "allow",
    )
