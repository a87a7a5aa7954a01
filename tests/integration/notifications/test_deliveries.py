"""Sending: the log sender, a real SMTP server (aiosmtpd), failures retried with back-off,
given up after the last attempt, and several workers sharing the work."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shopfleet.kit.contracts import events as ev
from shopfleet.notifications.senders import SmtpSender
from tests.integration.notifications.conftest import Events, NotificationsApi, new_user
from tests.integration.notifications.smtp import (
    Mailbox,
    free_port,
    server_tls,
    smtp_server,
    tls_files,
)

Start = Callable[..., Awaitable[NotificationsApi]]
ADMIN = "admin-1"


def smtp(port: int) -> SmtpSender:
    return SmtpSender("127.0.0.1", port, sender="ACME <shop@example.com>", starttls=False)


async def deliveries(api: NotificationsApi, user: str) -> list[dict[str, Any]]:
    """The user's notifications' deliveries, newest first, as a shop admin sees them."""
    answer = await api.list(ADMIN, admin=True, user=user)
    assert answer.status_code == 200, answer.text
    return [item["delivery"] for item in answer.json()["items"]]


async def one_delivery(api: NotificationsApi, user: str) -> dict[str, Any]:
    [delivery] = await deliveries(api, user)
    return delivery


async def timed_round(api: NotificationsApi) -> tuple[int, datetime, datetime]:
    """One worker round, and the clock's time before and after it."""
    before = datetime.fromtimestamp(api.clock(), UTC)
    sent = await api.send_due()
    return sent, before, datetime.fromtimestamp(api.clock(), UTC)


def seconds_after(
    delivery: dict[str, Any], before: datetime, after: datetime
) -> tuple[float, float]:
    """The next attempt's distance from the round's time: between these two (in s)."""
    due = datetime.fromisoformat(delivery["next_attempt_at"])
    return (due - after).total_seconds(), (due - before).total_seconds()


async def test_the_log_sender_delivers_what_is_recorded(notifications: NotificationsApi) -> None:
    user = new_user()
    await notifications.deliver(ev.ORDER_PLACED, Events(user).placed())
    pending = await one_delivery(notifications, user)
    assert pending["status"] == "pending" and pending["attempts"] == 0  # handling sent nothing

    assert await notifications.send_due() == 1
    sent = await one_delivery(notifications, user)
    assert sent["status"] == "delivered" and sent["attempts"] == 1
    assert sent["delivered_at"] is not None and sent["next_attempt_at"] is None
    assert await notifications.send_due() == 0  # nothing twice


async def test_smtp_sends_an_email_to_the_registered_address(start_notifications: Start) -> None:
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        api = await start_notifications(using=smtp(port))
        user = new_user()
        await api.register(user, "ada@example.com", "Ada Lovelace")
        order = Events(user)
        await api.deliver(ev.ORDER_PAID, order.paid())
        assert mailbox.messages == []  # the handler only records
        assert await api.send_due() == 1

    [email] = mailbox.messages
    ref = order.order_id[:8].upper()
    assert email["To"] == "Ada Lovelace <ada@example.com>"
    assert email["From"] == "ACME <shop@example.com>"
    assert email["Subject"] == f"Payment received for order {ref}"
    body = email.get_content()
    assert body.startswith("Hello Ada Lovelace,")
    assert f"We received your payment of 29.90 EUR for order {ref}." in body
    delivery = await one_delivery(api, user)
    assert delivery["status"] == "delivered" and delivery["attempts"] == 1


def smtp_settings(cert: Path, port: int, password: str) -> dict[str, Any]:
    return dict(
        sender="smtp",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_starttls=True,
        smtp_username="shop",
        smtp_password=password,
        smtp_ca_file=cert,
    )


async def test_starttls_and_login_from_the_settings(
    start_notifications: Start, tmp_path: Path
) -> None:
    cert, key = tls_files(tmp_path)
    mailbox = Mailbox()
    with smtp_server(mailbox, tls=server_tls(cert, key), credentials=("shop", "s3cret")) as port:
        api = await start_notifications(**smtp_settings(cert, port, "s3cret"))
        user = new_user()
        await api.register(user, "ada@example.com")
        await api.deliver(ev.ORDER_PLACED, Events(user).placed())
        assert await api.send_due() == 1
    assert [email["To"] for email in mailbox.messages] == ["Ada <ada@example.com>"]
    assert (await one_delivery(api, user))["status"] == "delivered"


