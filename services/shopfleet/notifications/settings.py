"""Notifications' settings: the sender (log or SMTP) and the delivery worker's retry policy."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from shopfleet.kit.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SHOPFLEET_NOTIFICATIONS_", extra="ignore")

    sender: Literal["log", "smtp"] = Field(
        default="log",
        description="How notifications leave: written to the log (the embedded default), or "
        "sent as e-mail through the SMTP server of `smtp_*`.",
    )
    smtp_host: str | None = Field(default=None, description="The SMTP server (sender=smtp).")
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_starttls: bool = Field(
        default=True, description="Upgrade the connection with STARTTLS before logging in."
    )
    smtp_ssl: bool = Field(
        default=False,
        description="Implicit TLS from the first byte (port 465); smtp_starttls is then moot.",
    )
    smtp_username: str | None = Field(default=None, description="Log in with these credentials.")
    smtp_password: SecretStr | None = None
    smtp_from: str = Field(
        default="shopfleet <no-reply@shopfleet.example.com>",
        description="The From header of every e-mail.",
    )
    smtp_ca_file: Path | None = Field(
        default=None,
        description="Trust the server's certificate if this CA (PEM) signed it (a private CA); "
        "the system's CAs otherwise.",
    )
    smtp_timeout_s: float = Field(default=10.0, gt=0, le=120)

    worker_enabled: bool = Field(
        default=True, description="Run the delivery worker in this process (tests drive it)."
    )
    max_attempts: int = Field(
        default=8, ge=1, le=100, description="Attempts of one delivery before it is given up."
    )
    backoff_s: float = Field(
        default=30.0, gt=0, description="Wait after the first failed attempt; doubles each time."
    )
    max_backoff_s: float = Field(default=3600.0, gt=0, description="The longest wait.")
    poll_interval_s: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often the worker looks for due deliveries (retries, ran-out "
        "leases; a read, which claims only when one is due). A notification an event "
        "records is handed to the running worker at once.",
    )
    batch_size: int = Field(default=20, ge=1, le=500)
    concurrency: int = Field(default=4, ge=1, le=64, description="Sends at once per worker.")
    lease_s: float = Field(
        default=120.0,
        gt=0,
        description="A claimed delivery is this worker's for this long; a replica that died "
        "mid-send leaves it to another worker after it.",
    )

    @model_validator(mode="after")
    def _smtp_needs_a_host(self) -> NotificationsSettings:
        if self.sender == "smtp" and not self.smtp_host:
            raise ValueError("sender=smtp needs SHOPFLEET_NOTIFICATIONS_SMTP_HOST")
        return self
