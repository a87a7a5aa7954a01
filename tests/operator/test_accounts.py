"""A dedicated shop's own accounts on the real PostgreSQL and RabbitMQ of this machine: the
operator makes a login role owning the shop's databases and a vhost with a user allowed on
it alone, hands the tenant's namespace those credentials only, and removes them with the
Shop (databases and role with `deletionPolicy: Delete`; kept, the role unable to log in,
with `Retain`)."""

from __future__ import annotations

import asyncio
import base64

import asyncpg
import pytest
import redis

from shopfleet_operator.build.accounts import shop_databases
from shopfleet_operator.build.names import services
from shopfleet_operator.build.secrets import (
    SECRET_POSTGRES_PASSWORD,
    SECRET_PUBSUB_URL,
    SECRET_REDIS_PASSWORD,
    SECRET_REDIS_USERNAME,
    SECRET_STATE_URL,
)
from shopfleet_operator.config import Config
from tests.operator.conftest import PLATFORM_NS, Operator, eventually
from tests.operator.shops import admin_secret, shop
from tests.operator.test_shared_tier import SHOPS, condition, routes
from tests.support import accounts
from tests.support.cluster.apiserver import ApiServer


def decoded(secret: dict) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}


async def own_shop(api: ApiServer, operator: Operator, name: str, policy: str) -> dict[str, str]:
    """Apply a dedicated shop (state on PostgreSQL) and wait for its Secret; its data."""
    await api.apply(admin_secret(name))
    await api.apply(shop(name, tier="dedicated", stateStore="postgresql", deletionPolicy=policy))
    found = await eventually(lambda: api.obj("v1/secrets", f"shop-{name}", f"shop-{name}"))
    return decoded(found)


async def test_a_dedicated_shop_gets_its_own_role_databases_vhost_and_user(
    api: ApiServer, operator: Operator
) -> None:
    prefix = operator.prefix
    name = f"{prefix}own"
    async with operator.running():
        tenant = await own_shop(api, operator, "own", "Delete")

        # One role, owning the nine databases (eight services and the state store).
        assert accounts.roles(prefix) == [name]
        config = Config(postgres_database_prefix=prefix)
        expected = sorted(shop_databases("own", config))
        assert sorted(accounts.databases(prefix)) == expected
        owners = accounts.psql(
            "SELECT DISTINCT pg_get_userbyid(datdba) FROM pg_database "
            f"WHERE starts_with(datname, '{prefix}')"
        )
        assert owners == [name]
        # One vhost, and a user allowed there alone.
        assert accounts.vhosts(prefix) == [name] and accounts.users(prefix) == [name]
        allowed = accounts.management("GET", f"users/{name}/permissions").json()
        assert [p["vhost"] for p in allowed] == [name]

        # The tenant's Secret: that account, nothing of the platform's.
        password = tenant[SECRET_POSTGRES_PASSWORD]
        assert tenant[SECRET_PUBSUB_URL] == (f"amqp://{name}:{password}@127.0.0.1:5672/{name}")
        assert (
            f"user={name} password={password} dbname={prefix}own_state"
            in (tenant[SECRET_STATE_URL])
        )
        # The operator's record of the account is written after the tenant's Secret.
        record = decoded(
            await eventually(lambda: api.obj("v1/secrets", PLATFORM_NS, "shop-own-account"))
        )
        assert record == {"username": name, "password": password}

        # The role logs in to its own databases, and can make no others.
        conn = await asyncpg.connect(
            host="127.0.0.1", user=name, password=password, database=f"{prefix}own_orders"
        )
        try:
            assert await conn.fetchval("SELECT current_user") == name
            assert (
                await conn.fetchval("SELECT rolcreatedb FROM pg_roles WHERE rolname = $1", name)
                is False
            )
        finally:
            await conn.close()

        await api.remove(SHOPS, PLATFORM_NS, "own")
        await eventually(lambda: api.obj(SHOPS, PLATFORM_NS, "own") is None)
    assert accounts.databases(prefix) == [] and accounts.roles(prefix) == []
    assert accounts.vhosts(prefix) == [] and accounts.users(prefix) == []


