"""Users' session versions: a password change, a logout or a revoked family ends the
access tokens issued before it; roles changes are served to every verifier.

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


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("session_version", sa.Integer, nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("sessions_changed_at", sa.DateTime(timezone=True)))
    op.create_index("ix_users_sessions_changed_at", "users", ["sessions_changed_at"])


def downgrade() -> None:
    op.drop_index("ix_users_sessions_changed_at", table_name="users")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("sessions_changed_at")
        batch.drop_column("session_version")
