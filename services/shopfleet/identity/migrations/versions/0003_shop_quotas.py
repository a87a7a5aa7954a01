"""Shops' quotas (the Shop's `spec.quotas`), served to catalog and orders as settings.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("shops") as batch:
        batch.add_column(sa.Column("quota_products", sa.Integer, nullable=True))
        batch.add_column(sa.Column("quota_orders_per_day", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("shops") as batch:
        batch.drop_column("quota_orders_per_day")
        batch.drop_column("quota_products")
