"""A dedicated shop's own account: its PostgreSQL role and databases, RabbitMQ user and
vhost, Redis ACL user; the names, rules and addresses the operator makes them with."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from shopfleet_operator.build.names import services
from shopfleet_operator.config import Config
from shopfleet_operator.crd import Shop


def _pg_identifier(name: str) -> str:
    """`name` with `_` for `-`, within PostgreSQL's 63 characters (a hash when longer)."""
    name = name.replace("-", "_")
    if len(name) > 63:
        name = f"{name[:54]}_{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    return name


def database_name(shop: Shop, config: Config, service: str) -> str:
    """`<prefix><shop>_<service>`, within PostgreSQL's 63 characters (a hash when longer)."""
    return shop_database(shop.name, config, service)


def shop_database(shop_name: str, config: Config, part: str) -> str:
    return _pg_identifier(f"{config.postgres_database_prefix}{shop_name}_{part}")


STATE_DATABASE = "state"  # a dedicated shop's state.postgresql database: `<prefix><shop>_state`


def shop_databases(shop_name: str, config: Config, *, state: bool = True) -> list[str]:
    """The databases of a dedicated shop: one per service, and its state store's."""
    parts = [*services(), *([STATE_DATABASE] if state else [])]
    return [shop_database(shop_name, config, part) for part in parts]


@dataclass(frozen=True)
class TenantAccount:
    """A dedicated shop's own PostgreSQL role and RabbitMQ user and vhost (one name for the
    three), with the password the operator generated for it."""

    name: str
    password: str


def tenant_account_name(shop_name: str, config: Config) -> str:
    """`<prefix><shop>` (the database prefix: one run's or release's names share it)."""
    return _pg_identifier(f"{config.postgres_database_prefix}{shop_name}")


def redis_key_prefix(shop_name: str, config: Config) -> str:
    """A dedicated shop's state `keyPrefix`: its account's name, which no other shop's
    prefix equals (shared shops' are their bare names, which have no `_`)."""
    return tenant_account_name(shop_name, config)


def _glob_escape(text: str) -> str:
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


def redis_key_pattern(shop_name: str, config: Config) -> str:
    """Every Redis key of a dedicated shop's state store: `<keyPrefix>||<key>`, after the
    prefix every key of the platform has (`config.redis_acl_key_prefix`, empty with daprd)."""
    prefix = f"{config.redis_acl_key_prefix}{redis_key_prefix(shop_name, config)}"
    return f"{_glob_escape(prefix)}||*"


def redis_acl_rules(shop_name: str, config: Config, password: str) -> list[str]:
    """`ACL SETUSER` rules of a dedicated shop's Redis user, from scratch (`reset`): its
    password, its keys alone, no Pub/Sub channel, and the commands of a state store: all
    but the dangerous ones (KEYS, FLUSHALL, CONFIG, ACL, DEBUG, ...) and the two that list
    keys whatever the pattern (SCAN, RANDOMKEY); INFO stays, as daprd's state.redis reads
    the replication section at start."""
    return [
        "reset",
        "on",
        f">{password}",
        f"~{redis_key_pattern(shop_name, config)}",
        "resetchannels",
        "+@all",
        "-@dangerous",
        "+info",
        "-scan",
        "-randomkey",
    ]


def pubsub_url(config: Config, account: TenantAccount) -> str:
    """The platform broker's address (`config.rabbitmq_url`), as the shop's user, on its vhost."""
    broker = urlsplit(config.rabbitmq_url)
    port = f":{broker.port}" if broker.port else ""
    user = f"{quote(account.name, safe='')}:{quote(account.password, safe='')}"
    return f"{broker.scheme}://{user}@{broker.hostname}{port}/{quote(account.name, safe='')}"


def state_dsn(shop: Shop, config: Config, account: TenantAccount) -> str:
    """The shop's state.postgresql connection string (libpq key=value), as its own role."""
    database = shop_database(shop.name, config, STATE_DATABASE)
    return (
        f"host={config.postgres_host} port={config.postgres_port} user={account.name} "
        f"password={account.password} dbname={database}"
    )
