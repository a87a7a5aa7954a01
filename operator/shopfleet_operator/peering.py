"""Leader election among the operator's replicas, by kopf peering (`kopf run --peering`).

kopf pauses every replica that sees a live peer of higher priority, and pauses all of them
when two share the highest one, so each replica needs a priority of its own. The longest
running replica leads: a replacement pod starts as a standby instead of taking the lead
from a leader in the middle of its work. A replica that stops normally removes itself from
the peering object at once (its standby resumes within a watch event); one that vanishes
holds the lead for `peering_lifetime` seconds.
"""

from __future__ import annotations

import time

import kopf

from shopfleet_operator.config import Config


def priority(started_ns: int) -> int:
    """Higher for replicas started earlier (microseconds: two pods never tie in practice)."""
    return -(started_ns // 1000)


def configure(settings: kopf.OperatorSettings, config: Config) -> None:
    settings.peering.priority = priority(time.time_ns())
    settings.peering.lifetime = config.peering_lifetime
