"""Identity's tables and the schema families of its API (Base / Create / Update / Public).

Input models forbid unknown fields, so a typo is a 422 naming the field rather than a
silently ignored value. Timestamps are timezone-aware UTC on both SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import pydantic
import sqlalchemy as sa
from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, field_validator
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel
from sqlmodel.main import SQLModelConfig  # SQLModel's model_config type (ConfigDict + table)

from shopfleet.kit.auth import Role
from shopfleet.kit.db import UTCDateTime, utcnow
from shopfleet.kit.text import Printable

SHOP_ROLES = (Role.ADMIN.value, Role.USER.value)


class IdentityModel(SQLModel, registry=registry()):
    """Identity's own metadata: services share one process in the embedded platform, and
    SQLModel's default metadata is global (two services may both have a `categories`)."""


def _timestamp(**kw: Any) -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, **kw)


def _normalize_email(value: str) -> str:
    return value.strip().lower()


# An email is unique per shop, compared case-insensitively: we store it lower-cased.
Email = Annotated[EmailStr, AfterValidator(_normalize_email)]
Password = Annotated[str, Field(min_length=10, max_length=256)]
DisplayName = Annotated[str, Field(min_length=1, max_length=100), Printable]

# ----------------------------------------------------------------------------- shops


class Shop(IdentityModel, table=True):
    __tablename__ = "shops"

    slug: str = Field(primary_key=True, max_length=40)
    display_name: str = Field(max_length=120)
    currency: str = Field(max_length=3)
    created_at: datetime = _timestamp()
    # The Shop's `spec.quotas` (None: no limit), served to catalog and orders as settings.
    quota_products: int | None = Field(default=None)
    quota_orders_per_day: int | None = Field(default=None)
    # The Shop that owns the tenant (None: none yet, adopted by the first that bootstraps it).
    owner_namespace: str | None = Field(default=None, max_length=63)
    owner_uid: str | None = Field(default=None, max_length=64)


# ----------------------------------------------------------------------------- users


class UserBase(IdentityModel):
    email: Email = Field(max_length=254)
    display_name: DisplayName = Field(max_length=100)


class UserCreate(UserBase):
    model_config = SQLModelConfig(extra="forbid")

    password: Password


class UserUpdate(IdentityModel):
    model_config = SQLModelConfig(extra="forbid")

    display_name: DisplayName | None = None
    password: Password | None = None
    current_password: str | None = Field(default=None, max_length=256)


class User(UserBase, table=True):
    __tablename__ = "users"
    __table_args__ = (
        sa.UniqueConstraint("shop", "email", name="uq_users_shop_email"),
        sa.Index("ix_users_shop_created", "shop", "created_at", "id"),  # the listing's keyset
    )

    id: str = Field(default_factory=lambda: str(uuid.uuid4()), primary_key=True, max_length=36)
    shop: str = Field(max_length=40, foreign_key="shops.slug")
    password_hash: str = Field(max_length=255)
    roles: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()
    # Access tokens carry the version they were issued at; a password change, a logout or a
    # revoked family bumps it, and every verifier refuses older tokens (kit/sessions.py).
    session_version: int = Field(default=0)
    # When the version or the roles last changed: what identity's session feed serves.
    sessions_changed_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)


class UserPublic(UserBase):
    id: str
    shop: str
    roles: list[str]
    created_at: datetime
    updated_at: datetime


# The columns a user listing selects: never the password hash.
USER_PUBLIC_COLUMNS = tuple(getattr(User, name) for name in UserPublic.model_fields)


class UsersPage(BaseModel):
    items: list[UserPublic]
    next_cursor: str | None = pydantic.Field(
        default=None, description="Pass as `cursor` for the next page; null on the last page."
    )


class RolesUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    roles: list[str] = pydantic.Field(min_length=1, max_length=10, examples=[["Admin", "User"]])

    @field_validator("roles")
    @classmethod
    def _shop_roles_only(cls, roles: list[str]) -> list[str]:
        for role in roles:
            if role == Role.PLATFORM_ADMIN:
                raise ValueError("PlatformAdmin is a platform role and cannot be granted by a shop")
            if role not in SHOP_ROLES:
                raise ValueError(
                    f"unknown role '{role}'; a shop grants only {', '.join(SHOP_ROLES)}"
                )
        return sorted(set(roles))


# ----------------------------------------------------------------------------- sessions


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email = pydantic.Field(max_length=254)
    password: str = pydantic.Field(min_length=1, max_length=256)


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = pydantic.Field(min_length=1, max_length=256)


class AdminToken(BaseModel):
    """An Admin's access token issued to the platform: no refresh token, no session."""

    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    user_id: str


class TokenPair(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int = pydantic.Field(description="Seconds until the access token expires.")
    refresh_token: str
    refresh_expires_in: int = pydantic.Field(description="Seconds until the refresh token expires.")


class RefreshToken(IdentityModel, table=True):
    """One refresh token of a family; a family starts at login and ends at logout or reuse."""

    __tablename__ = "refresh_tokens"

    id: str = Field(default_factory=lambda: str(uuid.uuid4()), primary_key=True, max_length=36)
    shop: str = Field(max_length=40)
    user_id: str = Field(max_length=36, foreign_key="users.id", index=True)
    family_id: str = Field(max_length=36, index=True)
    token_hash: str = Field(max_length=64, unique=True)  # sha256 hex: the token is never stored
    created_at: datetime = _timestamp()
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# ----------------------------------------------------------------------------- signing keys


class SigningKey(IdentityModel, table=True):
    __tablename__ = "signing_keys"

    kid: str = Field(primary_key=True, max_length=64)
    private_pem: str = Field(sa_type=sa.Text)
    public_jwk: dict[str, Any] = Field(sa_type=sa.JSON)
    # 1 while active, NULL once retired: the unique constraint allows one active key only,
    # so two replicas bootstrapping or rotating at once cannot both win.
    active_slot: int | None = Field(default=1, unique=True)
    created_at: datetime = _timestamp()
    retired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
