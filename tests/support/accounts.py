"""This machine's PostgreSQL, RabbitMQ and Redis as the operator's tests see them: what the
operator made for dedicated shops (roles, databases, vhosts, users, Redis ACL users),
looked up and dropped by a prefix of the run's own, so that runs never collide and leave
nothing behind."""

from __future__ import annotations

import subprocess
from urllib.parse import quote

import httpx
import redis

MANAGEMENT = "http://127.0.0.1:15672"
ADMIN = ("guest", "guest")  # RabbitMQ's default administrator, from the loopback only
REDIS = "redis://127.0.0.1:6379/0"  # its default user, without a password


def psql(sql: str, database: str = "postgres") -> list[str]:
    """Rows of `sql` as the superuser (trust auth on 127.0.0.1), one string per row."""
    done = subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
            "-qAt",
            "-c",
            sql,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        raise RuntimeError(f"PostgreSQL refused `{sql}`: {done.stderr.strip()}")
    return [line for line in done.stdout.splitlines() if line]


def management(method: str, path: str, **kw: object) -> httpx.Response:
    return httpx.request(method, f"{MANAGEMENT}/api/{path}", auth=ADMIN, timeout=15, **kw)


def roles(prefix: str) -> list[str]:
    return psql(f"SELECT rolname FROM pg_roles WHERE starts_with(rolname, '{prefix}')")


def databases(prefix: str) -> list[str]:
    return psql(f"SELECT datname FROM pg_database WHERE starts_with(datname, '{prefix}')")


def vhosts(prefix: str) -> list[str]:
    return [v["name"] for v in management("GET", "vhosts").json() if v["name"].startswith(prefix)]


def users(prefix: str) -> list[str]:
    return [u["name"] for u in management("GET", "users").json() if u["name"].startswith(prefix)]


def queues(vhost: str) -> list[str]:
    answer = management("GET", f"queues/{quote(vhost, safe='')}")
    answer.raise_for_status()
    return [q["name"] for q in answer.json()]


def redis_users(prefix: str) -> list[str]:
    with redis.Redis.from_url(REDIS, decode_responses=True) as client:
        return [u for u in client.acl_users() if u.startswith(prefix)]


def redis_user(name: str) -> dict | None:
    """`ACL GETUSER name` (flags, passwords as hashes, keys, channels, commands)."""
    with redis.Redis.from_url(REDIS, decode_responses=True) as client:
        return client.acl_getuser(name)


def drop_prefixed(prefix: str) -> None:
    """Drop every database, role, vhost and user whose name starts with `prefix`."""
    with redis.Redis.from_url(REDIS) as client:
        for user in redis_users(prefix):
            client.acl_deluser(user)
    for database in databases(prefix):
        psql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    for role in roles(prefix):
        psql(f'DROP ROLE IF EXISTS "{role}"')
    for vhost in vhosts(prefix):
        management("DELETE", f"vhosts/{quote(vhost, safe='')}")
    for user in users(prefix):
        management("DELETE", f"users/{quote(user, safe='')}")


def create_vhost_user(name: str, password: str) -> None:
    """A vhost and a user of that name, allowed on it alone (as the operator makes them)."""
    everything = {"configure": ".*", "write": ".*", "read": ".*"}
    for path, body in (
        (f"vhosts/{quote(name, safe='')}", {}),
        (f"users/{quote(name, safe='')}", {"password": password, "tags": ""}),
        (f"permissions/{quote(name, safe='')}/{quote(name, safe='')}", everything),
    ):
        management("PUT", path, json=body).raise_for_status()


def operator_env(prefix: str) -> dict[str, str]:
    """The operator's settings for this machine's stores, its dedicated shops' accounts and
    databases named `<prefix><shop>...` (drop them with `drop_prefixed(prefix)`)."""
    settings = {
        "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_PORT": "5432",
        "POSTGRES_USER": "postgres",
        "POSTGRES_DATABASE_PREFIX": prefix,
        "RABBITMQ_URL": "amqp://127.0.0.1:5672",
        "RABBITMQ_MANAGEMENT_URL": MANAGEMENT,
        "RABBITMQ_ADMIN_USER": ADMIN[0],
        "RABBITMQ_ADMIN_PASSWORD": ADMIN[1],
        "REDIS_HOST": "127.0.0.1:6379",
    }
    return {f"SHOPFLEET_OPERATOR_{name}": value for name, value in settings.items()}
