"""What categories' rules refuse: one class per problem slug, each of a `kit.refusals` kind
(the kind decides the HTTP status, in the kit)."""

from __future__ import annotations

from shopfleet.kit.refusals import FieldConflict, InvalidRefusal, NotFoundRefusal, StateRefusal


class CategoryNotFound(NotFoundRefusal):
    def __init__(self, shop: str, category_id: str) -> None:
        super().__init__(f"No category '{category_id}' in shop '{shop}'.")


class UnknownParent(InvalidRefusal):
    def __init__(self, parent_id: str) -> None:
        super().__init__(
            "body.parent_id",
            f"no category '{parent_id}' in this shop; "
            "send the id of an existing category, or null for a root category",
        )


class SlugTaken(FieldConflict):
    default_slug = "slug-taken"

    def __init__(self, slug: str) -> None:
        super().__init__(
            "body.slug",
            f"'{slug}' is already the slug of another category in this shop; choose another",
        )


class CategoryCycle(StateRefusal):
    """A move of a category under itself or one of its descendants."""

    default_slug = "category-cycle"


class CategoryTooDeep(StateRefusal):
    default_slug = "category-too-deep"


class CategoryLimit(StateRefusal):
    """The shop has as many categories as it may."""

    default_slug = "category-limit"


class CategoryNotEmpty(StateRefusal):
    """A delete without `cascade` of a category that has children or products."""

    default_slug = "category-not-empty"
