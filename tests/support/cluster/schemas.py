"""Validation on write, as kube-apiserver does it, and the Status of a refusal.

- `Quantity`: Kubernetes' resource quantities, parsed and written back in the canonical
  form the real server stores (`5120Mi` → `5Gi`, `1000m` → `1`, `0.5` → `500m`), and
  `normalise_quantities(obj)` for every quantity field of the built-in kinds we serve.
- `CrdSchema`: a CRD version's structural schema: defaulting, pruning of unknown fields
  (unless `x-kubernetes-preserve-unknown-fields`), validation with the server's messages,
  and `x-kubernetes-validations` CEL rules (cel-python).
- `validate_builtin(obj)`: a built-in kind against the Kubernetes OpenAPI schemas of the
  `kubernetes-validate` package; unknown fields are dropped with a warning, as the server
  does by default (`fieldValidation=Warn`).
- `Cause`, `invalid(...)`: the 422 Invalid Status with `details.causes`.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

# ---- the Status of a refusal -----------------------------------------------------------------


@dataclass(frozen=True)
class Cause:
    reason: str  # FieldValueRequired, FieldValueInvalid, FieldValueNotSupported, ...
    field: str  # spec.hosts[0]
    detail: str  # Required value, Invalid value: "x": must be ..., ...

    def as_dict(self) -> dict:
        return {"reason": self.reason, "message": self.detail, "field": self.field}

    def __str__(self) -> str:
        return f"{self.field}: {self.detail}" if self.field else self.detail


def status(code: int, reason: str, message: str, details: dict | None = None) -> dict:
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Status",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details is not None:
        body["details"] = details
    return body


def qualified_kind(kind: str, group: str) -> str:
    return f"{kind}.{group}" if group else kind


def invalid(kind: str, group: str, name: str, causes: list[Cause]) -> dict:
    """422 as kube-apiserver writes it (`errors.NewInvalid`)."""
    listed = str(causes[0]) if len(causes) == 1 else f"[{', '.join(map(str, causes))}]"
    message = f'{qualified_kind(kind, group)} "{name}" is invalid: {listed}'
    details = {
        "name": name,
        "group": group,
        "kind": kind,
        "causes": [c.as_dict() for c in causes],
    }
    if not group:
        del details["group"]
    return status(422, "Invalid", message, details)


def show(value: Any) -> str:
    """A value as Go's `%#v`-ish rendering in field errors: strings quoted, else plain."""
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    if isinstance(value, dict):
        return '"object"'
    if isinstance(value, list):
        return '"array"'
    return str(value)


def field_path(parts: list[Any] | tuple[Any, ...]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


# ---- quantities --------------------------------------------------------------------------------

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {v: k for k, v in _DECIMAL.items()}
_QUANTITY = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))([eE][+-]?[0-9]+|[a-zA-Z]*)$")
QUANTITY_ERROR = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)


class QuantityError(ValueError):
    pass


@dataclass(frozen=True)
class Quantity:
    """A resource quantity: an exact value and the format it was written in."""

    value: Fraction
    format: str  # "binary" (Ki, Mi, ...), "decimal" (m, k, M, ...) or "exponent" (1e3)

    @classmethod
    def parse(cls, text: Any) -> Quantity:
        if isinstance(text, bool):
            raise QuantityError(QUANTITY_ERROR)
        if isinstance(text, int | float):
            text = repr(text) if isinstance(text, float) else str(text)
        match = _QUANTITY.match(str(text).strip())
        if not match:
            raise QuantityError(QUANTITY_ERROR)
        number, suffix = match.groups()
        value = Fraction(number)
        if suffix in _BINARY:
            return cls(value * 1024 ** _BINARY[suffix], "binary")
        if suffix in _DECIMAL:
            return cls(value * Fraction(10) ** _DECIMAL[suffix], "decimal")
        if suffix[:1] in ("e", "E"):
            return cls(value * Fraction(10) ** int(suffix[1:]), "exponent")
        raise QuantityError(QUANTITY_ERROR)

    def __str__(self) -> str:
        return self.canonical()

    def canonical(self) -> str:
        """As `resource.Quantity.String()`: rounded up to nano units, canonical suffix."""
        value = (
            Fraction(math.ceil(self.value * 10**9), 10**9)
            if self.value >= 0
            else -Fraction(math.ceil(-self.value * 10**9), 10**9)
        )
        fmt = self.format
        if fmt == "binary" and (abs(value) < 1024 or value.denominator != 1):
            fmt = "decimal"
        if value == 0:
            return "0"
        if fmt == "binary":
            number, exponent = int(value), 0
            while number % 1024 == 0 and exponent < 6:
                number //= 1024
                exponent += 1
            suffix = {v: k for k, v in _BINARY.items()}.get(exponent, "")
            return f"{number}{suffix}"
        for exponent in range(18, -10, -3):
            mantissa = value / Fraction(10) ** exponent
            if mantissa.denominator == 1:
                if fmt == "exponent":
                    return f"{mantissa}e{exponent}" if exponent else str(mantissa)
                return f"{mantissa}{_DECIMAL_SUFFIX[exponent]}"
        raise AssertionError("unreachable: nano precision")  # pragma: no cover

    # arithmetic for quota admission
    def __add__(self, other: Quantity) -> Quantity:
        return Quantity(self.value + other.value, self.format)


