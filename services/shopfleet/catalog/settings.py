"""Catalog's settings (`SHOPFLEET_CATALOG_*`): image limits and storage, stock defaults."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shopfleet.kit.settings import ServiceSettings


class CatalogSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SHOPFLEET_CATALOG_", extra="ignore")

    max_image_bytes: int = Field(
        default=5 * 1024 * 1024, ge=1024, description="Largest image upload accepted (413 above)."
    )
    max_image_pixels: int = Field(
        default=40_000_000,
        ge=10_000,
        description="Largest image, in pixels, we decode (413 above).",
    )
    max_images_per_product: int = Field(default=20, ge=1, le=100)
    thumbnail_px: int = Field(
        default=320, ge=32, le=2048, description="Longest side of generated thumbnails."
    )
    images_dir: Path | None = Field(
        default=None, description="Where LocalImageStore keeps images; default: <data dir>/images."
    )
    default_low_stock_threshold: int = Field(default=5, ge=0)
    identity_app_id: str = Field(
        default="identity", description="App-id asked for a shop's settings (its currency)."
    )

    def resolved_images_dir(self) -> Path:
        return self.images_dir or self.platform.data_dir / "images"
