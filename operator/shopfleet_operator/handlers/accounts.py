"""A dedicated shop's own accounts on the platform's data stores: a PostgreSQL login role
owning the shop's databases, a RabbitMQ vhost with a user allowed on it alone, and (state
on Redis) a Redis ACL user allowed on the shop's own keys alone.

The operator makes them with the platform's admin credentials (its own Secret), which never
leave its pod; the tenant's namespace gets the shop's account only. The databases are made
here, owned by the role, rather than by the migrate init containers: those would need
CREATEDB, which PostgreSQL cannot limit to a role's own databases.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import AsyncIterator
from urllib.parse import quote

import aiohttp
import asyncpg
import redis.asyncio as aioredis
import redis.exceptions

from shopfleet_operator.build.accounts import (
    TenantAccount,
    redis_acl_rules,
    redis_key_pattern,
    shop_databases,
    tenant_account_name,
)
from shopfleet_operator.build.secrets import ACCOUNT_PASSWORD, account_secret_name
from shopfleet_operator.config import Config
from shopfleet_operator.crd import Shop
from shopfleet_operator.kube import Kube


class AccountError(Exception):
    """A data store refused or could not be reached (temporary: retried)."""


class AccountOwned(AccountError):
    """The shop's role (and its retained databases) belongs to a Shop of another namespace
    (permanent until that data is dropped or the Shop is applied in that namespace)."""


# The role's comment names the namespace of the Shop whose databases it owns: a dedicated
# shop's data kept by `Retain` stays that namespace's (as a shared shop's tenant does in
# identity, which a dedicated shop's services cannot answer for before they run).
OWNER_COMMENT = "shopfleet.io/shop-namespace="


def owner_message(shop: str, namespace: str, account: str) -> str:
    return (
        f"The databases of shop '{shop}' (role {account}) belong to the Shop '{shop}' of "
        f"namespace '{namespace}', whose data was kept when it was deleted (deletionPolicy: "
        f"Retain). To take it back, apply the Shop in namespace '{namespace}'; to start "
        f"afresh, drop those databases and the role first (charts/README.md), then apply "
        "this Shop again."
    )


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class Accounts:
    """Makes and removes dedicated shops' accounts; remembers what it made (an unchanged
    shop's drift check touches neither store)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._session: aiohttp.ClientSession | None = None
        self._done: dict[str, tuple[TenantAccount, str]] = {}

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def ensure(self, kube: Kube, shop: Shop) -> TenantAccount:
        """The shop's account, made (or repaired) on both stores."""
        account = await self._known(kube, shop)
        if self._done.get(shop.name) == (account, shop.spec.state_store):
            return account
        databases = shop_databases(
            shop.name, self.config, state=shop.spec.state_store == "postgresql"
        )
        await self._postgres_ensure(account, databases, shop.name, shop.namespace)
        await self._rabbitmq_ensure(account)
        if shop.spec.state_store == "redis":
            await self._redis_ensure(shop.name, account)
        self._done[shop.name] = (account, shop.spec.state_store)
        return account

    async def remove(self, shop_name: str, namespace: str, *, drop_data: bool) -> list[str]:
        """Delete the shop's vhost and its RabbitMQ and Redis users; with `drop_data`, its
        Redis keys, databases and role too, else the role may no longer log in (its
        databases and keys are kept). What was done; nothing if the account is another
        namespace's (this Shop was refused it)."""
        self._done.pop(shop_name, None)
        name = tenant_account_name(shop_name, self.config)
        if await self._owner(name) not in (None, namespace):
            return []
        done = await self._rabbitmq_remove(name)
        # Whatever its state store is now: it may have been Redis before.
        done += await self._redis_remove(shop_name, name, drop_data=drop_data)
        done += await self._postgres_remove(
            name, shop_databases(shop_name, self.config), drop_data=drop_data
        )
        return done

    async def _known(self, kube: Kube, shop: Shop) -> TenantAccount:
        """The account's password from the operator's own Secret, or a new one."""
        name = tenant_account_name(shop.name, self.config)
        kept = await kube.get("Secret", self.config.namespace, account_secret_name(shop.name))
        raw = ((kept or {}).get("data") or {}).get(ACCOUNT_PASSWORD)
        password = base64.b64decode(raw).decode() if raw else secrets.token_urlsafe(24)
        return TenantAccount(name=name, password=password)

    # ---- PostgreSQL -----------------------------------------------------------------------

    async def _connect(self) -> asyncpg.Connection:
        config = self.config
        options = config.postgres_options or ""
        try:
            return await asyncpg.connect(
                host=config.postgres_host,
                port=config.postgres_port,
                user=config.postgres_admin_user or config.postgres_user,
                password=config.postgres_admin_password or config.postgres_password,
                database="postgres",
                ssl="require" if "ssl=require" in options else None,
                timeout=10,
            )
        except (OSError, asyncpg.PostgresError) as exc:
            raise AccountError(f"PostgreSQL ({config.postgres_host}) refused: {exc}") from exc

    async def _owner(self, name: str) -> str | None:
        """The namespace the role's comment names; None: no role, or no owner recorded."""
        conn = await self._connect()
        try:
            return _owner_of(await conn.fetchval(_ROLE_COMMENT, name))
        except asyncpg.PostgresError as exc:
            raise AccountError(f"PostgreSQL refused to read the shop's role: {exc}") from exc
        finally:
            await conn.close()

    async def _postgres_ensure(
        self, account: TenantAccount, databases: list[str], shop: str, namespace: str
    ) -> None:
        role, password = _ident(account.name), _literal(account.password)
        conn = await self._connect()
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", account.name)
            owner = _owner_of(await conn.fetchval(_ROLE_COMMENT, account.name))
            if owner not in (None, namespace):  # a role without a comment is adopted
                raise AccountOwned(owner_message(shop, owner, account.name))
            verb = "ALTER" if exists else "CREATE"
            await conn.execute(f"{verb} ROLE {role} WITH LOGIN NOCREATEDB PASSWORD {password}")
            if owner is None:
                comment = _literal(f"{OWNER_COMMENT}{namespace}")
                await conn.execute(f"COMMENT ON ROLE {role} IS {comment}")
            # Membership lets the admin make databases owned by the role and drop them.
            await conn.execute(f"GRANT {role} TO CURRENT_USER")
            have = {
                row["datname"]
                for row in await conn.fetch(
                    "SELECT datname FROM pg_database WHERE datname = ANY($1::text[])", databases
                )
            }
            for database in databases:
                if database not in have:
                    await conn.execute(f"CREATE DATABASE {_ident(database)} OWNER {role}")
                # Other tenants' roles may not even connect to it.
                await conn.execute(f"REVOKE ALL ON DATABASE {_ident(database)} FROM PUBLIC")
        except asyncpg.PostgresError as exc:
            raise AccountError(f"PostgreSQL refused the shop's role or databases: {exc}") from exc
        finally:
            await conn.close()

    async def _postgres_remove(
        self, name: str, databases: list[str], *, drop_data: bool
    ) -> list[str]:
        conn = await self._connect()
        done = []
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", name):
                return []
            if not drop_data:
                await conn.execute(f"ALTER ROLE {_ident(name)} NOLOGIN")
                return [f"disabled role {name}"]
            for database in databases:
                if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
                    await conn.execute(f"DROP DATABASE {_ident(database)} WITH (FORCE)")
                    done.append(f"dropped database {database}")
            await conn.execute(f"DROP ROLE {_ident(name)}")
            done.append(f"dropped role {name}")
        except asyncpg.PostgresError as exc:
            raise AccountError(f"PostgreSQL refused to drop the shop's data: {exc}") from exc
        finally:
            await conn.close()
        return done

    # ---- RabbitMQ (management HTTP API) ---------------------------------------------------

    async def _rabbitmq(self, method: str, path: str, body: dict | None = None) -> int:
        config = self.config
        if self._session is None:
            basic = f"{config.rabbitmq_admin_user}:{config.rabbitmq_admin_password}".encode()
            self._session = aiohttp.ClientSession(
                headers={"Authorization": f"Basic {base64.b64encode(basic).decode()}"},
                timeout=aiohttp.ClientTimeout(total=15),
            )
        url = f"{config.management_url}/api/{path}"
        try:
            async with self._session.request(method, url, json=body) as answer:
                text = await answer.text()
        except aiohttp.ClientError as exc:
            raise AccountError(f"RabbitMQ's management API ({url}) is unreachable: {exc}") from exc
        if answer.status >= 400 and answer.status != 404:
            raise AccountError(f"RabbitMQ answered {method} {path}: {answer.status} {text[:200]}")
        return answer.status

    async def _rabbitmq_ensure(self, account: TenantAccount) -> None:
        vhost = user = quote(account.name, safe="")
        await self._rabbitmq("PUT", f"vhosts/{vhost}", {})
        await self._rabbitmq("PUT", f"users/{user}", {"password": account.password, "tags": ""})
        everything = {"configure": ".*", "write": ".*", "read": ".*"}
        await self._rabbitmq("PUT", f"permissions/{vhost}/{user}", everything)

    async def _rabbitmq_remove(self, name: str) -> list[str]:
        done = []
        for kind in ("vhosts", "users"):
            if await self._rabbitmq("DELETE", f"{kind}/{quote(name, safe='')}") != 404:
                done.append(f"deleted RabbitMQ {kind[:-1]} {name}")
        return done

    # ---- Redis (ACL) ----------------------------------------------------------------------

    def _redis_client(self) -> aioredis.Redis:
        config = self.config
        host, _, port = config.redis_host.rpartition(":")
        return aioredis.Redis(
            host=host or config.redis_host,
            port=int(port) if host else 6379,
            username=config.redis_admin_user,
            password=config.redis_admin_password or config.redis_password,
            socket_connect_timeout=10,
            socket_timeout=15,
        )

    async def _redis_ensure(self, shop_name: str, account: TenantAccount) -> None:
        rules = redis_acl_rules(shop_name, self.config, account.password)
        client = self._redis_client()
        try:
            await client.execute_command("ACL", "SETUSER", account.name, *rules)
        except redis.exceptions.RedisError as exc:
            raise AccountError(
                f"Redis ({self.config.redis_host}) refused the shop's ACL user: {exc}"
            ) from exc
        finally:
            await client.aclose()

    async def _redis_remove(self, shop_name: str, name: str, *, drop_data: bool) -> list[str]:
        """ACL DELUSER (Redis also closes the user's connections); with `drop_data`, every
        key of the shop's pattern, found with SCAN (never KEYS: it would block Redis)."""
        pattern = redis_key_pattern(shop_name, self.config)
        client = self._redis_client()
        done = []
        try:
            if await client.execute_command("ACL", "DELUSER", name):
                done.append(f"deleted Redis user {name}")
            if drop_data:
                deleted = 0
                async for batch in _batches(client.scan_iter(match=pattern, count=500), 500):
                    deleted += await client.delete(*batch)
                if deleted:
                    done.append(f"deleted {deleted} Redis keys {pattern}")
        except redis.exceptions.RedisError as exc:
            raise AccountError(
                f"Redis ({self.config.redis_host}) refused to remove the shop's user or keys: {exc}"
            ) from exc
        finally:
            await client.aclose()
        return done


_ROLE_COMMENT = "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = $1"


def _owner_of(comment: str | None) -> str | None:
    if comment and comment.startswith(OWNER_COMMENT):
        return comment.removeprefix(OWNER_COMMENT)
    return None


async def _batches(items: AsyncIterator[bytes], size: int) -> AsyncIterator[list[bytes]]:
    batch: list[bytes] = []
    async for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
