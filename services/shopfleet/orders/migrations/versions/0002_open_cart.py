"""Orders remember the version of the cart they were placed from; one version of a cart is
one open order (issue 12, hole 8).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_OPEN = sa.text("status IN ('placing', 'pending_payment')")


def upgrade() -> None:
    op.add_column("orders", sa.Column("cart_version", sa.String(64), nullable=True))
    op.create_index(
        "uq_orders_open_cart",
        "orders",
        ["shop", "user_id", "cart_version"],
        unique=True,
        postgresql_where=_OPEN,
        sqlite_where=_OPEN,
    )


def downgrade() -> None:
    op.drop_index("uq_orders_open_cart", table_name="orders")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("cart_version")
