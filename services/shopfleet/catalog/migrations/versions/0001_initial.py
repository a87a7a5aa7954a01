"""Catalog's tables: shops and categories (projections), products, their categories,
prices, images, stock reservations; plus outbox and inbox.

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
_LIVE = sa.text("deleted_at IS NULL")
# Byte order on both backends (see models.NAME_KEY).
_NAME_KEY = sa.String(200).with_variant(sa.String(200, collation="C"), "postgresql")


def _product_fk() -> sa.Column:
    return sa.Column("product_id", sa.String(36), sa.ForeignKey("products.id"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "shops",
        sa.Column("slug", sa.String(40), primary_key=True),
        sa.Column("display_name", sa.String(120), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_table(
        "categories",
        sa.Column("shop", sa.String(40), primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("parent_id", sa.String(64), nullable=True),
        sa.Column("slug", sa.String(120), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_index("ix_categories_shop_parent", "categories", ["shop", "parent_id"])
    op.create_table(
        "products",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("shop", sa.String(40), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("name_key", _NAME_KEY, nullable=False),
        sa.Column("slug", sa.String(120), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("price_amount", sa.BigInteger, nullable=False),
        sa.Column("compare_at_amount", sa.BigInteger, nullable=True),
        sa.Column("attributes", sa.JSON, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("category_ids", sa.JSON, nullable=False),
        sa.Column("thumbnail_image_id", sa.String(36), nullable=True),
        sa.Column("on_hand", sa.Integer, nullable=False),
        sa.Column("reserved", sa.Integer, nullable=False),
        sa.Column("low_stock_threshold", sa.Integer, nullable=False),
        sa.Column("search_text", sa.Text, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("deleted_at", _TS, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
    )
    for name, columns in (("slug", ["shop", "slug"]), ("sku", ["shop", "sku"])):
        op.create_index(
            f"uq_products_shop_{name}",
            "products",
            columns,
            unique=True,
            sqlite_where=_LIVE,
            postgresql_where=_LIVE,
        )
    op.create_index("ix_products_shop_created", "products", ["shop", "created_at", "id"])
    op.create_index("ix_products_shop_price", "products", ["shop", "price_amount", "id"])
    op.create_index("ix_products_shop_name", "products", ["shop", "name_key", "id"])
    op.create_table(
        "product_categories",
        sa.Column("product_id", sa.String(36), sa.ForeignKey("products.id"), primary_key=True),
        sa.Column("category_id", sa.String(64), primary_key=True),
        sa.Column("shop", sa.String(40), nullable=False),
    )
    op.create_index(
        "ix_product_categories_shop_category",
        "product_categories",
        ["shop", "category_id", "product_id"],
    )
    op.create_table(
        "product_prices",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("shop", sa.String(40), nullable=False),
        _product_fk(),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("compare_at_amount", sa.BigInteger, nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("changed_at", _TS, nullable=False),
        sa.Column("changed_by", sa.String(64), nullable=True),
    )
    op.create_index("ix_product_prices_product", "product_prices", ["product_id", "id"])
    op.create_table(
        "product_images",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("shop", sa.String(40), nullable=False),
        _product_fk(),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("size_bytes", sa.Integer, nullable=False),
        sa.Column("full_key", sa.String(255), nullable=False),
        sa.Column("full_etag", sa.String(64), nullable=False),
        sa.Column("thumb_key", sa.String(255), nullable=False),
        sa.Column("thumb_content_type", sa.String(32), nullable=False),
        sa.Column("thumb_etag", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_index("ix_product_images_product", "product_images", ["product_id", "position"])
    op.create_table(
        "reservations",
        sa.Column("shop", sa.String(40), primary_key=True),
        sa.Column("order_id", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("lines", sa.JSON, nullable=False),
        sa.Column("shortages", sa.JSON, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
    )
    create_outbox_tables()


def downgrade() -> None:
    drop_outbox_tables()
    op.drop_table("reservations")
    op.drop_index("ix_product_images_product", table_name="product_images")
    op.drop_table("product_images")
    op.drop_index("ix_product_prices_product", table_name="product_prices")
    op.drop_table("product_prices")
    op.drop_index("ix_product_categories_shop_category", table_name="product_categories")
    op.drop_table("product_categories")
    for name in (
        "ix_products_shop_name",
        "ix_products_shop_price",
        "ix_products_shop_created",
        "uq_products_shop_sku",
        "uq_products_shop_slug",
    ):
        op.drop_index(name, table_name="products")
    op.drop_table("products")
    op.drop_index("ix_categories_shop_parent", table_name="categories")
    op.drop_table("categories")
    op.drop_table("shops")