def canonical_quantity(text: Any) -> str:
    return Quantity.parse(text).canonical()


def _normalise_map(mapping: Any, path: str, errors: list[Cause]) -> None:
    if not isinstance(mapping, dict):
        return
    for key, value in list(mapping.items()):
        try:
            mapping[key] = canonical_quantity(value)
        except QuantityError:
            errors.append(
                Cause(
                    "FieldValueInvalid",
                    f"{path}[{key}]",
                    f"Invalid value: {show(value)}: {QUANTITY_ERROR}",
                )
            )


def pod_spec_paths(obj: dict) -> list[tuple[str, dict]]:
    """(field path, pod spec) of a pod or a workload's pod template."""
    kind, spec = obj.get("kind"), obj.get("spec") or {}
    if kind == "Pod":
        return [("spec", spec)]
    if kind in (
        "Deployment",
        "ReplicaSet",
        "StatefulSet",
        "DaemonSet",
        "Job",
        "ReplicationController",
    ):
        return [("spec.template.spec", ((spec.get("template") or {}).get("spec") or {}))]
    if kind == "CronJob":
        job = (spec.get("jobTemplate") or {}).get("spec") or {}
        return [
            ("spec.jobTemplate.spec.template.spec", (job.get("template") or {}).get("spec") or {})
        ]
    return []


def all_containers(pod_spec: dict) -> list[tuple[str, dict]]:
    out = []
    for list_name in ("initContainers", "containers", "ephemeralContainers"):
        for i, container in enumerate(pod_spec.get(list_name) or []):
            out.append((f"{list_name}[{i}]", container))
    return out


def normalise_quantities(obj: dict) -> list[Cause]:
    """Rewrite every quantity field of a built-in object in canonical form (in place).

    Returns the causes of unparsable quantities (the server refuses them on decoding)."""
    errors: list[Cause] = []
    kind = obj.get("kind")
    for path, pod in pod_spec_paths(obj):
        for where, container in all_containers(pod):
            resources = container.get("resources") or {}
            for side in ("requests", "limits"):
                _normalise_map(resources.get(side), f"{path}.{where}.resources.{side}", errors)
        for side in ("requests", "limits"):
            _normalise_map(
                (pod.get("resources") or {}).get(side), f"{path}.resources.{side}", errors
            )
        _normalise_map(pod.get("overhead"), f"{path}.overhead", errors)
        for i, volume in enumerate(pod.get("volumes") or []):
            empty = volume.get("emptyDir")
            if isinstance(empty, dict) and "sizeLimit" in empty:
                holder = {"sizeLimit": empty["sizeLimit"]}
                _normalise_map(holder, f"{path}.volumes[{i}].emptyDir", errors)
                empty["sizeLimit"] = holder["sizeLimit"]
    if kind == "ResourceQuota":
        _normalise_map((obj.get("spec") or {}).get("hard"), "spec.hard", errors)
        for side in ("hard", "used"):
            _normalise_map((obj.get("status") or {}).get(side), f"status.{side}", errors)
    if kind == "LimitRange":
        for i, limit in enumerate((obj.get("spec") or {}).get("limits") or []):
            for side in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio"):
                _normalise_map(limit.get(side), f"spec.limits[{i}].{side}", errors)
    if kind == "PersistentVolumeClaim":
        resources = (obj.get("spec") or {}).get("resources") or {}
        for side in ("requests", "limits"):
            _normalise_map(resources.get(side), f"spec.resources.{side}", errors)
    if kind == "Node":
        for side in ("capacity", "allocatable"):
            _normalise_map((obj.get("status") or {}).get(side), f"status.{side}", errors)
    return errors


