"""What the catalog's domain functions need besides a database session.

The domain logic itself is split by subject, each module plain async functions that take
a session and commit their unit of work: `products` (admin CRUD), `pricing` (prices and
their history), `stock` (stock levels, snapshots), `reservations` (stock held for
orders), `images` (with `imaging`, `imagestore`, `uploads`), `listing` (with `cursors`
and `reader`, the hot read path), `categories` and `shops` (projections of other
services' data); `emit` queues the events catalog publishes.
"""

from __future__ import annotations

from dataclasses import dataclass

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
