"""Catalog's HTTP routes: thin wrappers that validate input and call the domain modules."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, status

from shopfleet.catalog import listing, product_reads
from shopfleet.catalog.cursors import decode_price_cursor
from shopfleet.catalog.deps import CatalogDep
from shopfleet.catalog.params import ListParams, list_params, query_parameters
from shopfleet.catalog.schemas import (
    ImagePublic,
    PriceHistoryPage,
    PriceUpdate,
    ProductCreate,
    ProductPublic,
    ProductsPage,
    ProductUpdate,
    StockUpdate,
)
from shopfleet.catalog.service import images, products, stock
from shopfleet.catalog.uploads import checked_image, read_file_field
from shopfleet.kit.auth import (
    PUBLIC,
    SHOP_API_PREFIX,
    AdminUser,
    OptionalUser,
    ShopId,
    bearer_token,
)
from shopfleet.kit.contracts.ids import IMAGE_ID_PATTERN, PRODUCT_ID_PATTERN, SHOP_SLUG_PATTERN
from shopfleet.kit.db import ReaderDep, SessionDep
from shopfleet.kit.errors import Problem


async def _require_admin(request: Request, shop: str, detail: str) -> None:
    """The hot path's lazy check of `AdminUser`: the token is looked at only when needed.

    The kit's principal dependencies take the shop through a sync dependency, which runs
    in the thread pool: ≈ 200 µs a request, most of the listing's budget.
    """
    token = bearer_token(request)
    principal = await request.app.state.verifier.verify(token) if token else None
    if principal is None or not principal.may_act_in(shop) or not principal.is_admin:
        raise Problem(403, detail, slug="forbidden")


# A path parameter, not the kit's `ShopId` dependency (see `_require_admin`).
ShopSlug = Annotated[str, Path(pattern=SHOP_SLUG_PATTERN, description="The shop's slug.")]
ProductId = Annotated[str, Path(pattern=PRODUCT_ID_PATTERN, description="The product's id.")]
ImageId = Annotated[str, Path(pattern=IMAGE_ID_PATTERN, description="The image's id.")]
IMMUTABLE = "public, max-age=31536000, immutable"

router = APIRouter(prefix=SHOP_API_PREFIX)


def etag_matches(if_none_match: str | None, current: str) -> bool:
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or current in tags


# ----------------------------------------------------------------------------- reading


@router.get(
    "/products",
    response_model=ProductsPage,
    tags=["products"],
    openapi_extra=query_parameters(ListParams) | PUBLIC,
)
async def list_products(
    shop: ShopSlug,
    params: Annotated[ListParams, Depends(list_params)],
    request: Request,
    catalog: CatalogDep,
) -> Response:
    """Active products of the shop, a page at a time (`next_cursor` fetches the next)."""
    if params.include_inactive:
        await _require_admin(request, shop, "Only a shop Admin may list inactive products.")
    query = listing.ListQuery(**params.model_dump())
    page = await listing.list_products(catalog.listing, shop, query)
    return Response(page, media_type="application/json")


@router.get("/products/{product_id}", response_model=ProductPublic, tags=["products"])
async def read_product(
    shop: ShopId, product_id: ProductId, user: OptionalUser, catalog: CatalogDep
) -> Response:
    """A product, also a deleted one (`deleted: true`): orders refer to them."""
    admin = user is not None and user.is_admin
    answer = await product_reads.read_product(catalog.listing, shop, product_id, admin=admin)
    return Response(answer, media_type="application/json")


@router.get("/images/{image_id}", tags=["products"], response_class=Response, openapi_extra=PUBLIC)
async def read_image(
    shop: ShopSlug,
    image_id: ImageId,
    session: ReaderDep,
    catalog: CatalogDep,
    size: Literal["thumb", "full"] = "full",
    if_none_match: Annotated[str | None, Header(max_length=1024)] = None,
) -> Response:
    """An image's bytes (`size=thumb`: a WebP at most 320 px); cached for a year."""
    found = await images.find_image(session, shop, image_id, size)
    await session.close()
    headers = {"ETag": found.etag, "Cache-Control": IMMUTABLE}
    if etag_matches(if_none_match, found.etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    data = await images.read_image(catalog, found)
    headers |= {
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'",
    }
    return Response(data, media_type=found.content_type, headers=headers)


# ----------------------------------------------------------------------------- admin


@router.post("/products", status_code=status.HTTP_201_CREATED, tags=["products"])
async def create_product(
    shop: ShopId,
    body: ProductCreate,
    admin: AdminUser,
    session: SessionDep,
    catalog: CatalogDep,
    response: Response,
) -> ProductPublic:
    """Create a product, priced in the shop's currency (admin)."""
    product = await products.create_product(session, catalog, shop, body, actor=admin.user_id)
    response.headers["Location"] = (
        f"{SHOP_API_PREFIX.replace('{shop}', shop)}/products/{product.id}"
    )
    return product


@router.patch("/products/{product_id}", tags=["products"])
async def update_product(
    shop: ShopId, product_id: ProductId, body: ProductUpdate, _admin: AdminUser, session: SessionDep
) -> ProductPublic:
    """Change name, slug, description, SKU, attributes, active or categories (admin)."""
    return await products.update_product(session, shop, product_id, body)


@router.delete("/products/{product_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["products"])
async def delete_product(
    shop: ShopId, product_id: ProductId, _admin: AdminUser, session: SessionDep
) -> Response:
    """Delete a product: no longer listed or sold, still readable by id (admin)."""
    await products.delete_product(session, shop, product_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/products/{product_id}/price", tags=["products"])
async def change_price(
    shop: ShopId, product_id: ProductId, body: PriceUpdate, admin: AdminUser, session: SessionDep
) -> ProductPublic:
    """Set the price (and compare-at price); the change is kept in the history (admin)."""
    return await products.change_price(session, shop, product_id, body, actor=admin.user_id)


@router.get("/products/{product_id}/prices", tags=["products"])
async def price_history(
    shop: ShopId,
    product_id: ProductId,
    _admin: AdminUser,
    session: ReaderDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> PriceHistoryPage:
    """The product's prices, newest first (admin)."""
    try:
        before = decode_price_cursor(cursor)
    except Problem:  # a missing product is a 404 before its cursor is a 400
        await products.find_product(session, shop, product_id)
        raise
    return await products.price_history(session, shop, product_id, limit=limit, before=before)


@router.put("/products/{product_id}/stock", tags=["products"])
async def set_stock(
    shop: ShopId, product_id: ProductId, body: StockUpdate, _admin: AdminUser, session: SessionDep
) -> ProductPublic:
    """Set the units on hand; never below the units reserved for orders (409) (admin)."""
    return await stock.set_stock(session, shop, product_id, body.on_hand)


_MULTIPART_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


@router.post(
    "/products/{product_id}/images",
    status_code=status.HTTP_201_CREATED,
    tags=["products"],
    openapi_extra=_MULTIPART_BODY,
)
async def upload_image(
    shop: ShopId,
    product_id: ProductId,
    request: Request,
    _admin: AdminUser,
    session: SessionDep,
    catalog: CatalogDep,
    response: Response,
) -> ImagePublic:
    """Add an image (multipart field `file`: JPEG, PNG, WebP or GIF); a thumbnail is made."""
    data = await read_file_field(request, "file", max_bytes=catalog.settings.max_image_bytes)
    await images.check_product(session, shop, product_id)
    checked = await checked_image(data, catalog.settings)
    image = await images.add_image(session, catalog, shop, product_id, data, checked)
    response.headers["Location"] = image.url
    return image


@router.delete(
    "/products/{product_id}/images/{image_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["products"],
)
async def delete_image(
    shop: ShopId,
    product_id: ProductId,
    image_id: ImageId,
    _admin: AdminUser,
    session: SessionDep,
    catalog: CatalogDep,
) -> Response:
    await images.delete_image(session, catalog, shop, product_id, image_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
