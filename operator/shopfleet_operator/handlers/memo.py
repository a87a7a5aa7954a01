"""What the handlers share through kopf's `memo`: built once per operator run (`main.py`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from shopfleet_operator.config import Config
from shopfleet_operator.handlers.accounts import Accounts
from shopfleet_operator.handlers.gateways import Gateways
from shopfleet_operator.handlers.tenant import Platform
from shopfleet_operator.kube import Kube


@dataclass
class Memo:
    """What the handlers share (kopf's `memo`)."""

    config: Config
    kube: Kube
    platform: Platform
    accounts: Accounts
    gateways: Gateways
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)  # one reconcile per shop
