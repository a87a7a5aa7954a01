"""The gateway's settings (`SHOPFLEET_GATEWAY_*`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shopfleet.kit.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SHOPFLEET_GATEWAY_", extra="ignore")

    routes_file: Path | None = Field(
        default=None,
        description="The route table (JSON). Default: routes.json in the data dir. In a cluster, "
        "the operator's ConfigMap mounted as a file.",
    )
    routes_reload_s: float = Field(
        default=1.0, gt=0, description="How often to look for a new route table."
    )
    cors_origins: list[str] = Field(default=["*"], description="Origins allowed to call shop APIs.")
    client_rate_per_s: float = Field(
        default=100.0, gt=0, description="Sustained requests/s per client and shop."
    )
    client_burst: int = Field(default=200, ge=1)
    shop_rate_per_s: float = Field(
        default=2000.0, gt=0, description="Sustained requests/s per shop."
    )
    shop_burst: int = Field(default=4000, ge=1)
    # Whose X-Forwarded-For names the client: SHOPFLEET_TRUSTED_PROXIES (kit/settings.py),
    # applied by the server for every part alike.
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    upstream_timeout_s: float = Field(default=10.0, gt=0)
    openapi_cache_s: float = Field(default=30.0, ge=0)

    def resolved_routes_file(self) -> Path:
        return self.routes_file or self.platform.data_dir / "routes.json"
