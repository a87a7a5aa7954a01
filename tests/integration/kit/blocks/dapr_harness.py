"""The Dapr adapters behind the contract fixtures: each against a sidecar double.

State and secrets: one double per test (no app, no broker), the adapter over real gRPC.
Its Redis store takes the test's clock, so the contract's `advance` lets TTLs pass at once
(Redis still expires the keys for real).

Pub/sub: each `make()` is one app process: a `HarnessDaprPubSub` whose routes an in-loop
uvicorn serves, paired with its own double. The pair boots on first use:

- `start()` boots it as a running service: the double reads `GET /dapr/subscribe`,
  declares the durable queues and delivers;
- `publish()` before `start()` boots a double that does not deliver to this app; the
  subscriptions the app declared only get their durable queues (as an earlier run of that
  consumer would have left them), so what is published to them waits in RabbitMQ;
- `stop()` drains the handlers in flight, then stops the double gracefully (acks what was
  answered) and the app; `crash()` drops the double's broker connection and the app at
  once, so unacked deliveries go back to their queues.
"""

from __future__ import annotations

from datetime import UTC, datetime

from shopfleet.devtools.sidecar_double import SidecarDouble
from shopfleet.kit.blocks.dapr import DaprPubSub, DaprSidecar
from shopfleet.kit.blocks.local import DeadLetter
from shopfleet.kit.blocks.ports import CloudEvent
from tests.support.sidecar_double import AppServer, DoubleRun

APP_ID = "contract"


def sidecar_for(double: SidecarDouble, app_id: str = APP_ID) -> DaprSidecar:
    return DaprSidecar(
        app_id=app_id, grpc_port=double.grpc_port, http_port=double.http_port, ready_timeout_s=10
    )


class HarnessDaprPubSub(DaprPubSub):
    def __init__(self, run: DoubleRun) -> None:
        super().__init__(DaprSidecar(app_id=APP_ID, ready_timeout_s=10))
        self.run = run
        self.double: SidecarDouble | None = None
        self.server: AppServer | None = None
        self.delivering = False

    async def _boot(self, *, deliver: bool) -> None:
        if deliver:
            from fastapi import FastAPI

            app = FastAPI()
            app.include_router(self.router())
            self.server = await AppServer(app).start()
            self.double = await self.run.start(APP_ID, app_port=self.server.port)
            await self.double.wait_app_ready(10)
        else:
            self.double = await self.run.start(APP_ID)
            await self.double.broker.declare(
                self.double.routes_from(self.programmatic_subscriptions())
            )
        self.delivering = deliver
        await self.sidecar.close()
        self.sidecar = sidecar_for(self.double)
        self.sidecar.acquire()

    async def publish(self, event: CloudEvent) -> None:
        if self.double is None:
            await self._boot(deliver=False)
        await super().publish(event)

    async def start(self) -> None:
        if self.double is not None and not self.delivering:
            await self.double.stop()
            self.double = None
        if self.double is None:
            await self._boot(deliver=True)
        await super().start()

    async def stop(self) -> None:
        await super().stop()
        if self.double is not None:
            await self.double.stop()
        if self.server is not None:
            await self.server.stop()

    async def crash(self) -> None:
        self._stopping = True
        if self.double is not None:
            await self.double.crash()
        if self.server is not None:
            await self.server.crash()
        await self.sidecar.close()

    def dead_letters(self) -> list[DeadLetter]:
        if self.double is None:
            return []
        return [
            DeadLetter(
                event=CloudEvent.from_json(record.body),
                topic=record.route.topic,
                consumer=record.route.consumer,
                attempts=record.attempts,
                reason=record.reason,
                error=record.error,
                dead_at=datetime.fromtimestamp(record.dead_at, UTC),
            )
            for record in self.double.dead_letters
        ]