# ---- CRD structural schemas --------------------------------------------------------------------

_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
}


def _type_ok(value: Any, wanted: str) -> bool:
    if wanted == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if wanted == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, _TYPES.get(wanted, object))


class CrdSchema:
    """One served version of a CRD: default, prune, validate (with CEL) as the server does."""

    def __init__(self, schema: dict) -> None:
        self.schema = schema or {"type": "object", "x-kubernetes-preserve-unknown-fields": True}

    # defaulting and pruning (mutating, before validation)

    def default_and_prune(self, obj: dict) -> None:
        self._walk(obj, self.schema, root=True)

    def _walk(self, value: Any, schema: dict, root: bool = False) -> None:
        if isinstance(value, dict):
            props = schema.get("properties")
            additional = schema.get("additionalProperties")
            preserve = schema.get("x-kubernetes-preserve-unknown-fields")
            if props is not None or not (additional or preserve):
                keep = set(props or {})
                if root:
                    keep |= {"apiVersion", "kind", "metadata"}
                if not preserve and not isinstance(additional, dict) and additional is not True:
                    for key in [k for k in value if k not in keep]:
                        del value[key]
            for key, sub in (props or {}).items():
                if key not in value and "default" in sub:
                    value[key] = _copy(sub["default"])
                if key in value and not (root and key == "metadata"):
                    self._walk(value[key], sub)
            if isinstance(additional, dict):
                for key in list(value):
                    if key not in (props or {}):
                        self._walk(value[key], additional)
        elif isinstance(value, list) and isinstance(schema.get("items"), dict):
            for item in value:
                self._walk(item, schema["items"])

    # validation

    def validate(self, obj: dict, old: dict | None = None) -> list[Cause]:
        causes: list[Cause] = []
        body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
        old_body = (
            None
            if old is None
            else {k: v for k, v in old.items() if k not in ("apiVersion", "kind")}
        )
        self._check(body, self.schema, [], causes, old_body, root=True)
        return causes

    def _check(
        self,
        value: Any,
        schema: dict,
        path: list[Any],
        causes: list[Cause],
        old: Any,
        root: bool = False,
    ) -> None:
        if old is not None and not root and value == old:
            return  # validation ratcheting (1.30+): an unchanged value is not checked again
        where = field_path(path)
        if value is None:
            if not schema.get("nullable"):
                causes.append(Cause("FieldValueRequired", where, "Required value"))
            return
        wanted = schema.get("type")
        if schema.get("x-kubernetes-int-or-string"):
            if not (isinstance(value, str) or _type_ok(value, "integer")):
                causes.append(
                    Cause(
                        "FieldValueTypeInvalid",
                        where,
                        f"Invalid value: {show(value)}: {where} in body must be of type "
                        "integer,string: " + show(value),
                    )
                )
                return
        elif wanted and not _type_ok(value, wanted):
            shown = show(value)
            actual = _json_type(value)
            causes.append(
                Cause(
                    "FieldValueTypeInvalid",
                    where,
                    f'Invalid value: "{actual}": {where} in body must be of type {wanted}: '
                    f'"{actual}"'
                    if isinstance(value, dict | list)
                    else f"Invalid value: {shown}: {where} in body must be of type {wanted}: "
                    f'"{actual}"',
                )
            )
            return
        if "enum" in schema and value not in schema["enum"]:
            supported = ", ".join(show(v) for v in schema["enum"])
            causes.append(
                Cause(
                    "FieldValueNotSupported",
                    where,
                    f"Unsupported value: {show(value)}: supported values: {supported}",
                )
            )
        if isinstance(value, str):
            if "maxLength" in schema and len(value) > schema["maxLength"]:
                causes.append(
                    Cause(
                        "FieldValueTooLong",
                        where,
                        f"Too long: may not be more than {schema['maxLength']} bytes",
                    )
                )
            if "minLength" in schema and len(value) < schema["minLength"]:
                causes.append(
                    Cause(
                        "FieldValueInvalid",
                        where,
                        f"Invalid value: {show(value)}: {where} in body should be at least "
                        f"{schema['minLength']} chars long",
                    )
                )
            if "pattern" in schema and not re.search(schema["pattern"], value):
                causes.append(
                    Cause(
                        "FieldValueInvalid",
                        where,
                        f"Invalid value: {show(value)}: {where} in body should match "
                        f"'{schema['pattern']}'",
                    )
                )
        if _type_ok(value, "number"):
            for key, op, words in (
                ("minimum", lambda a, b: a >= b, "greater than or equal to"),
                ("maximum", lambda a, b: a <= b, "less than or equal to"),
            ):
                if key in schema:
                    exclusive = schema.get(f"exclusive{key.title()}")
                    bound = schema[key]
                    ok = (
                        (value > bound if key == "minimum" else value < bound)
                        if exclusive
                        else op(value, bound)
                    )
                    if not ok:
                        text = words.replace(" or equal to", "") if exclusive else words
                        causes.append(
                            Cause(
                                "FieldValueInvalid",
                                where,
                                f"Invalid value: {show(value)}: {where} in body should be "
                                f"{text} {bound}",
                            )
                        )
        if isinstance(value, list):
            if "maxItems" in schema and len(value) > schema["maxItems"]:
                causes.append(
                    Cause(
                        "FieldValueTooMany",
                        where,
                        f"Too many: {len(value)}: must have at most {schema['maxItems']} items",
                    )
                )
            if "minItems" in schema and len(value) < schema["minItems"]:
                causes.append(
                    Cause(
                        "FieldValueInvalid",
                        where,
                        f"Invalid value: {len(value)}: {where} in body should have at least "
                        f"{schema['minItems']} items",
                    )
                )
            list_type = schema.get("x-kubernetes-list-type")
            keys = schema.get("x-kubernetes-list-map-keys") or []
            seen: list[Any] = []
            for i, item in enumerate(value):
                ident = tuple((item or {}).get(k) for k in keys) if list_type == "map" else item
                if (list_type in ("set", "map") or schema.get("uniqueItems")) and ident in seen:
                    causes.append(
                        Cause(
                            "FieldValueDuplicate",
                            field_path([*path, i]),
                            f"Duplicate value: {show(item)}",
                        )
                    )
                seen.append(ident)
            if isinstance(schema.get("items"), dict):
                old_items = old if isinstance(old, list) else []
                for i, item in enumerate(value):
                    self._check(
                        item,
                        schema["items"],
                        [*path, i],
                        causes,
                        old_items[i] if i < len(old_items) else None,
                    )
        if isinstance(value, dict):
            for key in schema.get("required") or []:
                if key not in value:
                    causes.append(
                        Cause("FieldValueRequired", field_path([*path, key]), "Required value")
                    )
            if "maxProperties" in schema and len(value) > schema["maxProperties"]:
                causes.append(
                    Cause(
                        "FieldValueTooMany",
                        where,
                        f"Too many: {len(value)}: must have at most "
                        f"{schema['maxProperties']} items",
                    )
                )
            props = schema.get("properties") or {}
            additional = schema.get("additionalProperties")
            old_map = old if isinstance(old, dict) else {}
            for key, item in value.items():
                if root and key == "metadata":
                    continue
                sub = (
                    props.get(key)
                    if key in props
                    else (additional if isinstance(additional, dict) else None)
                )
                if sub is not None:
                    self._check(item, sub, [*path, key], causes, old_map.get(key))
        for combinator in ("allOf",):
            for sub in schema.get(combinator) or []:
                self._check(value, sub, path, causes, old)
        for rule in schema.get("x-kubernetes-validations") or []:
            cause = _cel(rule, value, old, path)
            if cause is not None:
                causes.append(cause)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _copy(value: Any) -> Any:
    import copy

    return copy.deepcopy(value)