async def test_retain_keeps_the_databases_and_locks_the_role(
    api: ApiServer, operator: Operator
) -> None:
    prefix = operator.prefix
    async with operator.running():
        await own_shop(api, operator, "kept", "Retain")
        await api.remove(SHOPS, PLATFORM_NS, "kept")
        await eventually(lambda: api.obj(SHOPS, PLATFORM_NS, "kept") is None)
    assert len(accounts.databases(prefix)) == len(services()) + 1
    assert accounts.psql(f"SELECT rolcanlogin FROM pg_roles WHERE rolname = '{prefix}kept'") == [
        "f"
    ]
    assert accounts.vhosts(prefix) == [] and accounts.users(prefix) == []


async def test_an_unreachable_store_is_reported_and_retried(
    api: ApiServer, operator: Operator, monkeypatch
) -> None:
    monkeypatch.setenv("SHOPFLEET_OPERATOR_RABBITMQ_MANAGEMENT_URL", "http://127.0.0.1:9")
    async with operator.running():
        await api.apply(admin_secret("cut"))
        await api.apply(shop("cut", tier="dedicated"))

        def storage() -> dict | None:
            obj = api.obj(SHOPS, PLATFORM_NS, "cut") or {}
            found = [
                c
                for c in (obj.get("status") or {}).get("conditions", [])
                if c["type"] == "StorageReady" and c["status"] == "False"
            ]
            return found[0] if found else None

        down = await eventually(storage)
        assert down["reason"] == "AccountsUnavailable"
        assert "127.0.0.1:9" in down["message"]
        # Nothing reaches the tenant's namespace without its account.
        await asyncio.sleep(0.5)
        assert api.obj("v1/secrets", "shop-cut", "shop-cut") is None


async def test_back_on_the_shared_tier_the_vhost_goes_and_the_role_is_locked(
    api: ApiServer, operator: Operator
) -> None:
    prefix = operator.prefix
    async with operator.running():
        await own_shop(api, operator, "moves", "Delete")
        assert accounts.vhosts(prefix) == [f"{prefix}moves"]
        await api.apply(shop("moves", tier="shared", deletionPolicy="Delete"))
        await eventually(lambda: api.obj("v1/secrets", PLATFORM_NS, "shop-moves-account") is None)
        await eventually(lambda: accounts.vhosts(prefix) == [] and accounts.users(prefix) == [])
    assert accounts.psql(f"SELECT rolcanlogin FROM pg_roles WHERE rolname = '{prefix}moves'") == [
        "f"
    ]
    assert len(accounts.databases(prefix)) == len(services()) + 1


async def test_a_retained_dedicated_shops_databases_stay_its_namespaces(
    api: ApiServer, operator: Operator
) -> None:
    """Its role's comment names the Shop's namespace: a Shop of the name in another
    namespace is refused the role and databases (nothing is made, not even its namespace),
    its deletion drops none of them, and the Shop re-applied in its namespace takes them."""
    prefix = operator.prefix
    role = f"{prefix}acme"

    def dedicated(ns: str, policy: str) -> dict:
        spec = {"tier": "dedicated", "stateStore": "postgresql", "deletionPolicy": policy}
        return shop("acme", ns, **spec)

    def reason(ns: str, type_: str) -> str | None:
        return (condition(api, "acme", type_, ns) or {}).get("reason")

    async def gone(ns: str) -> None:
        await api.remove(SHOPS, ns, "acme")
        await eventually(lambda: api.obj(SHOPS, ns, "acme") is None)

    for ns in ("a", "b"):
        await api.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        await api.apply(admin_secret("acme", ns))
    async with operator.running():
        await api.apply(dedicated("a", "Retain"))
        await eventually(lambda: api.obj("v1/secrets", "shop-acme", "shop-acme"))
        comment = "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = "
        assert accounts.psql(f"{comment}'{role}'") == ["shopfleet.io/shop-namespace=a"]
        await gone("a")
        kept = sorted(accounts.databases(prefix))
        assert len(kept) == len(services()) + 1

        await api.apply(dedicated("b", "Delete"))
        await eventually(lambda: reason("b", "Ready") == "TenantOwned", timeout=30)
        message = condition(api, "acme", "Ready", "b")["message"]
        assert "namespace 'a'" in message and role in message, message
        assert reason("b", "StorageReady") == "TenantOwned"
        assert api.obj("v1/namespaces", None, "shop-acme") is None
        assert "acme" not in routes(api)
        await gone("b")
        assert sorted(accounts.databases(prefix)) == kept
        assert accounts.roles(prefix) == [role]

        await api.apply(dedicated("a", "Retain"))
        await eventually(lambda: reason("a", "StorageReady") == "StateStoreConfigured")
        assert accounts.psql(f"SELECT rolcanlogin FROM pg_roles WHERE rolname = '{role}'") == ["t"]
        assert sorted(accounts.databases(prefix)) == kept


