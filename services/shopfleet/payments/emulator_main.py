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
- each secret key is its own Stripe account, as on Stripe: an object is owned by the key
  that created it (the first key it was returned to), and another key gets Stripe's
  404 `resource_missing` for it and does not see it in lists (test payment methods such as
  `pm_card_visa` are everyone's). So a test can tell which account a payment went to;
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
    resources.Store.dump_to_disk = lambda self: None
    resources.Store.try_load_from_disk = lambda self: None


def _decline_on_charge() -> None:
    original = resources.PaymentMethod._charging_is_declined

    def declined(self: Any) -> bool:
        return bool(original(self) or resources.PaymentMethod._attaching_is_declined(self))

    resources.PaymentMethod._charging_is_declined = declined


def _charge_refunded_event() -> None:
    create = resources.Refund._api_create.__func__

    def api_create(cls: Any, **data: Any) -> Any:
        refund = create(cls, **data)
        charge = resources.Charge._api_retrieve(refund.charge)
        resources.schedule_webhook(resources.Event("charge.refunded", charge))
        return refund

    resources.Refund._api_create = classmethod(api_create)


def _typed_intent_updates() -> None:
    update = resources.PaymentIntent._update

    def typed(self: Any, **data: Any) -> None:
        if "amount" in data:  # form data arrives as text; Stripe stores an integer
            amount = resources.try_convert_to_int(data["amount"])
            if not isinstance(amount, int) or amount <= 0:
                raise resources.UserError(400, "Bad request", {"param": "amount"})
            data["amount"] = amount
        update(self, **data)

    resources.PaymentIntent._update = typed


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


class Accounts:
    """Which secret key owns which object id (see the module's docstring)."""

    SHARED_PREFIXES = ("pm_card_", "tok_")  # Stripe's test payment methods and tokens
    REFERENCES = ("payment_intent", "charge", "customer", "payment_method")  # form fields

    def __init__(self) -> None:
        self.owners: dict[str, str] = {}

    def foreign(self, key: str, ids: list[str]) -> str | None:
        """The first of `ids` that another key owns."""
        for object_id in ids:
            owner = self.owners.get(object_id)
            if owner is not None and owner != key:
                return object_id
        return None

    def record(self, key: str, value: Any) -> None:
        if isinstance(value, dict):
            object_id, kind = value.get("id"), value.get("object")
            owned = isinstance(kind, str) and kind != "list"
            if (
                owned
                and isinstance(object_id, str)
                and not object_id.startswith(self.SHARED_PREFIXES)
            ):
                self.owners.setdefault(object_id, key)
            for item in value.values():
                self.record(key, item)
        elif isinstance(value, list):
            for item in value:
                self.record(key, item)

    def visible(self, key: str, value: Any) -> Any:
        """A list response without the other accounts' objects."""
        if isinstance(value, dict) and value.get("object") == "list":
            items = value.get("data") or []
            value["data"] = [
                item
                for item in items
                if not (isinstance(item, dict) and self.foreign(key, [str(item.get("id"))]))
            ]
        return value

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        key = server.get_api_key(request)
        if key is None or not request.path.startswith("/v1/"):
            return await handler(request)
        ids = [part for part in request.path.split("/") if part]
        if request.method == "POST":
            form = await request.post()
            ids += [str(form[name]) for name in self.REFERENCES if name in form]
        else:
            ids += [str(request.query[name]) for name in self.REFERENCES if name in request.query]
        foreign = self.foreign(key, ids)
        if foreign is not None:
            error = {
                "type": "invalid_request_error",
                "code": "resource_missing",
                "message": f"No such object: '{foreign}'",
            }
            return web.json_response({"error": error}, status=404)
        response = await handler(request)
        if (
            isinstance(response, web.Response)
            and response.status < 300
            and response.content_type == "application/json"
            and isinstance(response.body, bytes | bytearray)  # not a streamed Payload
        ):
            body = json.loads(response.body)
            self.record(key, body)
            response.body = json.dumps(self.visible(key, body)).encode()
        return response


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
    server.app.middlewares.insert(0, Accounts().middleware)

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
