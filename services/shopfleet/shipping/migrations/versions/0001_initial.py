"""Shipping's tables: methods, saved addresses, shipments, cancelled orders; plus outbox
and inbox.

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
        "shipping_methods",
        sa.Column("shop", sa.String(40), primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("carrier", sa.String(80), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("base_amount", sa.BigInteger, nullable=False),
        sa.Column("per_kg_amount", sa.BigInteger, nullable=False),
        sa.Column("per_item_amount", sa.BigInteger, nullable=False),
        sa.Column("free_above_amount", sa.BigInteger, nullable=True),
        sa.Column("estimated_days_min", sa.Integer, nullable=False),
        sa.Column("estimated_days_max", sa.Integer, nullable=False),
        sa.Column("countries", sa.JSON, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "shipping_addresses",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("shop", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("line1", sa.String(200), nullable=False),
        sa.Column("line2", sa.String(200), nullable=True),
        sa.Column("city", sa.String(100), nullable=False),
        sa.Column("region", sa.String(100), nullable=True),
        sa.Column("postal_code", sa.String(20), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("phone", sa.String(40), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_index(
        "ix_shipping_addresses_owner",
        "shipping_addresses",
        ["shop", "user_id", "created_at", "id"],
    )
    op.create_table(
        "shipments",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("shop", sa.String(40), nullable=False),
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("method_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("carrier", sa.String(80), nullable=True),
        sa.Column("tracking_number", sa.String(100), nullable=True),
        sa.Column("address", sa.JSON, nullable=False),
        sa.Column("lines", sa.JSON, nullable=False),
        sa.Column("history", sa.JSON, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.UniqueConstraint("shop", "order_id", name="uq_shipments_shop_order"),
    )
    op.create_index("ix_shipments_shop_created", "shipments", ["shop", "created_at", "id"])
    op.create_index(
        "ix_shipments_shop_user_created", "shipments", ["shop", "user_id", "created_at", "id"]
    )
    op.create_table(
        "cancelled_orders",
        sa.Column("shop", sa.String(40), primary_key=True),
        sa.Column("order_id", sa.String(64), primary_key=True),
        sa.Column("cancelled_at", _TS, nullable=False),
    )
    create_outbox_tables()


def downgrade() -> None:
    drop_outbox_tables()
    op.drop_table("cancelled_orders")
    op.drop_index("ix_shipments_shop_user_created", table_name="shipments")
    op.drop_index("ix_shipments_shop_created", table_name="shipments")
    op.drop_table("shipments")
    op.drop_index("ix_shipping_addresses_owner", table_name="shipping_addresses")
    op.drop_table("shipping_addresses")
    op.drop_table("shipping_methods")
