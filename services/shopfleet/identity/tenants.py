"""Tenants' use cases: read a shop, bootstrap one with its Admin (or adopt an existing one).

Called by the internal routes and directly by the CLI. Each function is one unit of work
and commits it; the Admin's password is hashed outside any transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.identity.domain.accounts import normalize_email
from shopfleet.identity.domain.refusals import TenantOwned
from shopfleet.identity.domain.tenants import owner_of, plan_existing_bootstrap
from shopfleet.identity.models import Shop, User
from shopfleet.identity.passwords import PasswordHasher
from shopfleet.identity.service import emit_registered
from shopfleet.identity.store import IdentityStore
from shopfleet.kit.auth import Role
from shopfleet.kit.contracts.events import SHOP_CREATED, ShopCreated
from shopfleet.kit.contracts.tenants import TenantBootstrap, TenantPublic, TenantQuotas
from shopfleet.kit.outbox import Outbox


def quotas_of(row: Shop) -> TenantQuotas:
    return TenantQuotas(products=row.quota_products, orders_per_day=row.quota_orders_per_day)


async def get_tenant(session: AsyncSession, shop: str) -> TenantPublic | None:
    store = IdentityStore(session)
    row = await store.shop(shop)
    if row is None:
        return None
    admin_id = await store.first_admin_id(shop)
    return TenantPublic(
        shop=row.slug,
        display_name=row.display_name,
        currency=row.currency,
        quotas=quotas_of(row),
        admin_user_id=admin_id or "",
        owner=owner_of(row.owner_namespace, row.owner_uid),
        created=False,
    )


async def _bootstrap_existing(
    session: AsyncSession, request: TenantBootstrap, existing: TenantPublic
) -> TenantPublic:
    """The shop exists: refused if another namespace owns it (409 tenant-owned), else
    adopted by the request's owner if it has none or another uid, with the spec's quotas."""
    store = IdentityStore(session)
    plan = plan_existing_bootstrap(
        request.shop, existing.owner, request.owner, existing.quotas, request.quotas
    )
    if plan.adopt is not None:
        if not await store.take_ownership(request.shop, plan.adopt):
            await session.rollback()  # another namespace adopted it meanwhile
            taken = await get_tenant(session, request.shop)
            await session.rollback()
            raise TenantOwned.of(request.shop, (taken and taken.owner) or plan.adopt)
        existing.owner, existing.adopted = plan.adopt, True
    if plan.quotas is not None:
        await store.set_quotas(request.shop, plan.quotas)
        existing.quotas = plan.quotas
    await session.commit()
    return existing


async def bootstrap_tenant(
    session: AsyncSession, request: TenantBootstrap, hasher: PasswordHasher
) -> TenantPublic:
    """Create the shop and its Admin; the same shop again returns it with `created=False`
    (or 409 tenant-owned when another namespace's Shop owns it: domain/tenants.py)."""
    existing = await get_tenant(session, request.shop)
    await session.rollback()  # end the read before hashing
    if existing is not None:
        return await _bootstrap_existing(session, request, existing)
    password_hash = await hasher.hash(request.admin_password)
    now = datetime.now(UTC)
    shop = Shop(
        slug=request.shop,
        display_name=request.display_name,
        currency=request.currency,
        created_at=now,
        quota_products=request.quotas.products,
        quota_orders_per_day=request.quotas.orders_per_day,
        owner_namespace=request.owner.namespace if request.owner else None,
        owner_uid=request.owner.uid if request.owner else None,
    )
    store = IdentityStore(session)
    try:
        await store.add_shop(shop)
        admin = User(
            shop=request.shop,
            email=normalize_email(str(request.admin_email)),
            password_hash=password_hash,
            display_name="Admin",
            roles=[Role.ADMIN.value],
            created_at=now,
            updated_at=now,
        )
        store.add_user(admin)
        created = ShopCreated(
            shop=shop.slug, display_name=shop.display_name, currency=shop.currency, created_at=now
        )
        await Outbox.add(session, SHOP_CREATED, created, shop=shop.slug)
        await emit_registered(session, admin)
        await session.commit()
    except IntegrityError:  # a concurrent bootstrap of the same shop won (at flush or commit)
        await session.rollback()
        existing = await get_tenant(session, request.shop)
        await session.rollback()
        if existing is None:
            raise
        return await _bootstrap_existing(session, request, existing)
    return TenantPublic(
        shop=shop.slug,
        display_name=shop.display_name,
        currency=shop.currency,
        quotas=request.quotas,
        admin_user_id=admin.id,
        owner=request.owner,
        created=True,
    )
