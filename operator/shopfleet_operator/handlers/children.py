"""Make the cluster hold the desired children: create what is missing, patch what differs."""

from __future__ import annotations

from typing import Any

from shopfleet_operator import quantity
from shopfleet_operator.kube import ApiError, Kube

# Maps of resource quantities (containers' requests and limits, a ResourceQuota's hard,
# a LimitRange's default, ...): the server stores them canonical, so compare by value.
QUANTITY_MAPS = {"requests", "limits", "hard", "default", "defaultRequest", "max", "min"}


def contains(actual: Any, desired: Any, quantities: bool = False) -> bool:
    """Whether `actual` already has everything `desired` asks for (server defaults aside;
    quantities by value: the server reads `5120Mi` back as `5Gi`)."""
    if isinstance(desired, dict):
        actual = {} if actual is None else actual  # absent: only nulls are wanted there
        return isinstance(actual, dict) and all(
            contains(
                actual.get(key),
                value,
                key in QUANTITY_MAPS or (quantities and not isinstance(value, dict | list)),
            )
            for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(desired)
            and all(contains(a, d, quantities) for a, d in zip(actual, desired, strict=True))
        )
    return actual == desired or (quantities and quantity.same(actual, desired))


def without_nulls(obj: Any) -> Any:
    """What to create: a null in a desired object only means "remove it" to a patch."""
    if isinstance(obj, dict):
        return {k: without_nulls(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [without_nulls(v) for v in obj]
    return obj


def _key(obj: dict) -> str:
    meta = obj["metadata"]
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj['kind']} {where}{meta['name']}"


async def apply(kube: Kube, obj: dict) -> str | None:
    """Create or patch one object; what was done (None when it already matched)."""
    meta = obj["metadata"]
    actual = await kube.read(obj["kind"], meta.get("namespace"), meta["name"], meta["labels"])
    if actual is None:
        try:
            await kube.create(without_nulls(obj))
            return f"created {_key(obj)}"
        except ApiError as exc:
            if exc.status != 409:  # someone else created it meanwhile: compare with theirs
                raise
            actual = await kube.get(obj["kind"], meta.get("namespace"), meta["name"]) or {}
    if contains(actual, obj):
        return None
    await kube.patch(obj["kind"], meta.get("namespace"), meta["name"], obj)
    return f"updated {_key(obj)}"


async def apply_all(kube: Kube, objects: list[dict]) -> list[str]:
    done = []
    for obj in objects:
        if (what := await apply(kube, obj)) is not None:
            done.append(what)
    return done


async def prune(
    kube: Kube, kinds: list[str], namespace: str | None, labels: dict[str, str], keep: list[dict]
) -> list[str]:
    """Delete labelled objects of these kinds that are no longer desired."""
    wanted = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in keep}
    done = []
    for kind in kinds:
        for obj in await kube.list(kind, namespace, labels):
            meta = obj["metadata"]
            key = (kind, meta.get("namespace"), meta["name"])
            if key not in wanted and await kube.delete(kind, meta.get("namespace"), meta["name"]):
                done.append(f"deleted {_key({'kind': kind, 'metadata': meta})}")
    return done


async def prune_named(
    kube: Kube, kind: str, namespace: str | None, name: str, labels: dict[str, str]
) -> list[str]:
    """Delete the one object of that name if it carries `labels` (read, not listed)."""
    obj = await kube.read(kind, namespace, name, labels)
    found = (obj or {}).get("metadata", {}).get("labels") or {}
    if obj is None or any(found.get(k) != v for k, v in labels.items()):
        return []
    if await kube.delete(kind, namespace, name):
        return [f"deleted {_key({'kind': kind, 'metadata': obj['metadata']})}"]
    return []