@functools.lru_cache(maxsize=256)
def _cel_program(rule: str) -> Any:
    import celpy

    env = celpy.Environment()
    return env.program(env.compile(rule))


def _cel(rule: dict, value: Any, old: Any, path: list[Any]) -> Cause | None:
    """One `x-kubernetes-validations` rule; transition rules (oldSelf) only on update."""
    import celpy

    text = rule["rule"]
    if "oldSelf" in text and old is None:
        return None
    activation = {"self": celpy.json_to_cel(value)}
    if old is not None:
        activation["oldSelf"] = celpy.json_to_cel(old)
    where = field_path(path)
    if rule.get("fieldPath"):
        where = (where + rule["fieldPath"]) if where else rule["fieldPath"].lstrip(".")
    try:
        result = _cel_program(text).evaluate(activation)
    except Exception as exc:  # a CEL evaluation error is a refusal too
        return Cause(
            "FieldValueInvalid", where, f"Invalid value: {show(value)}: rule {text!r} failed: {exc}"
        )
    if isinstance(result, Exception):
        return Cause(
            "FieldValueInvalid",
            where,
            f"Invalid value: {show(value)}: rule {text!r} failed: {result}",
        )
    if bool(result):
        return None
    message = rule.get("message") or f"failed rule: {text}"
    reasons = {
        "FieldValueForbidden": ("FieldValueForbidden", f"Forbidden: {message}"),
        "FieldValueRequired": ("FieldValueRequired", f"Required value: {message}"),
        "FieldValueDuplicate": ("FieldValueDuplicate", f"Duplicate value: {message}"),
    }
    reason, detail = reasons.get(
        rule.get("reason", ""), ("FieldValueInvalid", f"Invalid value: {show(value)}: {message}")
    )
    return Cause(reason, where, detail)


