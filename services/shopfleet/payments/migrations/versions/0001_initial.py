"""Payments' tables: payments, refunds, processed Stripe events; plus outbox and inbox.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shopfleet.kit.outbox import create_outbox_tables, drop_outbox_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "payments",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("shop", sa.String(40), nullable=False),
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("open_order_id", sa.String(64), nullable=True),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("provider_intent_id", sa.String(255), nullable=True),
        sa.Column("client_secret", sa.String(255), nullable=True),
        sa.Column("payment_method", sa.String(255), nullable=True),
        sa.Column("captured_amount", sa.BigInteger, nullable=False),
        sa.Column("refunded_amount", sa.BigInteger, nullable=False),
        sa.Column("refund_reserved", sa.BigInteger, nullable=False),
        sa.Column("failure_code", sa.String(64), nullable=True),
        sa.Column("failure_message", sa.String(500), nullable=True),
        sa.Column("check_after", _TS, nullable=True),
        sa.Column("checks", sa.Integer, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("settled_at", _TS, nullable=True),
        sa.UniqueConstraint("shop", "open_order_id", name="uq_payments_open_order"),
    )
    op.create_index("ix_payments_shop_order", "payments", ["shop", "order_id"])
    op.create_index("ix_payments_shop_user", "payments", ["shop", "user_id", "created_at"])
    op.create_index("ix_payments_intent", "payments", ["provider_intent_id"])
    op.create_index("ix_payments_unsettled", "payments", ["status", "check_after"])
    op.create_table(
        "payment_refunds",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("shop", sa.String(40), nullable=False),
        sa.Column("payment_id", sa.String(36), sa.ForeignKey("payments.id"), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("provider_refund_id", sa.String(255), nullable=True),
        sa.Column("failure_message", sa.String(500), nullable=True),
        sa.Column("check_after", _TS, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.UniqueConstraint("provider_refund_id", name="uq_payment_refunds_provider"),
    )
    op.create_index("ix_payment_refunds_payment", "payment_refunds", ["shop", "payment_id"])
    op.create_index("ix_payment_refunds_unsettled", "payment_refunds", ["status", "check_after"])
    op.create_table(
        "stripe_events",
        sa.Column("shop", sa.String(40), primary_key=True),
        sa.Column("event_id", sa.String(255), primary_key=True),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("received_at", _TS, nullable=False),
    )
    create_outbox_tables()


def downgrade() -> None:
    drop_outbox_tables()
    op.drop_table("stripe_events")
    op.drop_index("ix_payment_refunds_unsettled", table_name="payment_refunds")
    op.drop_index("ix_payment_refunds_payment", table_name="payment_refunds")
    op.drop_table("payment_refunds")
    op.drop_index("ix_payments_unsettled", table_name="payments")
    op.drop_index("ix_payments_intent", table_name="payments")
    op.drop_index("ix_payments_shop_user", table_name="payments")
    op.drop_index("ix_payments_shop_order", table_name="payments")
    op.drop_table("payments")
