"""The multi-process platform: every service as its own process next to its own sidecar
(double), plus the gateway, on PostgreSQL, Redis and RabbitMQ. `shopfleet dev` runs it for a
developer without a cluster; the multi-process e2e tests and `benchmarks.multiprocess` run
it too.

What it starts, per part (every service of `SERVICES`, then the gateway):

- **a database**: PostgreSQL, one per service that keeps relational data. Given by the
  caller (`database_urls`, the tests' per-run databases), else created on the admin DSN as
  `<database_prefix><service>` and kept (`shopfleet dev`: `shopfleet_dev_catalog`, ...).
- **a sidecar double** (`python -m shopfleet.devtools.sidecar_double`: there is no Dapr
  runtime here). All doubles of one platform share one `prefix`, which makes them one
  "cluster": an app-id registry in Redis, one durable RabbitMQ exchange, one durable queue
  per subscriber and topic, state keys in Redis. They apply the platform's Configuration
  (`sidecar_configuration`: who may invoke what, the built-in secret store closed). The
  double is a development tool that ships in the package, so no checkout is needed.
- **`shopfleet serve <service>`** with `SHOPFLEET_BLOCKS=dapr`, `DAPR_GRPC_PORT` /
  `DAPR_HTTP_PORT` of its double, its own database, its own data dir, the platform token,
  `SHOPFLEET_PUBLIC_URL` = the gateway (the Stripe emulator's webhooks go there), small
  database pools (`db_pool_size`: eight services must fit PostgreSQL's default
  `max_connections`); it migrates its database at start-up.

Readiness: every double's `/v1.0/healthz/outbound`, every service's `/readyz`, every
double's `/v1.0/healthz` (the app's subscriptions are bound to their queues: no event
published from then on can miss a subscriber), and last the gateway's `/readyz` (which asks
every service through the sidecars). Then the demo shop is seeded through the gateway's
public API (`shopfleet.seed`). Each process runs in its own session (a Ctrl-C in the
terminal reaches only the launcher, which then stops everything in order) and logs to
`<run dir>/logs/<part>.log` and `<part>-sidecar.log`.

Stopping: the gateway first, then the services (SIGTERM: in-flight requests finish, each
outbox relay publishes what is pending while its sidecar still runs), then the doubles
(deliveries in flight finish and are acked); whatever has not exited after the grace period
is killed, with its children (payments' Stripe emulator).

Faults, for tests: `kill_service` (SIGKILL of the process and its children, like a pod
killed by the kubelet), `stop_service`, `start_service`; the same for the doubles
(`kill_sidecar`, ... : the app's connection to its broker and its peers drops).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import yaml

from shopfleet.services import SERVICES

GATEWAY = "gateway"
SIDECAR_MODULE = "shopfleet.devtools.sidecar_double"


class StartupFailed(RuntimeError):
    """A part exited or did not become ready; the message carries the end of its log."""


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct ports nothing listens on right now (held together while chosen)."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            socks.append(sock)
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the child gets SIGTERM when the launcher dies (even by SIGKILL)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Proc:
    """One child process in a session of its own, logging (appending) to a file."""

    def __init__(
        self, label: str, argv: Sequence[str], env: Mapping[str, str], log: Path, cwd: Path
    ) -> None:
        self.label, self.argv, self.env, self.log, self.cwd = label, list(argv), dict(env), log, cwd
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            out.write(f"\n----- {time.strftime('%H:%M:%S')} start {self.label}\n".encode())
            out.flush()
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def exit_code(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def _signal_group(self, sig: int) -> None:
        if self.popen is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, sig)  # its session's group: it and its children

    async def wait(self, timeout_s: float) -> int | None:
        """The exit code, or None if still running after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while self.popen is not None and self.popen.poll() is None:
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.05)
        return self.exit_code

    async def stop(self, grace_s: float) -> int | None:
        """SIGTERM, then SIGKILL (with its children) after `grace_s`."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signal.SIGTERM)
            if await self.wait(grace_s) is None:
                self._signal_group(signal.SIGKILL)
        await self.wait(10)
        self._signal_group(signal.SIGKILL)  # leftovers of its group (an orphaned emulator)
        return self.exit_code

    async def kill(self) -> int | None:
        """SIGKILL to the process and its children at once (no shutdown of any kind)."""
        self._signal_group(signal.SIGKILL)
        return await self.wait(10)


@dataclass
class DevOptions:
    run_dir: Path
    prefix: str = "shopfleet-dev."  # the doubles' namespace in Redis and RabbitMQ
    database_urls: Mapping[str, str] | None = None  # per service; None: create on admin_dsn
    database_prefix: str = "shopfleet_dev_"
    admin_dsn: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    redis_url: str = "redis://127.0.0.1:6379/0"
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    host: str = "127.0.0.1"
    gateway_port: int = 0  # 0: any free port
    platform_token: str | None = None  # None: kept in <run dir>/platform-token
    seed_demo: bool = True
    services: Sequence[str] | None = None  # default: every service of SERVICES
    env: Mapping[str, str] = field(default_factory=dict)  # extra env of every part
    log_level: str = "INFO"
    # Each service opens up to 5 × this many PostgreSQL connections (writer and reader
    # engines with overflow, fast reads); eight services with the default pools of 10 would
    # exceed PostgreSQL's default max_connections (100) under load. None: the services' own.
    db_pool_size: int | None = 2
    # Deliveries to an app that is down are retried 1, 2, 4, 8 s apart (5 attempts, the
    # subscriptions' maxDeliveryAttempts) before dead-lettering: a restart fits in there.
    sidecar_args: Sequence[str] = ("--retry-base-s", "1", "--retry-max-s", "30")
    start_timeout_s: float = 240.0
    stop_grace_s: float = 20.0
    python: str = sys.executable


@dataclass
class Part:
    name: str
    app_port: int
    grpc_port: int
    http_port: int
    database_url: str | None
    service: Proc
    sidecar: Proc
    metrics_port: int

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.app_port}"

    @property
    def sidecar_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


Progress = Callable[[str], None]


def sidecar_configuration() -> dict[str, object]:
    """The platform's Dapr Configuration (components/configuration.yaml) as far as the
    doubles apply it: service invocation closed but for the grants of kit/contracts/access.py,
    and Dapr's built-in `kubernetes` secret store closed to the apps. Made here rather than
    read from components/, which an installed package does not have."""
    from shopfleet.kit.contracts.access import access_control

    return {
        "apiVersion": "dapr.io/v1alpha1",
        "kind": "Configuration",
        "metadata": {"name": "shopfleet"},
        "spec": {
            "secrets": {"scopes": [{"storeName": "kubernetes", "defaultAccess": "deny"}]},
            "accessControl": access_control(lambda _caller: "default"),
        },
    }


def platform_secret_json() -> bytes:
    """The Secret `shopfleet-platform` as a cluster has it (kit/contracts/secrets.py)."""
    from shopfleet.kit.contracts.secrets import PLATFORM_SECRET, SIGNING_KEY_ENCRYPTION_KEY

    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    return orjson.dumps({PLATFORM_SECRET: {SIGNING_KEY_ENCRYPTION_KEY: key}})


class MultiProcessPlatform:
    """Every service and the gateway as processes, each with its own sidecar double."""

    def __init__(self, options: DevOptions) -> None:
        from shopfleet.serve import migrations_dir

        self.options = options
        self.run_dir = options.run_dir.resolve()
        self.log_dir = self.run_dir / "logs"
        self.routes_file = self.run_dir / "routes.json"
        self.secrets_file = self.run_dir / "k8s-secrets.json"
        self.queues_file = self.run_dir / "queues.json"  # what `purge_namespace` deletes
        self.configuration_file = self.run_dir / "dapr-configuration.yaml"  # the doubles'
        self.service_names = list(options.services or SERVICES)
        self.with_database = {n for n in self.service_names if migrations_dir(n) is not None}
        self.parts: dict[str, Part] = {}
        self.demo = None  # DemoCredentials once seeded
        self.platform_token = ""
        self.url = ""
        self.subscriptions: dict[str, list[dict]] = {}  # each app's GET /dapr/subscribe

    # ------------------------------------------------------------------------- set-up

    def _token(self) -> str:
        from shopfleet.kit.settings import PlatformSettings
        from shopfleet.platform import ensure_platform_token

        if self.options.platform_token:
            return self.options.platform_token
        settings = ensure_platform_token(PlatformSettings(data_dir=self.run_dir))
        assert settings.platform_token is not None
        return settings.platform_token.get_secret_value()

    async def _databases(self) -> dict[str, str]:
        if self.options.database_urls is not None:
            missing = self.with_database - set(self.options.database_urls)
            if missing:
                raise StartupFailed(f"no database URL given for {', '.join(sorted(missing))}")
            return {n: self.options.database_urls[n] for n in self.with_database}
        return {
            name: await ensure_database(
                self.options.admin_dsn, f"{self.options.database_prefix}{name}"
            )
            for name in sorted(self.with_database)
        }

    def _plan(self, databases: Mapping[str, str]) -> None:
        names = [*self.service_names, GATEWAY]
        ports = free_ports(4 * len(names) + 1)
        gateway_port = self.options.gateway_port or ports.pop()
        shown = "127.0.0.1" if self.options.host in ("0.0.0.0", "::") else self.options.host
        self.url = f"http://{shown}:{gateway_port}"
        base_env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("DAPR_")
            and not k.endswith("_DATABASE_URL")
            and k not in ("APP_API_TOKEN", "SHOPFLEET_SERVICE_TOKEN")
        }
        service_token = secrets.token_urlsafe(32)  # services only: the gateway never has it
        for i, name in enumerate(names):
            # Each app trusts only its own sidecar: a token the two share and no one else has.
            app_token = {"APP_API_TOKEN": secrets.token_urlsafe(32)}
            app_port = gateway_port if name == GATEWAY else ports[4 * i]
            grpc_port, http_port = ports[4 * i + 1], ports[4 * i + 2]
            metrics_port = ports[4 * i + 3]
            url = databases.get(name)
            env = {
                **base_env,
                "PYTHONUNBUFFERED": "1",
                "SHOPFLEET_BLOCKS": "dapr",
                "DAPR_GRPC_PORT": str(grpc_port),
                "DAPR_HTTP_PORT": str(http_port),
                "SHOPFLEET_DATA_DIR": str(self.run_dir / "data" / name),
                "SHOPFLEET_PLATFORM_TOKEN": self.platform_token,
                "SHOPFLEET_PUBLIC_URL": self.url,
                "SHOPFLEET_LOG_FORMAT": "json",
                "SHOPFLEET_LOG_LEVEL": self.options.log_level,
                "SHOPFLEET_GATEWAY_ROUTES_FILE": str(self.routes_file),
                "SHOPFLEET_METRICS_PORT": str(metrics_port),  # on 127.0.0.1
                **app_token,
                **({} if name == GATEWAY else {"SHOPFLEET_SERVICE_TOKEN": service_token}),
                **({f"SHOPFLEET_{name.upper()}_DATABASE_URL": url} if url else {}),
                **(
                    {f"SHOPFLEET_{name.upper()}_DB_POOL_SIZE": str(self.options.db_pool_size)}
                    if url and self.options.db_pool_size
                    else {}
                ),
                **self.options.env,
            }
            host = self.options.host if name == GATEWAY else "127.0.0.1"  # only it is public
            service = Proc(
                name,
                [
                    self.options.python,
                    "-m",
                    "shopfleet.cli",
                    "serve",
                    name,
                    "--host",
                    host,
                    "--port",
                    str(app_port),
                    "--graceful-timeout",
                    "10",
                ],
                env,
                self.log_dir / f"{name}.log",
                self.run_dir,
            )
            sidecar = Proc(
                f"{name}-sidecar",
                [
                    self.options.python,
                    "-m",
                    SIDECAR_MODULE,
                    "--app-id",
                    name,
                    "--app-port",
                    str(app_port),
                    "--grpc-port",
                    str(grpc_port),
                    "--http-port",
                    str(http_port),
                    "--redis",
                    self.options.redis_url,
                    "--amqp",
                    self.options.amqp_url,
                    "--prefix",
                    self.options.prefix,
                    "--secrets-file",
                    str(self.secrets_file),
                    "--app-ready-timeout-s",
                    str(self.options.start_timeout_s + 60),
                    "--config",
                    str(self.configuration_file),
                    "--log-level",
                    self.options.log_level,
                    *self.options.sidecar_args,
                ],
                {k: v for k, v in base_env.items() if not k.startswith("SHOPFLEET_")} | app_token,
                self.log_dir / f"{name}-sidecar.log",
                self.run_dir,
            )
            self.parts[name] = Part(
                name, app_port, grpc_port, http_port, url, service, sidecar, metrics_port
            )

    def _prepare_files(self) -> None:
        from shopfleet.gateway.routes import RouteFile
        from shopfleet.kit.contracts.routes import Route
        from shopfleet.kit.private_files import private_file
        from shopfleet.seed import DEMO_SHOP

        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if not self.secrets_file.exists():  # Kubernetes Secrets: the platform's, no shop's yet
            private_file(self.secrets_file).write_bytes(platform_secret_json())
        self.configuration_file.write_text(yaml.safe_dump(sidecar_configuration()))
        routes = RouteFile(self.routes_file)
        routes.load()
        if self.options.seed_demo and routes.table.shop(DEMO_SHOP) is None:
            # before the gateway starts: it serves the demo shop from its first request
            routes.put(DEMO_SHOP, Route(hosts=[f"{DEMO_SHOP}.localhost"]))
        elif not self.routes_file.exists():
            routes.save(routes.table.doc)

    # ------------------------------------------------------------------------- start / stop

    async def start(self, progress: Progress | None = None) -> MultiProcessPlatform:
        say = progress or (lambda _: None)
        self.platform_token = self._token()
        self._prepare_files()
        say("databases")
        databases = await self._databases()
        self._plan(databases)
        try:
            say(f"starting {len(self.parts)} sidecar doubles")
            for part in self.parts.values():
                part.sidecar.start()
            await asyncio.gather(*(self._wait_sidecar(p, say) for p in self.parts.values()))
            say(f"starting {len(self.parts)} services (migrations on start)")
            for part in self.parts.values():
                part.service.start()
            await asyncio.gather(
                *(self._wait_service(p, say) for p in self.parts.values() if p.name != GATEWAY)
            )
            await asyncio.gather(*(self._wait_subscribed(p) for p in self.parts.values()))
            await self._wait_http(self.parts[GATEWAY].service, f"{self.url}/readyz", 200)
            self.queues_file.write_bytes(orjson.dumps(sorted(self.queue_names())))
            say("gateway ready")
            if self.options.seed_demo:
                say("seeding the demo shop through the gateway")
                self.demo = await self.seed()
        except BaseException:
            await self.stop()
            raise
        return self

    async def seed(self, attempts: int = 3):
        """The demo shop through the gateway, as `shopfleet up` seeds it (idempotent)."""
        from shopfleet.gateway.routes import RouteFile
        from shopfleet.kit.telemetry import quiet_requests
        from shopfleet.platform import DemoCredentials
        from shopfleet.seed import SeedError, seed_through

        creds = DemoCredentials.load_or_create(self.run_dir)
        quiet = quiet_requests.set(True)
        try:
            async with httpx.AsyncClient(base_url=self.url, timeout=60) as http:
                for attempt in range(attempts):
                    try:
                        await seed_through(
                            http,
                            self.platform_token,
                            RouteFile(self.routes_file),
                            self.service_names,
                            creds,
                        )
                        break
                    except SeedError:  # an event still on its way between processes
                        if attempt == attempts - 1:
                            raise
                        await asyncio.sleep(2)
        finally:
            quiet_requests.reset(quiet)
        return creds

    async def stop(self) -> None:
        """Gateway, then services (their relays drain through their sidecars), then sidecars."""
        grace = self.options.stop_grace_s
        if GATEWAY in self.parts:
            await self.parts[GATEWAY].service.stop(grace)
        await asyncio.gather(
            *(p.service.stop(grace) for p in self.parts.values() if p.name != GATEWAY)
        )
        await asyncio.gather(*(p.sidecar.stop(grace) for p in self.parts.values()))

    @asynccontextmanager
    async def running(
        self, progress: Progress | None = None
    ) -> AsyncIterator[MultiProcessPlatform]:
        await self.start(progress)
        try:
            yield self
        finally:
            await self.stop()

    # ------------------------------------------------------------------------- readiness

    async def _wait_http(
        self, proc: Proc, url: str, status: int, timeout_s: float | None = None
    ) -> None:
        deadline = time.monotonic() + (timeout_s or self.options.start_timeout_s)
        async with httpx.AsyncClient(timeout=5) as http:
            while True:
                if not proc.running:
                    raise StartupFailed(
                        f"{proc.label} exited with {proc.exit_code} before it was ready "
                        f"(log: {proc.log}):\n{proc.tail()}"
                    )
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(url)).status_code == status:
                        return
                if time.monotonic() > deadline:
                    raise StartupFailed(
                        f"{proc.label} not ready at {url} (log: {proc.log}):\n{proc.tail()}"
                    )
                await asyncio.sleep(0.1)

    async def _wait_sidecar(self, part: Part, say: Progress = lambda _: None) -> None:
        await self._wait_http(part.sidecar, f"{part.sidecar_url}/v1.0/healthz/outbound", 204)
        say(f"{part.name} sidecar up")

    async def _wait_service(self, part: Part, say: Progress = lambda _: None) -> None:
        await self._wait_http(part.service, f"{part.url}/readyz", 200)
        say(f"{part.name} ready")

    async def _wait_subscribed(self, part: Part) -> None:
        """The double read the app's subscriptions and bound their queues."""
        await self._wait_http(part.sidecar, f"{part.sidecar_url}/v1.0/healthz", 204)
        async with httpx.AsyncClient(timeout=5) as http:
            answer = await http.get(f"{part.url}/dapr/subscribe")
        self.subscriptions[part.name] = answer.json() if answer.status_code == 200 else []

    async def wait_ready(self, name: str) -> None:
        """`name` (a service or the gateway) and its double are up and subscribed again."""
        part = self.parts[name]
        await self._wait_sidecar(part)
        await self._wait_http(part.service, f"{part.url}/readyz", 200)
        await self._wait_subscribed(part)

    # ------------------------------------------------------------------------- faults

    async def kill_service(self, name: str) -> None:
        """SIGKILL: no drain, no relay flush; its children (an emulator) die with it."""
        await self.parts[name].service.kill()

    async def stop_service(self, name: str) -> int | None:
        return await self.parts[name].service.stop(self.options.stop_grace_s)

    async def start_service(self, name: str, *, wait: bool = True) -> None:
        part = self.parts[name]
        if part.service.running:
            raise RuntimeError(f"{name} is running")
        part.service.start()
        if wait:
            await self.wait_ready(name)

    async def restart_service(self, name: str, *, kill: bool = False) -> None:
        await (self.kill_service(name) if kill else self.stop_service(name))
        await self.start_service(name)

    async def kill_sidecar(self, name: str) -> None:
        """SIGKILL the double: the app's broker connection and its peers' routes drop; its
        unacked messages go back to their queues (RabbitMQ)."""
        await self.parts[name].sidecar.kill()

    async def stop_sidecar(self, name: str) -> int | None:
        return await self.parts[name].sidecar.stop(self.options.stop_grace_s)

    async def start_sidecar(self, name: str, *, wait: bool = True) -> None:
        part = self.parts[name]
        if part.sidecar.running:
            raise RuntimeError(f"{name}'s sidecar is running")
        part.sidecar.start()
        if wait:
            await self.wait_ready(name)

    # ------------------------------------------------------------------------- clean-up

    def queue_names(self) -> set[str]:
        """The durable queues the doubles declared (`<prefix><consumerID>-<topic>`)."""
        names = set()
        for name, entries in self.subscriptions.items():
            for entry in entries:
                consumer = (entry.get("metadata") or {}).get("consumerID") or name
                names.add(f"{self.options.prefix}{consumer}-{entry['topic']}")
        return names

    async def purge_namespace(self, extra_queues: Sequence[str] = ()) -> None:
        """Delete this platform's queues (those of this run, or recorded by the last run in
        this run dir), its exchange and its Redis keys (after `stop`)."""
        import aio_pika
        import redis.asyncio as aioredis

        queues = self.queue_names() | set(extra_queues)
        if self.queues_file.exists():
            queues |= set(orjson.loads(self.queues_file.read_bytes()))
        connection = await aio_pika.connect(self.options.amqp_url, timeout=10)
        try:
            for queue in sorted(queues):
                channel = await connection.channel()
                with contextlib.suppress(Exception):
                    await channel.queue_delete(queue)
            channel = await connection.channel()
            with contextlib.suppress(Exception):
                await channel.exchange_delete(f"{self.options.prefix}pubsub")
        finally:
            await connection.close()
        client = aioredis.Redis.from_url(self.options.redis_url)
        try:
            keys = [key async for key in client.scan_iter(match=f"{self.options.prefix}*")]
            for start in range(0, len(keys), 500):
                await client.delete(*keys[start : start + 500])
        finally:
            await client.aclose()

    def describe(self) -> dict[str, object]:
        """Where everything is (for the terminal and for debugging a failed test)."""
        return {
            "url": self.url,
            "run_dir": str(self.run_dir),
            "prefix": self.options.prefix,
            "parts": {
                name: {
                    "app": part.url,
                    "sidecar": part.sidecar_url,
                    "metrics": part.metrics_url,
                    "grpc": part.grpc_port,
                    "pid": part.service.pid,
                    "sidecar_pid": part.sidecar.pid,
                    "database": part.database_url,
                }
                for name, part in self.parts.items()
            },
        }

    def describe_json(self) -> bytes:
        return orjson.dumps(self.describe(), option=orjson.OPT_INDENT_2)


# ----------------------------------------------------------------------------- databases


def database_url(admin_dsn: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(admin_dsn).set(drivername="postgresql+asyncpg", database=name)
    return url.render_as_string(hide_password=False)


async def ensure_database(admin_dsn: str, name: str) -> str:
    """Create database `name` unless it exists; its SQLAlchemy URL."""
    import asyncpg

    conn = await asyncpg.connect(admin_dsn)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return database_url(admin_dsn, name)


async def drop_databases(admin_dsn: str, names: Sequence[str]) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_dsn)
    try:
        for name in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