async def redis_shop(api: ApiServer, name: str, policy: str) -> dict[str, str]:
    """Apply a dedicated shop with its state on Redis; its Secret's data, once written."""
    await api.apply(admin_secret(name))
    await api.apply(shop(name, tier="dedicated", stateStore="redis", deletionPolicy=policy))
    found = await eventually(lambda: api.obj("v1/secrets", f"shop-{name}", f"shop-{name}"))
    return decoded(found)


def as_user(user: str, password: str) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=6379, username=user, password=password)


async def test_a_dedicated_shop_gets_a_redis_user_on_its_own_keys_alone(
    api: ApiServer, operator: Operator, monkeypatch
) -> None:
    # What the sidecar doubles of a run put before every key (empty with daprd).
    run_prefix = f"{operator.prefix}run."
    monkeypatch.setenv("SHOPFLEET_OPERATOR_REDIS_ACL_KEY_PREFIX", run_prefix)
    name = f"{operator.prefix}cache"
    async with operator.running():
        tenant = await redis_shop(api, "cache", "Delete")

        # The Secret: the shop's own user, not the platform's (passwordless) default user.
        assert tenant[SECRET_REDIS_USERNAME] == name
        password = tenant[SECRET_REDIS_PASSWORD]
        assert password == tenant[SECRET_POSTGRES_PASSWORD] and password
        user = accounts.redis_user(name)
        assert user is not None and "on" in user["flags"]
        assert user["keys"] == [f"~{run_prefix}{name}||*"] and user["channels"] == []
        # The statestore component logs in as that user on keys of that pattern.
        # (written after the Secret, so waited for rather than read once)
        store = await eventually(
            lambda: api.obj("dapr.io/v1alpha1/components", "shop-cache", "statestore")
        )
        meta = {m["name"]: m for m in store["spec"]["metadata"]}
        assert meta["keyPrefix"]["value"] == name
        assert meta["redisUsername"]["secretKeyRef"] == {
            "name": "shop-cache",
            "key": SECRET_REDIS_USERNAME,
        }

        own, other = f"{run_prefix}{name}||cart", f"{run_prefix}cache||cart"
        with as_user(name, password) as client:
            client.hset(own, mapping={"v": "1", "e": "1"})
            with pytest.raises(redis.exceptions.NoPermissionError):
                client.hgetall(other)  # a pooled shop's key
            with pytest.raises(redis.exceptions.NoPermissionError):
                client.keys("*")
        with redis.Redis.from_url(accounts.REDIS) as admin:
            admin.set(f"{run_prefix}{name}||other", "x")

        await api.remove(SHOPS, PLATFORM_NS, "cache")
        await eventually(lambda: api.obj(SHOPS, PLATFORM_NS, "cache") is None)
    assert accounts.redis_users(operator.prefix) == []
    with redis.Redis.from_url(accounts.REDIS) as admin:
        assert list(admin.scan_iter(match=f"{run_prefix}*")) == []


async def test_retain_removes_the_redis_user_and_keeps_its_keys(
    api: ApiServer, operator: Operator
) -> None:
    name = f"{operator.prefix}stays"
    async with operator.running():
        tenant = await redis_shop(api, "stays", "Retain")
        with as_user(name, tenant[SECRET_REDIS_PASSWORD]) as client:
            client.set(f"{name}||cart", "kept")
        await api.remove(SHOPS, PLATFORM_NS, "stays")
        await eventually(lambda: api.obj(SHOPS, PLATFORM_NS, "stays") is None)
    assert accounts.redis_users(operator.prefix) == []
    with redis.Redis.from_url(accounts.REDIS) as admin:
        try:
            assert admin.get(f"{name}||cart") == b"kept"
        finally:
            admin.delete(f"{name}||cart")
