"""The topic registry: every topic typed, named on the wire as before, owned by one service;
`Outbox.add` refuses another service's topic and a payload of another model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from shopfleet.kit.contracts import events as ev
from shopfleet.kit.contracts.topics import EventPayload, ForeignTopicError, Topic, topic_registry
from shopfleet.kit.db import Database, service_of
from shopfleet.kit.outbox import Outbox

# The wire names and owners are a contract with running services: they never change.
WIRE = {
    "USER_REGISTERED": ("user.registered", "identity"),
    "SHOP_CREATED": ("shop.created", "identity"),
    "CATEGORY_UPDATED": ("category.updated", "categories"),
    "CATEGORY_DELETED": ("category.deleted", "categories"),
    "PRODUCT_UPDATED": ("product.updated", "catalog"),
    "PRODUCT_DELETED": ("product.deleted", "catalog"),
    "STOCK_LOW": ("stock.low", "catalog"),
    "ORDER_PLACED": ("order.placed", "orders"),
    "ORDER_PAID": ("order.paid", "orders"),
    "ORDER_CANCELLED": ("order.cancelled", "orders"),
    "ORDER_STATUS_CHANGED": ("order.status_changed", "orders"),
    "PAYMENT_SUCCEEDED": ("payment.succeeded", "payments"),
    "PAYMENT_FAILED": ("payment.failed", "payments"),
    "PAYMENT_REFUNDED": ("payment.refunded", "payments"),
    "SHIPMENT_CREATED": ("shipment.created", "shipping"),
    "SHIPMENT_STATUS_CHANGED": ("shipment.status_changed", "shipping"),
}


def declared_topics() -> dict[str, Topic[EventPayload]]:
    return {name: value for name, value in vars(ev).items() if isinstance(value, Topic)}


def test_every_topic_keeps_its_constant_wire_name_and_owner() -> None:
    declared = declared_topics()
    assert {name: (t.name, t.owner) for name, t in declared.items()} == WIRE
    assert dict(ev.TOPICS) == {t.name: t for t in declared.values()}


def test_each_topic_carries_its_own_payload_model() -> None:
    models = [t.model for t in ev.TOPICS.values()]
    assert all(issubclass(model, EventPayload) for model in models)
    assert len(set(models)) == len(models)
    assert ev.ORDER_PAID.model is ev.OrderPaid and ev.STOCK_LOW.model is ev.StockLow


def test_a_topic_is_its_wire_name_wherever_a_name_was_used() -> None:
    topic = ev.ORDER_PAID
    assert topic == "order.paid" and hash(topic) == hash("order.paid")
    assert {"order.paid": 1}[topic] == 1 and f"{topic}" == "order.paid"
    assert orjson.loads(orjson.dumps({"topic": topic})) == {"topic": "order.paid"}
    assert type(topic.name) is str


def test_the_registry_refuses_a_name_declared_twice() -> None:
    twin = Topic("stock.low", ev.ProductDeleted, owner="catalog")
    with pytest.raises(ValueError, match=r"stock\.low"):
        topic_registry(ev.STOCK_LOW, twin)


@pytest.fixture
async def databases(tmp_path: Path) -> AsyncIterator[dict[str, Database]]:
    """Databases of two services; nothing here reaches them (refusals come first)."""
    made = {
        name: Database(
            f"sqlite+aiosqlite:///{tmp_path / name}.db", service=name, migrations=tmp_path
        )
        for name in ("orders", "payments")
    }
    yield made
    for db in made.values():
        await db.dispose()


FAILED = ev.PaymentFailed(
    payment_id="pay-1",
    order_id="o-1",
    user_id="u-1",
    amount={"amount": 1250, "currency": "EUR"},
    code="card_declined",
    message="Declined.",
    failed_at=datetime(2025, 1, 1, tzinfo=UTC),
)


async def test_a_session_names_the_service_whose_database_made_it(
    databases: dict[str, Database],
) -> None:
    async with databases["orders"].session() as writer, databases["orders"].reader() as reader:
        assert service_of(writer) == service_of(reader) == "orders"


async def test_publishing_another_services_topic_is_refused_at_the_call(
    databases: dict[str, Database],
) -> None:
    async with databases["orders"].session() as session:
        with pytest.raises(ForeignTopicError, match=r"orders published payment\.failed"):
            await Outbox.add(session, ev.PAYMENT_FAILED, FAILED, shop="acme")


async def test_a_payload_of_another_model_is_refused(databases: dict[str, Database]) -> None:
    another_model: Any = FAILED  # what a type checker refuses, the call refuses too
    async with databases["payments"].session() as session:
        with pytest.raises(TypeError, match=r"payment\.succeeded carries PaymentSucceeded"):
            await Outbox.add(session, ev.PAYMENT_SUCCEEDED, another_model, shop="acme")
        with pytest.raises(TypeError, match="carries PaymentFailed, not dict"):
            await Outbox.add(session, ev.PAYMENT_FAILED, FAILED.model_dump(), shop="acme")


async def test_a_contract_topic_is_published_by_its_topic_not_its_name(
    databases: dict[str, Database],
) -> None:
    async with databases["payments"].session() as session:
        with pytest.raises(TypeError, match="as its Topic"):
            await Outbox.add(session, "payment.failed", FAILED.model_dump(), shop="acme")
