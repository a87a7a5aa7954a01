"""The Shop that owns each tenant (namespace and uid): a tenant kept by `Retain` stays its
namespace's. Existing tenants get no owner; the first Shop that bootstraps one adopts it.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("shops") as batch:
        batch.add_column(sa.Column("owner_namespace", sa.String(63), nullable=True))
        batch.add_column(sa.Column("owner_uid", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("shops") as batch:
        batch.drop_column("owner_uid")
        batch.drop_column("owner_namespace")
