"""The Shop's status: conditions that keep their transition times, written only on change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from shopfleet_operator.crd import Condition, ShopStatus
from shopfleet_operator.kube import Kube


@dataclass(frozen=True)
class Check:
    type: str
    ok: bool
    reason: str
    message: str = ""


def next_status(
    current: ShopStatus,
    checks: list[Check],
    *,
    generation: int | None,
    url: str | None,
    endpoints: dict[str, str],
) -> ShopStatus:
    now = datetime.now(UTC).replace(microsecond=0)
    conditions = []
    for check in checks:
        status = "True" if check.ok else "False"
        before = current.condition(check.type)
        since = before.last_transition_time if before and before.status == status else None
        conditions.append(
            Condition(
                type=check.type,
                status=status,
                reason=check.reason,
                message=check.message,
                last_transition_time=since or now,
                observed_generation=generation,
            )
        )
    return ShopStatus(
        conditions=conditions, observed_generation=generation, url=url, endpoints=endpoints
    )


def dump(status: ShopStatus) -> dict:
    return status.model_dump(mode="json", by_alias=True, exclude_none=True)


async def write_status(
    kube: Kube, namespace: str, name: str, current: ShopStatus, new: ShopStatus
) -> bool:
    """Patch the status subresource if anything differs; True when written."""
    before, after = dump(current), dump(new)
    if before == after:
        return False
    patch = dict(after)
    # A merge patch keeps keys it does not mention: drop the ones that went away.
    for key in before.keys() - after.keys():
        patch[key] = None
    gone = before.get("endpoints", {}).keys() - after.get("endpoints", {}).keys()
    if gone:
        patch["endpoints"] = {**after.get("endpoints", {}), **dict.fromkeys(gone)}
    await kube.patch("Shop", namespace, name, {"status": patch}, status=True)
    return True