# ---- built-in kinds -------------------------------------------------------------------------

K8S_VERSION = "1.33"


@functools.lru_cache(maxsize=128)
def _builtin_validator(api_version: str, kind: str) -> Any:
    import jsonschema
    import kubernetes_validate
    from kubernetes_validate import utils
    from referencing import Registry, Resource

    version = [
        v for v in utils.all_versions() if utils.major_minor(v) <= utils.major_minor(K8S_VERSION)
    ][-1]
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    folder = f"v{version}-local-strict"
    try:
        schema = utils.schema_contents(
            f"kubernetes-json-schema/{folder}/{kind.lower()}-{group_version}.json", K8S_VERSION
        )
    except FileNotFoundError:
        return None
    defs = utils.schema_contents(f"kubernetes-json-schema/{folder}/_definitions.json", K8S_VERSION)
    registry = Resource.from_contents(defs) @ (Resource.from_contents(schema) @ Registry())
    del kubernetes_validate
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def validate_builtin(obj: dict) -> tuple[list[Cause], list[str]]:
    """(causes, warnings) for a built-in object; unknown fields are removed with a warning."""
    validator = _builtin_validator(obj.get("apiVersion", ""), obj.get("kind", ""))
    if validator is None:
        return [], []
    warnings: list[str] = []
    for _ in range(20):  # drop unknown fields, then validate what is left
        unknown = [e for e in validator.iter_errors(obj) if e.validator == "additionalProperties"]
        if not unknown:
            break
        for error in unknown:
            known = set(error.schema.get("properties") or {})
            target = error.instance
            if not isinstance(target, dict):
                continue
            for key in [k for k in target if k not in known]:
                warnings.append(f'unknown field "{field_path([*error.absolute_path, key])}"')
                del target[key]
    causes = []
    for error in validator.iter_errors(obj):
        path = list(error.absolute_path)
        if error.validator == "required":
            missing = re.match(r"'([^']+)' is a required property", error.message)
            key = missing.group(1) if missing else "?"
            causes.append(Cause("FieldValueRequired", field_path([*path, key]), "Required value"))
        elif error.validator == "type":
            wanted = error.validator_value
            wanted = wanted if isinstance(wanted, str) else wanted[0]
            causes.append(
                Cause(
                    "FieldValueTypeInvalid",
                    field_path(path),
                    f"Invalid value: {show(error.instance)}: must be of type {wanted}",
                )
            )
        elif error.validator == "enum":
            supported = ", ".join(show(v) for v in error.validator_value if v is not None)
            causes.append(
                Cause(
                    "FieldValueNotSupported",
                    field_path(path),
                    f"Unsupported value: {show(error.instance)}: supported values: {supported}",
                )
            )
        else:
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    field_path(path),
                    f"Invalid value: {show(error.instance)}: {error.message}",
                )
            )
    return causes, warnings


