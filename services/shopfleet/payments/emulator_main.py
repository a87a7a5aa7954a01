"""The Stripe emulator process: `python -m shopfleet.payments.emulator_main --port N`.

It serves `localstripe` (PyPI) with these changes, all closer to real Stripe or needed
by a platform that starts it per run:

- nothing is kept on disk (localstripe pickles its whole store to /tmp on every write);
- it listens on 127.0.0.1 only;
- a card that Stripe declines on charge (4000000000000002 and the other "declined" test
  numbers, e.g. `pm_card_visa_chargeDeclined`) is declined on charge, not only on attach;
- a refund sends `charge.refunded`, as Stripe does;
- an intent's amount changed by an update is stored as a number (not the form's text);
- webhooks go out through one shared HTTP session after `--webhook-delay` seconds (the
  original waits a second and opens a session per delivery), with a few retries, and only
  to the endpoint registered under the shop's id (`/_config/webhooks/<shop>`) when the
  object names its shop in `metadata.shop`: each shop is its own Stripe account;
- with `--parent-pid` it stops when its parent is gone, even one that was killed.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import logging
import os
import signal
import socket
from typing import Any

import aiohttp
from aiohttp import web
from localstripe import resources, server, webhooks

log = logging.getLogger("shopfleet.stripe-emulator")


def _no_persistence() -> None:
    resources.Store.dump_to_disk = lambda self: None  # type: ignore[method-assign]
    resources.Store.try_load_from_disk = lambda self: None  # type: ignore[method-assign]


def _decline_on_charge() -> None:
    original = resources.PaymentMethod._charging_is_declined

    def declined(self: Any) -> bool:
        return bool(original(self) or resources.PaymentMethod._attaching_is_declined(self))

    resources.PaymentMethod._charging_is_declined = declined  # type: ignore[method-assign]


def _charge_refunded_event() -> None:
    create = resources.Refund._api_create.__func__  # type: ignore[attr-defined]

    def api_create(cls: Any, **data: Any) -> Any:
        refund = create(cls, **data)
        charge = resources.Charge._api_retrieve(refund.charge)
        resources.schedule_webhook(resources.Event("charge.refunded", charge))
        return refund

    resources.Refund._api_create = classmethod(api_create)  # type: ignore[method-assign]


def _typed_intent_updates() -> None:
    update = resources.PaymentIntent._update

    def typed(self: Any, **data: Any) -> None:
        if "amount" in data:  # form data arrives as text; Stripe stores an integer
            amount = resources.try_convert_to_int(data["amount"])
            if not isinstance(amount, int) or amount <= 0:
                raise resources.UserError(400, "Bad request", {"param": "amount"})
            data["amount"] = amount
        update(self, **data)

    resources.PaymentIntent._update = typed  # type: ignore[method-assign]


def _shop_of(obj: dict[str, Any]) -> str | None:
    shop = (obj.get("metadata") or {}).get("shop")
    if shop:
        return str(shop)
    intent_id = obj.get("payment_intent")
    if isinstance(intent_id, str):
        intent = resources.store.get(f"payment_intent:{intent_id}")
        if intent is not None:
            return (intent.metadata or {}).get("shop")
    return None


class Deliveries:
    """Signs and posts each event to the registered endpoints that want it."""

    def __init__(self, delay_s: float, attempts: int = 3) -> None:
        self.delay_s, self.attempts = delay_s, attempts
        self.session: aiohttp.ClientSession | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def schedule(self, event: Any) -> None:
        payload = json.dumps(event._export(), sort_keys=True).encode()
        shop = _shop_of(event.data["object"])
        task = asyncio.ensure_future(self._send(event.type, event.created, payload, shop))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _send(self, kind: str, created: int, payload: bytes, shop: str | None) -> None:
        await asyncio.sleep(self.delay_s)
        if self.session is None:
            self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        for hook_id, hook in list(webhooks._webhooks.items()):
            if hook.events is not None and kind not in hook.events:
                continue
            if shop is not None and hook_id != shop:
                continue
            signature = hmac.new(
                hook.secret.encode(), b"%d.%s" % (created, payload), hashlib.sha256
            ).hexdigest()
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": f"t={created},v1={signature}",
            }
            await self._post(hook.url, payload, headers, kind)

    async def _post(self, url: str, payload: bytes, headers: dict[str, str], kind: str) -> None:
        assert self.session is not None
        for attempt in range(self.attempts):
            try:
                async with self.session.post(url, data=payload, headers=headers) as answer:
                    if answer.status < 300:
                        return
                    log.info("webhook %s to %s answered %d", kind, url, answer.status)
                    if answer.status < 500:
                        return  # the endpoint refused it: retrying changes nothing
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.info("webhook %s to %s failed: %s", kind, url, exc)
            await asyncio.sleep(0.5 * 2**attempt)


def _exit_with_parent(parent_pid: int) -> None:
    """Stop when the process that started us is gone (even if it was killed outright)."""

    async def watch(_: web.Application) -> None:
        async def loop() -> None:
            while os.getppid() == parent_pid:  # noqa: ASYNC110 - nothing to wait on but polling
                await asyncio.sleep(1.0)
            log.info("parent %d is gone: stopping", parent_pid)
            os.kill(os.getpid(), signal.SIGTERM)

        watcher = asyncio.ensure_future(loop())
        server.app["shopfleet.parent_watch"] = watcher

    server.app.on_startup.append(watch)


def build_app(webhook_delay_s: float) -> web.Application:
    _no_persistence()
    _decline_on_charge()
    _charge_refunded_event()
    _typed_intent_updates()
    deliveries = Deliveries(webhook_delay_s)
    resources.schedule_webhook = deliveries.schedule

    async def close(_: web.Application) -> None:
        if deliveries.session is not None:
            await deliveries.session.close()

    server.app.on_cleanup.append(close)
    return server.app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--fd", type=int, help="serve on this inherited listening socket")
    parser.add_argument("--webhook-delay", type=float, default=0.05)
    parser.add_argument("--access-log", action="store_true")
    parser.add_argument("--parent-pid", type=int, help="exit when this process is gone")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = build_app(args.webhook_delay)
    if args.parent_pid:
        _exit_with_parent(args.parent_pid)
    if args.fd is not None:
        sock = socket.socket(fileno=args.fd)
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((args.host, args.port))
    access = logging.getLogger("aiohttp.access") if args.access_log else None
    web.run_app(app, sock=sock, access_log=access, print=None)


if __name__ == "__main__":
    main()
