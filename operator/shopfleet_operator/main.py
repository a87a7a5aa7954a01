"""Every kopf handler of the operator, each a thin shim into `handlers/`.

Run it with `kopf run -m shopfleet_operator.main --all-namespaces` and a kubeconfig (or
in-cluster service account); configuration is in `config.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import kopf

from shopfleet.kit.telemetry import metrics_listener
from shopfleet_operator import metrics, peering
from shopfleet_operator.cache import children_cache
from shopfleet_operator.config import Config
from shopfleet_operator.crd import GROUP, PLURAL, VERSION
from shopfleet_operator.handlers import delete, reconcile
from shopfleet_operator.handlers.accounts import Accounts
from shopfleet_operator.handlers.gateways import Gateways
from shopfleet_operator.handlers.memo import Memo
from shopfleet_operator.handlers.names import FINALIZER
from shopfleet_operator.handlers.reconcile import api_errors_are_temporary
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
            accounts=Accounts(config),
            gateways=Gateways(config),
        )
    return memo["shopfleet"]


async def _guard(memo: Memo, body: kopf.Body, run: Any, handler: str) -> None:
    """One reconcile of a shop at a time (the timer and the handlers), measured, API errors
    sorted."""
    key = f"{body.metadata.namespace}/{body.metadata.name}"
    lock = memo.locks.setdefault(key, asyncio.Lock())
    try:
        await metrics.measured(handler, lock, lambda: run(body, memo))
    except ApiError as exc:
        raise api_errors_are_temporary(exc) from exc


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.persistence.finalizer = FINALIZER
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
    peering.configure(settings, _memo(memo).config)
    # /metrics on the metrics port, for this run (a restart in the same process, as the
    # tests do, starts counting shops afresh).
    metrics.SHOPS.clear()
    memo["metrics"] = contextlib.ExitStack()
    memo["metrics"].enter_context(metrics_listener("0.0.0.0", _memo(memo).config.metrics_port))


@kopf.on.login()
async def login(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> kopf.ConnectionInfo:
    info = kopf.login_with_service_account(settings=settings) or kopf.login_with_kubeconfig(
        settings=settings
    )
    if info is None:
        raise kopf.LoginError("No kubeconfig (KUBECONFIG, ~/.kube/config) or service account.")
    shopfleet = _memo(memo)
    shopfleet.kube.connect(info)
    if shopfleet.kube.cache is None:  # once: a later login only renews the credentials
        shopfleet.kube.cache = children_cache(shopfleet.kube, shopfleet.config)
        shopfleet.kube.cache.start()
    return info


@kopf.on.cleanup()
async def close(memo: kopf.Memo, **_: Any) -> None:
    cache = _memo(memo).kube.cache
    if cache is not None:
        await cache.stop()
    if "metrics" in memo:
        memo["metrics"].close()
    await _memo(memo).kube.close()
    await _memo(memo).platform.close()
    await _memo(memo).accounts.close()
    await _memo(memo).gateways.close()


@kopf.on.create(*SHOPS)
@kopf.on.update(*SHOPS)
@kopf.on.resume(*SHOPS)
async def reconcile_shop(body: kopf.Body, memo: kopf.Memo, logger: Any, **_: Any) -> None:
    await _guard(_memo(memo), body, reconcile.reconcile, "reconcile")


@kopf.timer(*SHOPS, interval=TIMER_INTERVAL, initial_delay=TIMER_INTERVAL)
async def repair_drift(body: kopf.Body, memo: kopf.Memo, logger: Any, **_: Any) -> None:
    await _guard(_memo(memo), body, reconcile.reconcile, "drift")


@kopf.on.delete(*SHOPS)
async def delete_shop(body: kopf.Body, memo: kopf.Memo, logger: Any, **_: Any) -> None:
    await _guard(_memo(memo), body, delete.delete, "delete")


@kopf.on.event(*SHOPS)
def observe_shop(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
    """Every Shop's conditions as the watch last showed them (`shopfleet_operator_shops`)."""
    meta = body.metadata
    metrics.SHOPS.observe(event.get("type"), meta.namespace or "", meta.name or "", body.status)