# ---- metadata, as every kind's validation checks it ------------------------------------------

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUALIFIED = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
# Kinds whose names are DNS labels (63, no dots); the rest are DNS subdomains (253).
DNS_LABEL_KINDS = {"Namespace", "Service"}


def validate_metadata(obj: dict) -> list[Cause]:
    causes = []
    meta = obj.get("metadata") or {}
    name = meta.get("name") or ""
    if obj.get("kind") in DNS_LABEL_KINDS:
        if len(name) > 63 or not _DNS_LABEL.match(name):
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    "metadata.name",
                    f"Invalid value: {show(name)}: a lowercase RFC 1123 label must consist of "
                    "lower case alphanumeric characters or '-', and must start and end with an "
                    "alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
                    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
                )
            )
    elif name and (len(name) > 253 or not _DNS_SUBDOMAIN.match(name)) and ":" not in name:
        causes.append(
            Cause(
                "FieldValueInvalid",
                "metadata.name",
                f"Invalid value: {show(name)}: a lowercase RFC 1123 subdomain must consist of "
                "lower case alphanumeric characters, '-' or '.', and must start and end with an "
                "alphanumeric character (e.g. 'example.com', regex used for validation is "
                "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
            )
        )
    for key, value in (meta.get("labels") or {}).items():
        prefix, _, short = key.rpartition("/")
        if (
            not short
            or len(short) > 63
            or not _QUALIFIED.match(short)
            or (prefix and not _DNS_SUBDOMAIN.match(prefix))
        ):
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    "metadata.labels",
                    f"Invalid value: {show(key)}: name part must consist of alphanumeric "
                    "characters, '-', '_' or '.', and must start and end with an alphanumeric "
                    "character",
                )
            )
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    "metadata.labels",
                    f"Invalid value: {show(value)}: a valid label must be an empty string or "
                    "consist of alphanumeric characters, '-', '_' or '.', and must start and "
                    "end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
                    "'12345', regex used for validation is "
                    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
                )
            )
    return causes


# ---- immutable fields (update validation of the built-in kinds) -------------------------------

POD_MUTABLE = (
    "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
    "`spec.tolerations` (only additions to existing tolerations),"
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously "
    "negative)"
)


def _without_images(spec: dict) -> dict:
    spec = {
        k: v
        for k, v in spec.items()
        if k not in ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds")
    }
    for key in ("containers", "initContainers"):
        if key in spec:
            spec[key] = [{k: v for k, v in c.items() if k != "image"} for c in spec[key]]
    return spec


def immutable(kind: str, old: dict, new: dict) -> list[Cause]:
    """The fields the server refuses to change on update."""
    causes = []
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    workload = kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet")
    if workload and old_spec.get("selector") != new_spec.get("selector"):
        causes.append(
            Cause(
                "FieldValueInvalid",
                "spec.selector",
                f"Invalid value: {show(new_spec.get('selector'))}: field is immutable",
            )
        )
    if kind == "Job" and old_spec.get("template") != new_spec.get("template"):
        causes.append(
            Cause(
                "FieldValueInvalid",
                "spec.template",
                f"Invalid value: {show(new_spec.get('template'))}: field is immutable",
            )
        )
    if kind == "Pod" and _without_images(old_spec) != _without_images(new_spec):
        causes.append(
            Cause(
                "FieldValueForbidden",
                "spec",
                f"Forbidden: pod updates may not change fields other than {POD_MUTABLE}",
            )
        )
    if (
        kind == "Service"
        and old_spec.get("clusterIP")
        and (new_spec.get("clusterIP") != old_spec.get("clusterIP"))
    ):
        causes.append(
            Cause(
                "FieldValueInvalid",
                "spec.clusterIP",
                f"Invalid value: {show(new_spec.get('clusterIP'))}: field is immutable",
            )
        )
    if kind in ("ConfigMap", "Secret") and old.get("immutable"):
        for key in ("data", "binaryData", "stringData"):
            if old.get(key) != new.get(key):
                causes.append(
                    Cause(
                        "FieldValueForbidden",
                        key,
                        "Forbidden: field is immutable when `immutable` is set",
                    )
                )
    return causes
