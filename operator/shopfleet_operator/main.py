"""Every kopf handler of the operator, each a thin shim into `handlers/`.

Run it with `kopf run -m shopfleet_operator.main --all-namespaces` and a kubeconfig (or
in-cluster service account); configuration is in `config.py`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import kopf

from shopfleet_operator.config import Config
from shopfleet_operator.crd import GROUP, PLURAL, VERSION
from shopfleet_operator.handlers import delete, reconcile
from shopfleet_operator.handlers.reconcile import Memo, api_errors_are_temporary
from shopfleet_operator.handlers.tenant import Platform
from shopfleet_operator.kube import ApiError, Kube

SHOPS = (GROUP, VERSION, PLURAL)
# Handlers are registered at import; the timer's interval is the one setting needed then.
TIMER_INTERVAL = Config.from_env().timer_interval


def _memo(memo: kopf.Memo) -> Memo:
    if "shopfleet" not in memo:
        config = Config.from_env()
        memo["shopfleet"] = Memo(
            config=config,
            kube=Kube(),
            platform=Platform(config),
            retry_delay=float(os.environ.get("SHOPFLEET_OPERATOR_RETRY_DELAY", "10")),
        )
    return memo["shopfleet"]


async def _guard(memo: Memo, body: kopf.Body, run: Any) -> None:
    """One reconcile of a shop at a time (the timer and the handlers), API errors sorted."""
    key = f"{body.metadata.namespace}/{body.metadata.name}"
    lock = memo.locks.setdefault(key, asyncio.Lock())
    try:
        async with lock:
            await run(body, memo)
    except ApiError as exc:
        raise api_errors_are_temporary(exc) from exc


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING  # events for steps are posted explicitly
    settings.watching.server_timeout = 300
    # A shop deleted while its drift timer runs keeps its finalizer until kopf sees the
    # timer exit; kopf looks again after this many seconds (its default, 60, left deleted
    # shops hanging for a minute).
    settings.background.cancellation_polling = 1.0
    _memo(memo)


@kopf.on.login()
async def login(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> kopf.ConnectionInfo:
    info = kopf.login_with_service_account(settings=settings) or kopf.login_with_kubeconfig(
        settings=settings
    )
    if info is None:
        raise kopf.LoginError("No kubeconfig (KUBECONFIG, ~/.kube/config) or service account.")
    _memo(memo).kube.connect(info)
    return info


@kopf.on.cleanup()
async def close(memo: kopf.Memo, **_: Any) -> None:
    await _memo(memo).kube.close()
    await _memo(memo).platform.close()


@kopf.on.create(*SHOPS)
@kopf.on.update(*SHOPS)
@kopf.on.resume(*SHOPS)
async def reconcile_shop(body: kopf.Body, memo: kopf.Memo, logger: Any, **_: Any) -> None:
    await _guard(_memo(memo), body, reconcile.reconcile)


@kopf.timer(*SHOPS, interval=TIMER_INTERVAL, initial_delay=TIMER_INTERVAL)
async def repair_drift(body: kopf.Body, memo: kopf.Memo, logger: Any, **_: Any) -> None:
    await _guard(_memo(memo), body, reconcile.reconcile)


@kopf.on.delete(*SHOPS)
async def delete_shop(body: kopf.Body, memo: kopf.Memo, logger: Any, **_: Any) -> None:
    await _guard(_memo(memo), body, delete.delete)
