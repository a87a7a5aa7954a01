"""`MultiProcessPlatform`: starts what `plan` decided, in order, waits for each part to be
ready, injects faults for tests, and stops everything (see this package's docstring)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import httpx
import orjson
import yaml

from shopfleet.dev.cleanup import delete_namespace
from shopfleet.dev.databases import ensure_database
from shopfleet.dev.plan import (
    GATEWAY,
    DevOptions,
    Part,
    RunFiles,
    plan,
    platform_secret_json,
    sidecar_configuration,
)
from shopfleet.dev.processes import StartupFailed, wait_http
from shopfleet.services import SERVICES

Progress = Callable[[str], None]


class MultiProcessPlatform:
    """Every service and the gateway as processes, each with its own sidecar double."""

    def __init__(self, options: DevOptions) -> None:
        from shopfleet.serve import migrations_dir

        self.options = options
        self.files = RunFiles(options.run_dir.resolve())
        self.run_dir = self.files.run_dir
        self.log_dir = self.files.logs
        self.routes_file = self.files.routes
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

    def _prepare_files(self) -> None:
        from shopfleet.gateway.routes import RouteFile
        from shopfleet.kit.contracts.routes import Route
        from shopfleet.kit.private_files import private_file
        from shopfleet.seed import DEMO_SHOP

        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if not self.files.secrets.exists():  # Kubernetes Secrets: the platform's, no shop's yet
            private_file(self.files.secrets).write_bytes(platform_secret_json())
        self.files.configuration.write_text(yaml.safe_dump(sidecar_configuration()))
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
        self.url, self.parts = plan(
            self.options, self.service_names, databases, self.files, self.platform_token
        )
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
            await wait_http(
                self.parts[GATEWAY].service, f"{self.url}/readyz", 200, self.options.start_timeout_s
            )
            self.files.queues.write_bytes(orjson.dumps(sorted(self.queue_names())))
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

    async def _wait_sidecar(self, part: Part, say: Progress = lambda _: None) -> None:
        await wait_http(
            part.sidecar,
            f"{part.sidecar_url}/v1.0/healthz/outbound",
            204,
            self.options.start_timeout_s,
        )
        say(f"{part.name} sidecar up")

    async def _wait_service(self, part: Part, say: Progress = lambda _: None) -> None:
        await wait_http(part.service, f"{part.url}/readyz", 200, self.options.start_timeout_s)
        say(f"{part.name} ready")

    async def _wait_subscribed(self, part: Part) -> None:
        """The double read the app's subscriptions and bound their queues."""
        await wait_http(
            part.sidecar, f"{part.sidecar_url}/v1.0/healthz", 204, self.options.start_timeout_s
        )
        async with httpx.AsyncClient(timeout=5) as http:
            answer = await http.get(f"{part.url}/dapr/subscribe")
        self.subscriptions[part.name] = answer.json() if answer.status_code == 200 else []

    async def wait_ready(self, name: str) -> None:
        """`name` (a service or the gateway) and its double are up and subscribed again."""
        part = self.parts[name]
        await self._wait_sidecar(part)
        await wait_http(part.service, f"{part.url}/readyz", 200, self.options.start_timeout_s)
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
        queues = self.queue_names() | set(extra_queues)
        if self.files.queues.exists():
            queues |= set(orjson.loads(self.files.queues.read_bytes()))
        await delete_namespace(
            self.options.amqp_url, self.options.redis_url, self.options.prefix, queues
        )

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
