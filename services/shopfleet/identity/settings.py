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
        default=5, ge=1, description="Failed logins per (shop, email) before the delays start."
    )
    max_failures_per_address: int = Field(
        default=20, ge=1, description="Failed logins per (shop, client address) before delays."
    )
    throttle_window_s: int = Field(
        default=900, ge=1, description="Failures are forgotten after this long without any."
    )
    throttle_first_delay_s: float = Field(
        default=30.0,
        gt=0,
        description="The wait after the limit's failure; it doubles with each further failure.",
    )
    throttle_max_account_delay_s: float = Field(
        default=300.0,
        gt=0,
        description="The longest wait of an account: short, so nobody can lock one for long.",
    )
    throttle_max_address_delay_s: float = Field(
        default=3600.0,
        gt=0,
        description="The longest wait of a client address: long, so one address cannot keep "
        "an account locked.",
    )
    throttle_lease_s: float = Field(
        default=60.0,
        gt=0,
        description="How long a reserved login attempt holds its place if its process dies.",
    )

    # argon2id cost (OWASP's 19 MiB / t=2 is the floor; tests lower these for speed).
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_cost_kib: int = Field(default=65_536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)
    argon2_max_concurrent: int | None = Field(
        default=None, ge=1, description="Hashes at once (each holds its memory); default: CPUs."
    )
    argon2_max_waiting: int = Field(
        default=16,
        ge=0,
        description="Logins (password checks) that may wait for a turn; more answer 503 + "
        "Retry-After at once.",
    )
    argon2_max_wait_s: float = Field(
        default=5.0,
        gt=0,
        description="The longest a login waits (for admission and its hash) before it answers "
        "503 + Retry-After: well under the gateway's upstream timeout (10 s), with a hash's time.",
    )

    signing_key_rotation_days: int = Field(
        default=90, ge=1, description="An active signing key older than this is rotated."
    )
    signing_key_reload_s: float = Field(
        default=60.0,
        gt=0,
        description="How often keys are re-read, to see other replicas' rotations.",
    )
