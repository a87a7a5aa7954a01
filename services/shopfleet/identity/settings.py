"""Identity's settings: token lifetimes, login throttling, password hashing cost, keys."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shopfleet.kit.settings import ServiceSettings


class IdentitySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SHOPFLEET_IDENTITY_", extra="ignore")

    access_token_ttl_s: int = Field(default=900, ge=10, le=86_400)
    refresh_token_ttl_s: int = Field(default=30 * 86_400, ge=60)

    max_failures_per_account: int = Field(
        default=5, ge=1, description="Failed logins per (shop, email) in the window before 429."
    )
    max_failures_per_address: int = Field(
        default=20, ge=1, description="Failed logins per (shop, client address) in the window."
    )
    throttle_window_s: int = Field(default=900, ge=1)

    # argon2id cost (OWASP's 19 MiB / t=2 is the floor; tests lower these for speed).
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_cost_kib: int = Field(default=65_536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)

    signing_key_rotation_days: int = Field(
        default=90, ge=1, description="An active signing key older than this is rotated."
    )
    signing_key_reload_s: float = Field(
        default=60.0,
        gt=0,
        description="How often keys are re-read, to see other replicas' rotations.",
    )
