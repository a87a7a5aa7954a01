"""The catalog's recurring problems."""

from __future__ import annotations

from shopfleet.kit.errors import Conflict, NotFound


def taken(field: str, value: str) -> Conflict:
    name = field.rsplit(".", 1)[-1]
    message = f"another product of this shop has the {name} '{value}'"
    return Conflict(
        f"Fix this field: {field}: {message}; choose another.",
        slug=f"{name}-taken",
        errors=[{"field": field, "message": message, "type": "conflict"}],
    )


def product_not_found(shop: str, product_id: str) -> NotFound:
    return NotFound(f"No product '{product_id}' in shop '{shop}'.")


def product_deleted(product_id: str) -> Conflict:
    return Conflict(
        f"Product '{product_id}' was deleted; a deleted product cannot be changed.",
        slug="product-deleted",
    )
