"""Categories' HTTP routes: thin wrappers that validate input and call `service`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from shopfleet.categories import service
from shopfleet.categories.domain.products import BadCursor, ProductSort
from shopfleet.categories.domain.rules import Cascade, Limits
from shopfleet.categories.models import (
    CategoryCreate,
    CategoryDeletion,
    CategoryDetail,
    CategoryPublic,
    CategoryTree,
    CategoryUpdate,
    ProductsPage,
)
from shopfleet.categories.tree_cache import TreeCache
from shopfleet.kit.auth import PUBLIC, SHOP_API_PREFIX, AdminUser, ShopId
from shopfleet.kit.contracts import ids
from shopfleet.kit.db import ReaderDep, SessionDep
from shopfleet.kit.errors import field_problem


async def _limits(request: Request) -> Limits:  # async: a def would run in a thread
    return request.app.state.limits


async def _trees(request: Request) -> TreeCache:
    return request.app.state.trees


LimitsDep = Annotated[Limits, Depends(_limits)]
TreesDep = Annotated[TreeCache, Depends(_trees)]
CategoryIdPath = Annotated[ids.CategoryId, Path(description="The category's id.")]

router = APIRouter(prefix=SHOP_API_PREFIX, tags=["categories"])

_NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: the tree is still the one of `ETag`."}
}


def _etag(revision: int) -> str:
    return f'"tree-{revision}"'


def _not_modified(request: Request, etag: str) -> bool:
    header = request.headers.get("if-none-match")
    if not header:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return etag in tags or "*" in tags


def _cache_headers(response: Response, etag: str) -> None:
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = "no-cache"  # may be stored, but revalidate with ETag


def _unchanged(etag: str) -> Response:
    return Response(status_code=304, headers={"ETag": etag, "Cache-Control": "no-cache"})


# ----------------------------------------------------------------------------- public


@router.get(
    "/categories", response_model=CategoryTree, responses=_NOT_MODIFIED, openapi_extra=PUBLIC
)
async def read_tree(shop: ShopId, request: Request, trees: TreesDep) -> Response:
    """The shop's whole category tree, nested; siblings ordered by position, then name.

    Send the `ETag` back as `If-None-Match` to get 304 while the tree is unchanged.
    """
    version = await trees.version(shop)
    etag = _etag(version[0])
    if _not_modified(request, etag):
        return _unchanged(etag)
    body = await trees.tree_json(shop, version)
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    return Response(body, media_type="application/json", headers=headers)


@router.get(
    "/categories/{category_id}",
    response_model=CategoryDetail,
    responses=_NOT_MODIFIED,
    openapi_extra=PUBLIC,
)
async def read_category(
    shop: ShopId,
    category_id: CategoryIdPath,
    request: Request,
    response: Response,
    session: ReaderDep,
) -> CategoryDetail | Response:
    """One category with its breadcrumb `path` (root first) and its direct `children`."""
    etag = _etag(await service.tree_revision(session, shop))
    detail = await service.get_category(session, shop, category_id)  # 404 before any 304
    if _not_modified(request, etag):
        return _unchanged(etag)
    _cache_headers(response, etag)
    return detail


@router.get("/categories/{category_id}/products", openapi_extra=PUBLIC)
async def read_category_products(
    shop: ShopId,
    category_id: CategoryIdPath,
    session: ReaderDep,
    limit: Annotated[int, Query(ge=1, le=100, description="Products per page.")] = 20,
    cursor: Annotated[
        str | None, Query(max_length=1024, description="The `next_cursor` of the previous page.")
    ] = None,
    sort: Annotated[
        ProductSort, Query(description="name, price (lowest first), -price, or newest.")
    ] = ProductSort.NAME,
) -> ProductsPage:
    """Active products in this category or any category below it, each listed once."""
    try:
        return await service.list_products(
            session, shop, category_id, sort=sort, limit=limit, cursor=cursor
        )
    except BadCursor as exc:
        raise field_problem(
            400,
            "query.cursor",
            f"{exc}: pass the next_cursor of the previous page unchanged "
            "(with the same sort), or omit it to start at the first page",
            slug="bad-cursor",
        ) from None


# ----------------------------------------------------------------------------- admin


@router.post("/categories", status_code=status.HTTP_201_CREATED)
async def create_category(
    shop: ShopId,
    body: CategoryCreate,
    _admin: AdminUser,
    session: SessionDep,
    limits: LimitsDep,
    response: Response,
) -> CategoryPublic:
    """Create a category (admin); without `parent_id` it is a root category."""
    created = await service.create_category(session, shop, body, limits)
    response.headers["Location"] = (
        SHOP_API_PREFIX.replace("{shop}", shop) + f"/categories/{created.id}"
    )
    return created


@router.patch("/categories/{category_id}")
async def update_category(
    shop: ShopId,
    category_id: CategoryIdPath,
    body: CategoryUpdate,
    _admin: AdminUser,
    session: SessionDep,
    limits: LimitsDep,
) -> CategoryPublic:
    """Rename, re-slug, reorder or move a category (admin); only the fields sent change.

    Moving a category under itself or under one of its descendants is a 409 `category-cycle`.
    """
    return await service.update_category(session, shop, category_id, body, limits)


@router.delete("/categories/{category_id}")
async def delete_category(
    shop: ShopId,
    category_id: CategoryIdPath,
    _admin: AdminUser,
    session: SessionDep,
    cascade: Annotated[
        Cascade | None,
        Query(
            description="For a category with children or products: `reparent` moves its "
            "children to its parent, `delete` deletes its whole subtree. Products only lose "
            "the deleted categories. Without it such a delete is a 409 `category-not-empty`."
        ),
    ] = None,
) -> CategoryDeletion:
    """Delete a category (admin); emits `category.deleted` for every deleted id."""
    return await service.delete_category(session, shop, category_id, cascade)
