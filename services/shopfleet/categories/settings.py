"""Categories' settings: how deep and how large a shop's tree may grow."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shopfleet.kit.settings import ServiceSettings


class CategoriesSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SHOPFLEET_CATEGORIES_", extra="ignore")

    max_depth: int = Field(
        default=8, ge=1, le=32, description="Levels a tree may have (a root category is level 1)."
    )
    max_categories: int = Field(
        default=1000, ge=1, le=100_000, description="Categories one shop may have."
    )