async def test_implicit_tls_from_the_settings(start_notifications: Start, tmp_path: Path) -> None:
    cert, key = tls_files(tmp_path)
    mailbox = Mailbox()
    with smtp_server(mailbox, implicit_tls=server_tls(cert, key)) as port:
        api = await start_notifications(
            sender="smtp",
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_ssl=True,
            smtp_ca_file=cert,
        )
        user = new_user()
        await api.register(user, "ada@example.com")
        await api.deliver(ev.ORDER_PLACED, Events(user).placed())
        assert await api.send_due() == 1
    assert [email["To"] for email in mailbox.messages] == ["Ada <ada@example.com>"]


async def test_a_wrong_password_is_retried_not_dropped(
    start_notifications: Start, tmp_path: Path
) -> None:
    """A rejected login is a setting to fix: the message waits for the next attempt."""
    cert, key = tls_files(tmp_path)
    mailbox = Mailbox()
    with smtp_server(mailbox, tls=server_tls(cert, key), credentials=("shop", "s3cret")) as port:
        api = await start_notifications(**smtp_settings(cert, port, "wrong"))
        user = new_user()
        await api.register(user, "ada@example.com")
        await api.deliver(ev.ORDER_PLACED, Events(user).placed())
        assert await api.send_due() == 1
    assert mailbox.messages == []
    failed = await one_delivery(api, user)
    assert failed["status"] == "pending" and failed["attempts"] == 1
    assert "login failed" in failed["last_error"]


async def test_temporary_failures_back_off_then_deliver(start_notifications: Start) -> None:
    mailbox = Mailbox()
    mailbox.fail_data = ["451 4.3.0 Try again later", "421 4.7.0 Too busy"]
    with smtp_server(mailbox) as port:
        api = await start_notifications(using=smtp(port))  # back-off 60 s, doubling
        user = new_user()
        await api.register(user, "ada@example.com")
        await api.deliver(ev.ORDER_PAID, Events(user).paid())

        sent, before, after = await timed_round(api)
        assert sent == 1
        first = await one_delivery(api, user)
        assert first["status"] == "pending" and first["attempts"] == 1
        assert "451" in first["last_error"]
        low, high = seconds_after(first, before, after)
        assert low <= 60 <= high

        assert await api.send_due() == 0  # not due yet
        api.clock.advance(60)
        sent, before, after = await timed_round(api)
        assert sent == 1
        second = await one_delivery(api, user)
        assert second["attempts"] == 2 and "421" in second["last_error"]
        low, high = seconds_after(second, before, after)
        assert low <= 120 <= high  # doubled

        api.clock.advance(119)
        assert await api.send_due() == 0
        api.clock.advance(1)
        assert await api.send_due() == 1

    assert len(mailbox.messages) == 1
    done = await one_delivery(api, user)
    assert done["status"] == "delivered" and done["attempts"] == 3
    assert done["next_attempt_at"] is None


async def test_a_server_that_never_answers_is_given_up(start_notifications: Start) -> None:
    api = await start_notifications(using=smtp(free_port()), max_attempts=4)
    user = new_user()
    await api.register(user, "ada@example.com")
    await api.deliver(ev.ORDER_PLACED, Events(user).placed())

    waits = []
    for attempt in range(1, 5):
        sent, before, after = await timed_round(api)
        assert sent == 1
        delivery = await one_delivery(api, user)
        assert delivery["attempts"] == attempt
        assert "ConnectionRefusedError" in delivery["last_error"]
        if attempt < 4:
            low, high = seconds_after(delivery, before, after)
            waits.append(next(w for w in (60, 120, 240) if low <= w <= high))
            api.clock.advance(3600)

    assert waits == [60, 120, 240]
    gave_up = await one_delivery(api, user)
    assert gave_up["status"] == "failed" and gave_up["next_attempt_at"] is None
    api.clock.advance(86_400)
    assert await api.send_due() == 0  # given up for good


