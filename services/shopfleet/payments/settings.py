"""Payments' settings: where Stripe is, the emulator, the reconciler."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shopfleet.kit.settings import ServiceSettings


class PaymentsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SHOPFLEET_PAYMENTS_", extra="ignore")

    stripe_emulator: Literal["auto", "off"] = Field(
        default="auto",
        description="auto: a shop without a Stripe key (secret `stripe_secret_key`) is served by "
        "a local Stripe emulator (localstripe, started on first need); off: such a shop "
        "cannot take payments (503).",
    )
    stripe_emulator_eager: bool = Field(
        default=False,
        description="Start the emulator with the app (auto mode) rather than on first need.",
    )
    stripe_emulator_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^/\s]+$",
        description="Use this already running emulator instead of starting one.",
    )
    stripe_emulator_webhook_delay_s: float = Field(
        default=0.05, ge=0, le=10, description="How long the emulator waits before a webhook."
    )
    stripe_api_base: str | None = Field(
        default=None,
        pattern=r"^https?://[^/\s]+$",
        description="Stripe's API address for shops with a key (default: Stripe's own).",
    )
    stripe_timeout_s: float = Field(default=10.0, gt=0, le=80)
    webhook_base_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^/\s]+(/[^\s]*)?$",
        description="Where the emulator posts its webhooks (default: the platform's public URL); "
        "the path /shops/<shop>/api/v1/payments/webhooks/stripe is appended.",
    )
    webhook_tolerance_s: int = Field(
        default=300, ge=1, description="How old a signed webhook may be (Stripe's default)."
    )
    reconcile_interval_s: float = Field(
        default=5.0, gt=0, description="How often the reconciler looks for unsettled payments."
    )
    reconcile_after_s: float = Field(
        default=30.0,
        ge=0,
        description="A payment (or refund) still unsettled this long after its last change is "
        "checked with Stripe.",
    )
    reconcile_batch: int = Field(default=50, ge=1, le=1000)
