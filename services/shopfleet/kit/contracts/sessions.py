"""Identity's feed of changed sessions, read by every token verifier (kit/sessions.py).

Served to service invocation at `GET SESSIONS_PATH?since=<unix seconds>` (never routed by
the gateway), to callers with the platform credential: it names users and their roles.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

SESSIONS_PATH = "/internal/sessions"


class SessionChange(BaseModel):
    """A user whose roles or session version changed (a password change, a logout, a
    revoked refresh family): tokens below `version` are refused, the others act with `roles`."""

    shop: str
    user_id: str
    version: int = Field(ge=0)
    roles: list[str]
    changed_at: float = Field(description="Unix seconds (identity's clock).")


class SessionChanges(BaseModel):
    as_of: float = Field(description="Identity's clock when it read the changes.")
    retention_s: float = Field(
        gt=0, description="Changes older than this concern only expired tokens: forget them."
    )
    changes: list[SessionChange]
