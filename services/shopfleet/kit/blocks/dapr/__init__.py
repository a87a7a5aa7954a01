"""The Dapr adapters: the four ports through this app's Dapr sidecar (production, cluster).

    blocks = dapr_blocks(platform_settings, app_id="cart")
    app = create_app(settings, blocks)   # service_app mounts blocks.pubsub.router()

One `DaprSidecar` per process carries one gRPC channel (state, pub/sub, secrets, via the
`dapr` SDK's async client) and one pooled HTTP client (invocation). Nothing connects until
first use, inside the running loop. `await close_dapr_blocks(blocks)` (or closing the
state store and invoker and stopping the pub/sub, which the app lifespan does) releases
them. Tested against the sidecar double in `services/shopfleet/devtools/sidecar_double/`.
"""

from __future__ import annotations

from shopfleet.kit.blocks.dapr.invoker import DaprInvoker
from shopfleet.kit.blocks.dapr.pubsub import DaprPubSub
from shopfleet.kit.blocks.dapr.secrets import DaprSecrets, secret_name
from shopfleet.kit.blocks.dapr.sidecar import DaprSidecar, SidecarUnavailable
from shopfleet.kit.blocks.dapr.state import DaprStateStore
from shopfleet.kit.blocks.ports import Blocks
from shopfleet.kit.settings import PlatformSettings

__all__ = [
    "DaprInvoker",
    "DaprPubSub",
    "DaprSecrets",
    "DaprSidecar",
    "DaprStateStore",
    "SidecarUnavailable",
    "close_dapr_blocks",
    "dapr_blocks",
    "secret_name",
]


def dapr_blocks(
    platform_settings: PlatformSettings,
    *,
    app_id: str,
    grpc_port: int | None = None,
    http_port: int | None = None,
    pubsub_name: str = "pubsub",
    state_name: str = "statestore",
    secret_store: str = "secretstore",
    host: str = "127.0.0.1",
    ready_timeout_s: float = 60.0,
) -> Blocks:
    """The four ports for app `app_id` through its sidecar (no I/O here).

    Ports default to `DAPR_GRPC_PORT` / `DAPR_HTTP_PORT` (set by the sidecar injector), else
    Dapr's defaults 50001 / 3500. Component names must match components/.
    """
    sidecar = DaprSidecar(
        app_id=app_id,
        host=host,
        grpc_port=grpc_port,
        http_port=http_port,
        ready_timeout_s=ready_timeout_s,
        call_timeout_s=platform_settings.call_timeout_s,
    )
    return Blocks(
        state=DaprStateStore(sidecar, state_name),
        pubsub=DaprPubSub(sidecar, pubsub_name),
        invoker=DaprInvoker(sidecar, default_timeout_s=platform_settings.call_timeout_s),
        secrets=DaprSecrets(sidecar, secret_store),
    )


async def close_dapr_blocks(blocks: Blocks) -> None:
    """Stop the pub/sub (waits for handlers in flight), close the rest and the channel."""
    await blocks.pubsub.stop()
    await blocks.state.close()
    await blocks.invoker.close()
    secrets_close = getattr(blocks.secrets, "close", None)
    if callable(secrets_close):
        await secrets_close()
    sidecar = getattr(blocks.state, "sidecar", None)
    if isinstance(sidecar, DaprSidecar):
        await sidecar.close()
