"""Orders' tables: orders and their status history; plus outbox and inbox.

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
        "orders",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("shop", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("stock", sa.String(20), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("subtotal_amount", sa.BigInteger, nullable=False),
        sa.Column("shipping_amount", sa.BigInteger, nullable=False),
        sa.Column("total_amount", sa.BigInteger, nullable=False),
        sa.Column("refunded_amount", sa.BigInteger, nullable=False),
        sa.Column("lines", sa.JSON, nullable=False),
        sa.Column("shipping_method_id", sa.String(64), nullable=False),
        sa.Column("shipping_method", sa.JSON, nullable=False),
        sa.Column("shipping_address", sa.JSON, nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=True),
        sa.Column("payment_id", sa.String(255), nullable=True),
        sa.Column("cancel_reason", sa.String(500), nullable=True),
        sa.Column("cancel_cause", sa.String(20), nullable=True),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=True),
        sa.Column("paid_at", _TS, nullable=True),
        sa.UniqueConstraint("shop", "user_id", "idempotency_key", name="uq_orders_idempotency"),
    )
    op.create_index("ix_orders_shop_created", "orders", ["shop", "created_at", "id"])
    op.create_index(
        "ix_orders_shop_user_created", "orders", ["shop", "user_id", "created_at", "id"]
    )
    op.create_index("ix_orders_status_expires", "orders", ["status", "expires_at"])
    op.create_index("ix_orders_stock_updated", "orders", ["stock", "updated_at"])
    op.create_table(
        "order_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("shop", sa.String(40), nullable=False),
        sa.Column("order_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("previous", sa.String(20), nullable=True),
        sa.Column("cause", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column("at", _TS, nullable=False),
    )
    op.create_index("ix_order_history_order", "order_history", ["shop", "order_id", "id"])
    create_outbox_tables()


def downgrade() -> None:
    drop_outbox_tables()
    op.drop_index("ix_order_history_order", table_name="order_history")
    op.drop_table("order_history")
    op.drop_index("ix_orders_stock_updated", table_name="orders")
    op.drop_index("ix_orders_status_expires", table_name="orders")
    op.drop_index("ix_orders_shop_user_created", table_name="orders")
    op.drop_index("ix_orders_shop_created", table_name="orders")
    op.drop_table("orders")
