"""RBAC evaluated as kube-apiserver's RBAC authorizer does, from the stored objects.

`authorize(store, attributes)` looks at every ClusterRoleBinding (its ClusterRole grants in
all namespaces) and at the RoleBindings of the request's namespace (their Role, or a
ClusterRole, grants in that namespace only). A rule matches when its verbs, apiGroups,
resources (`shops`, `shops/status`, `*`, `*/status`, `shops/*`) and resourceNames (if
any) do. The group `system:masters` is allowed everything, as on a real server.
`forbidden(attributes)` is the 403 Status with the real server's message.

Not modelled: aggregated ClusterRoles (aggregationRule), the escalation checks on writing
Roles and bindings (`escalate`, `bind`), impersonation, nonResourceURLs rules (any
authenticated user may read discovery, `/version`, `/healthz`, as the default
`system:discovery` binding allows).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from tests.support.cluster.schemas import status

MASTERS = "system:masters"


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...] = ()

    @classmethod
    def service_account(cls, namespace: str, name: str) -> User:
        return cls(
            f"system:serviceaccount:{namespace}:{name}",
            (
                "system:serviceaccounts",
                f"system:serviceaccounts:{namespace}",
                "system:authenticated",
            ),
        )

    @property
    def service_account_ref(self) -> tuple[str, str] | None:
        parts = self.name.split(":")
        if len(parts) == 4 and parts[:2] == ["system", "serviceaccount"]:
            return parts[2], parts[3]
        return None


ADMIN = User("admin", (MASTERS, "system:authenticated"))


@dataclass(frozen=True)
class Attributes:
    user: User
    verb: str  # get list watch create update patch delete deletecollection
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""  # for non-resource requests
    resource_request: bool = True

    @property
    def full_resource(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


@dataclass
class Decision:
    allowed: bool
    reason: str = ""
    by: list[str] = field(default_factory=list)


# (resource key, namespace) -> objects; "rbac.authorization.k8s.io/v1/roles" etc.
Lister = Callable[[str, str | None], Iterable[dict]]

ROLES = "rbac.authorization.k8s.io/v1/roles"
CLUSTER_ROLES = "rbac.authorization.k8s.io/v1/clusterroles"
ROLE_BINDINGS = "rbac.authorization.k8s.io/v1/rolebindings"
CLUSTER_ROLE_BINDINGS = "rbac.authorization.k8s.io/v1/clusterrolebindings"


def _subject_matches(subject: dict, user: User, binding_namespace: str | None) -> bool:
    kind = subject.get("kind")
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or binding_namespace or ""
        return user.name == f"system:serviceaccount:{ns}:{subject.get('name')}"
    if kind == "User":
        return user.name == subject.get("name")
    if kind == "Group":
        return subject.get("name") in user.groups
    return False


def rule_allows(rule: dict, attrs: Attributes) -> bool:
    if not attrs.resource_request:
        urls = rule.get("nonResourceURLs") or []
        verbs = rule.get("verbs") or []
        return ("*" in verbs or attrs.verb in verbs) and any(
            u == attrs.path or u == "*" or (u.endswith("*") and attrs.path.startswith(u[:-1]))
            for u in urls
        )
    verbs = rule.get("verbs") or []
    if "*" not in verbs and attrs.verb not in verbs:
        return False
    groups = rule.get("apiGroups") or []
    if "*" not in groups and attrs.group not in groups:
        return False
    resources = rule.get("resources") or []
    wanted = attrs.full_resource
    if not any(
        r == "*"
        or r == wanted
        or (attrs.subresource and r == f"*/{attrs.subresource}")
        or (attrs.subresource and r == f"{attrs.resource}/*")
        for r in resources
    ):
        return False
    names = rule.get("resourceNames") or []
    return not names or (bool(attrs.name) and attrs.name in names)


def _role_rules(lister: Lister, ref: dict, namespace: str | None) -> list[dict]:
    kind, name = ref.get("kind"), ref.get("name")
    if kind == "ClusterRole":
        found = [r for r in lister(CLUSTER_ROLES, None) if r["metadata"]["name"] == name]
    elif kind == "Role" and namespace:
        found = [r for r in lister(ROLES, namespace) if r["metadata"]["name"] == name]
    else:
        found = []
    return found[0].get("rules") or [] if found else []


def authorize(lister: Lister, attrs: Attributes) -> Decision:
    user = attrs.user
    if MASTERS in user.groups:
        return Decision(True, "system:masters")
    if (
        not attrs.resource_request
        and "system:authenticated" in user.groups
        and attrs.verb == "get"
        and (
            attrs.path
            in ("/api", "/apis", "/version", "/healthz", "/livez", "/readyz", "/openapi/v2")
            or attrs.path.startswith(("/api/", "/apis/", "/openapi/"))
        )
    ):
        return Decision(True, "system:discovery")
    for binding in lister(CLUSTER_ROLE_BINDINGS, None):
        if any(_subject_matches(s, user, None) for s in binding.get("subjects") or []):
            for rule in _role_rules(lister, binding.get("roleRef") or {}, None):
                if rule_allows(rule, attrs):
                    return Decision(True, f'ClusterRoleBinding "{binding["metadata"]["name"]}"')
    if attrs.namespace:
        for binding in lister(ROLE_BINDINGS, attrs.namespace):
            if any(
                _subject_matches(s, user, attrs.namespace) for s in binding.get("subjects") or []
            ):
                for rule in _role_rules(lister, binding.get("roleRef") or {}, attrs.namespace):
                    if rule_allows(rule, attrs):
                        return Decision(
                            True,
                            f'RoleBinding "{binding["metadata"]["name"]}" of namespace '
                            f'"{attrs.namespace}"',
                        )
    return Decision(False)


def forbidden_message(attrs: Attributes) -> str:
    """kube-apiserver's `forbiddenMessage` wrapped by `errors.NewForbidden`."""
    user = attrs.user.name
    if not attrs.resource_request:
        return f'forbidden: User "{user}" cannot {attrs.verb} path "{attrs.path}"'
    why = (
        f'User "{user}" cannot {attrs.verb} resource "{attrs.full_resource}" in API group '
        f'"{attrs.group}"'
    )
    why += f' in the namespace "{attrs.namespace}"' if attrs.namespace else " at the cluster scope"
    qualified = f"{attrs.resource}.{attrs.group}" if attrs.group else attrs.resource
    if attrs.name:
        return f'{qualified} "{attrs.name}" is forbidden: {why}'
    return f"{qualified} is forbidden: {why}"


def forbidden(attrs: Attributes) -> dict:
    details = {"name": attrs.name, "group": attrs.group, "kind": attrs.resource}
    details = {k: v for k, v in details.items() if v}
    if not attrs.resource_request:
        details = {}
    return status(403, "Forbidden", forbidden_message(attrs), details)
