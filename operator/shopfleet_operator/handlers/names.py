"""A shop's name is claimed platform-wide, and the first claim wins.

Everything the platform keeps for a shop (its route, the Secret `shop-<name>`, its state
component, the namespace `shop-<name>`, its tenant) is keyed by the name alone, so a
second Shop of that name in another namespace must take none of it. The claim is a Lease
in the operator's namespace, created with POST: the API server's 409 decides between
two Shops (or two operator replicas) claiming at once. A claim whose Shop no longer
exists is taken over with a resourceVersion precondition, so that, too, has one winner.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shopfleet_operator.build.names import (
    ANNOTATION_SHOP_UID,
    CLAIM_PREFIX,
    LABEL_SHOP_NAMESPACE,
    MANAGED_BY,
    name_claim,
)
from shopfleet_operator.config import Config
from shopfleet_operator.crd import GROUP
from shopfleet_operator.kube import ApiError, Kube

ATTEMPTS = 5
FINALIZER = f"{GROUP}/finalizer"  # main.py's: a Shop the operator serves


@dataclass(frozen=True)
class Holder:
    namespace: str
    name: str
    uid: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


class NameTaken(Exception):
    def __init__(self, holder: Holder) -> None:
        self.holder = holder
        super().__init__(
            f"The name '{holder.name}' belongs to the Shop {holder}, which claimed it first; "
            "this Shop takes nothing over (route, Secrets, namespace, tenant). Rename this "
            f"Shop (apply it under another name and delete this one), or delete {holder} "
            "to let this Shop take the name."
        )


def _holder(claim: dict, name: str) -> Holder:
    meta = claim["metadata"]
    return Holder(
        namespace=(meta.get("labels") or {}).get(LABEL_SHOP_NAMESPACE, ""),
        name=name,
        uid=(meta.get("annotations") or {}).get(ANNOTATION_SHOP_UID, ""),
    )


async def _holder_exists(kube: Kube, holder: Holder) -> bool:
    """The holding Shop is still there (being deleted counts: its cleanup is running)."""
    if not holder.namespace:
        return False
    shop = await kube.get("Shop", holder.namespace, holder.name)
    return shop is not None and shop["metadata"].get("uid") == holder.uid


async def _older_namesake(kube: Kube, meta: Mapping[str, Any]) -> Holder | None:
    """A Shop of the same name, older than this one, that an operator already serves (its
    finalizer): made before names were claimed, it was first, and claims on its turn."""
    older = [
        shop["metadata"]
        for shop in await kube.list("Shop", None, {}, fields={"metadata.name": meta["name"]})
        if shop["metadata"]["uid"] != meta["uid"]
        and not shop["metadata"].get("deletionTimestamp")
        and FINALIZER in (shop["metadata"].get("finalizers") or [])
        and shop["metadata"]["creationTimestamp"] < meta["creationTimestamp"]
    ]
    if not older:
        return None
    first = min(older, key=lambda m: m["creationTimestamp"])
    return Holder(first["namespace"], first["name"], first["uid"])


async def claim(kube: Kube, config: Config, meta: Mapping[str, Any]) -> bool:
    """Claim the name for the Shop of `meta`; True when it was not its own before.

    Raises NameTaken when another existing Shop holds it (or, unclaimed, an older one
    made before names were claimed has it)."""
    name, namespace, uid = meta["name"], meta.get("namespace") or "default", meta["uid"]
    desired = name_claim(name, namespace, uid, config)
    claim_name = desired["metadata"]["name"]
    for attempt in range(ATTEMPTS):
        # The cache first (a settled shop's drift check reads no claim from the API server);
        # after a conflict, the API server's own answer.
        where = ("Lease", config.namespace, claim_name)
        current = await (kube.read(*where, MANAGED_BY) if attempt == 0 else kube.get(*where))
        if current is None:
            if (older := await _older_namesake(kube, meta)) is not None:
                raise NameTaken(older)
            try:
                await kube.create(desired)
                return True
            except ApiError as exc:
                if exc.status != 409:
                    raise
                continue  # claimed meanwhile: read whose it is
        holder = _holder(current, name)
        if holder.uid == uid:
            return False
        if await _holder_exists(kube, holder):
            raise NameTaken(holder)
        # Its Shop went without releasing it (deleted while no operator ran, say).
        desired["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        try:
            await kube.patch("Lease", config.namespace, claim_name, desired)
            return True
        except ApiError as exc:
            if exc.status != 409:
                raise
    raise ApiError(409, f"the claim on the shop name '{name}' kept changing; retrying")


async def release(kube: Kube, config: Config, name: str, uid: str) -> bool:
    """Give the name up (after the Shop's cleanup); True when the claim was ours."""
    claim_name = f"{CLAIM_PREFIX}{name}"
    current = await kube.get("Lease", config.namespace, claim_name)
    if current is None or _holder(current, name).uid != uid:
        return False
    return await kube.delete("Lease", config.namespace, claim_name)
