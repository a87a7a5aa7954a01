"""What the catalog's routes and use cases need besides a database session: the app's
composition root builds one `Catalog` (`app.create_app`), routes take it as `CatalogDep`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from shopfleet.catalog.imagestore import ImageStore
from shopfleet.catalog.reader import ListingReader
from shopfleet.catalog.settings import CatalogSettings
from shopfleet.catalog.shops import ShopDirectory
from shopfleet.kit.quotas import QuotaReader


@dataclass(frozen=True, slots=True)
class Catalog:
    settings: CatalogSettings
    shops: ShopDirectory
    images: ImageStore
    listing: ListingReader
    quotas: QuotaReader


async def _catalog(request: Request) -> Catalog:  # async: a def would run in a thread
    catalog: Catalog = request.app.state.catalog
    return catalog


CatalogDep = Annotated[Catalog, Depends(_catalog)]
