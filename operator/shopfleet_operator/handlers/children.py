"""Make the cluster hold the desired children: create what is missing, patch what differs."""

from __future__ import annotations

from typing import Any

from shopfleet_operator.kube import ApiError, Kube


def contains(actual: Any, desired: Any) -> bool:
    """Whether `actual` already has everything `desired` asks for (server defaults aside)."""
    if isinstance(desired, dict):
        return isinstance(actual, dict) and all(
            contains(actual.get(key), value) for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(desired)
            and all(contains(a, d) for a, d in zip(actual, desired, strict=True))
        )
    return actual == desired


def _key(obj: dict) -> str:
    meta = obj["metadata"]
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj['kind']} {where}{meta['name']}"


async def apply(kube: Kube, obj: dict) -> str | None:
    """Create or patch one object; what was done (None when it already matched)."""
    meta = obj["metadata"]
    actual = await kube.get(obj["kind"], meta.get("namespace"), meta["name"])
    if actual is None:
        try:
            await kube.create(obj)
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
