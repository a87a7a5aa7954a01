"""Categories' tables: trees, categories, the products projection; plus outbox and inbox.

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
        "category_trees",
        sa.Column("shop", sa.String(40), primary_key=True),
        sa.Column("revision", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "categories",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("shop", sa.String(40), nullable=False),
        sa.Column("parent_id", sa.String(36), nullable=True),
        sa.Column("slug", sa.String(100), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.String(2000), nullable=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.UniqueConstraint("shop", "slug", name="uq_categories_shop_slug"),
        sa.UniqueConstraint("shop", "id", name="uq_categories_shop_id"),
        sa.ForeignKeyConstraint(
            ["shop", "parent_id"],
            ["categories.shop", "categories.id"],
            name="fk_categories_parent",
        ),
    )
    op.create_index("ix_categories_shop_parent", "categories", ["shop", "parent_id"])
    op.create_table(
        "category_products",
        sa.Column("shop", sa.String(40), primary_key=True),
        sa.Column("product_id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("slug", sa.String(255), nullable=False),
        sa.Column("price_amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("available", sa.BigInteger, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("projected_at", _TS, nullable=False),
    )
    op.create_index(
        "ix_category_products_name", "category_products", ["shop", "name", "product_id"]
    )
    op.create_index(
        "ix_category_products_price", "category_products", ["shop", "price_amount", "product_id"]
    )
    op.create_index(
        "ix_category_products_created", "category_products", ["shop", "created_at", "product_id"]
    )
    op.create_table(
        "category_product_links",
        sa.Column("shop", sa.String(40), primary_key=True),
        sa.Column("product_id", sa.String(36), primary_key=True),
        sa.Column("category_id", sa.String(36), primary_key=True),
        sa.ForeignKeyConstraint(
            ["shop", "product_id"],
            ["category_products.shop", "category_products.product_id"],
            name="fk_category_product_links_product",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop", "category_id"],
            ["categories.shop", "categories.id"],
            name="fk_category_product_links_category",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_category_product_links_category",
        "category_product_links",
        ["shop", "category_id", "product_id"],
    )
    create_outbox_tables()


def downgrade() -> None:
    drop_outbox_tables()
    op.drop_index("ix_category_product_links_category", table_name="category_product_links")
    op.drop_table("category_product_links")
    op.drop_index("ix_category_products_created", table_name="category_products")
    op.drop_index("ix_category_products_price", table_name="category_products")
    op.drop_index("ix_category_products_name", table_name="category_products")
    op.drop_table("category_products")
    op.drop_index("ix_categories_shop_parent", table_name="categories")
    op.drop_table("categories")
    op.drop_table("category_trees")