async def test_a_refused_recipient_is_given_up_at_once(start_notifications: Start) -> None:
    mailbox = Mailbox()
    mailbox.refuse_rcpt = "550 5.1.1 No such user here"
    with smtp_server(mailbox) as port:
        api = await start_notifications(using=smtp(port))
        user = new_user()
        await api.register(user, "nobody@example.com")
        await api.deliver(ev.ORDER_PLACED, Events(user).placed())
        assert await api.send_due() == 1
    delivery = await one_delivery(api, user)
    assert delivery["status"] == "failed" and delivery["attempts"] == 1
    assert "550" in delivery["last_error"]
    # The shopper still sees the notification in the API; only the e-mail failed.
    [item] = await api.items(user)
    assert item["kind"] == "order_placed" and item["delivery"]["last_error"] is None


async def test_the_address_may_arrive_after_the_order(start_notifications: Start) -> None:
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        api = await start_notifications(using=smtp(port))
        user = new_user()
        await api.deliver(ev.ORDER_PLACED, Events(user).placed())
        assert await api.send_due() == 1
        waiting = await one_delivery(api, user)
        assert waiting["status"] == "pending" and "no e-mail address" in waiting["last_error"]

        await api.register(user, "late@example.com", "Late")  # identity's event, reordered
        api.clock.advance(60)
        assert await api.send_due() == 1
    assert [email["To"] for email in mailbox.messages] == ["Late <late@example.com>"]


async def test_the_worker_sends_on_its_own(start_notifications: Start) -> None:
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        api = await start_notifications(using=smtp(port), worker_enabled=True, poll_interval_s=0.05)
        user = new_user()
        await api.register(user, "ada@example.com")
        await api.deliver(ev.ORDER_PLACED, Events(user).placed())
        # Until it was sent and marked so (the worker is woken by the commit; it marks the
        # delivery after the SMTP server took the message, so both are waited for).
        for _ in range(400):
            if mailbox.messages and (await one_delivery(api, user))["status"] == "delivered":
                break
            await asyncio.sleep(0.025)
    assert len(mailbox.messages) == 1
    delivered = await one_delivery(api, user)
    assert delivered["status"] == "delivered"


async def test_two_replicas_send_each_notification_once(start_notifications: Start) -> None:
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        first = await start_notifications(using=smtp(port), batch_size=3)
        users = [new_user() for _ in range(10)]
        for user in users:
            await first.register(user, f"{user[:8]}@example.com")
            await first.deliver(ev.ORDER_PLACED, Events(user).placed())
        # A second replica on the same database (it declares its own subscriptions, so
        # events are delivered before it starts).
        second = await start_notifications(using=smtp(port), batch_size=3)
        rounds = []
        while True:
            sent = await asyncio.gather(first.send_due(), second.send_due())
            rounds.append(sent)
            if sum(sent) == 0:
                break
    assert sum(sum(sent) for sent in rounds) == 10
    assert sorted(email["To"].addresses[0].username for email in mailbox.messages) == sorted(
        user[:8] for user in users
    )
    for user in users:
        delivery = await one_delivery(first, user)
        assert delivery["status"] == "delivered" and delivery["attempts"] == 1


async def test_a_claim_of_a_replica_that_died_passes_on_after_its_lease(
    start_notifications: Start,
) -> None:
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        dying = await start_notifications(using=smtp(port), lease_s=300)
        user = new_user()
        await dying.register(user, "ada@example.com")
        await dying.deliver(ev.ORDER_PLACED, Events(user).placed())
        # The replica claims the delivery, then dies before sending (nothing recorded).
        assert len(await dying.app.state.deliveries._claim()) == 1

        survivor = await start_notifications(using=smtp(port), lease_s=300)
        assert await survivor.send_due() == 0  # still leased
        survivor.clock.advance(300)
        assert await survivor.send_due() == 1
    assert len(mailbox.messages) == 1
    delivered = await one_delivery(survivor, user)
    assert delivered["status"] == "delivered" and delivered["attempts"] == 1
