"""The Shop's status: conditions that keep their transition times, written only on change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from shopfleet_operator.crd import Condition, ShopStatus, ShopUsage
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
    usage: ShopUsage | None = None,
) -> ShopStatus:
    conditions = [_condition(current, check, generation) for check in checks]
    return ShopStatus(
        conditions=conditions,
        observed_generation=generation,
        url=url,
        endpoints=endpoints,
        usage=usage,
    )


def with_condition(current: ShopStatus, check: Check) -> ShopStatus:
    """The status with one condition set (added, or replacing that type's)."""
    new = _condition(current, check, current.observed_generation)
    kept = [c for c in current.conditions if c.type != check.type]
    return current.model_copy(update={"conditions": [*kept, new]})


def _condition(current: ShopStatus, check: Check, generation: int | None) -> Condition:
    now = datetime.now(UTC).replace(microsecond=0)
    status: Literal["True", "False"] = "True" if check.ok else "False"
    before = current.condition(check.type)
    since = before.last_transition_time if before and before.status == status else None
    return Condition(
        type=check.type,
        status=status,
        reason=check.reason,
        message=check.message,
        last_transition_time=since or now,
        observed_generation=generation,
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
