"""Run one sidecar double as its own process (see README.md).

    python -m shopfleet.devtools.sidecar_double --app-id cart --app-port 8001 \
        --grpc-port 50011 --http-port 3511 --prefix dev.

or configured from Dapr resources, as daprd (the simulated cluster's injector runs it so):

    python -m shopfleet.devtools.sidecar_double --app-id cart --app-port 8080 --mode kubernetes \
        --resources-path /etc/dapr/resources --config /etc/dapr/resources/shopfleet.yaml \
        --namespace shopfleet --name-resolution kubernetes --dapr-internal-grpc-port 50002

Prints one line `READY {"app_id": ..., "grpc_port": ..., "http_port": ...}` on stdout once
its APIs listen (ports chosen by the OS when given as 0), then runs until SIGTERM/SIGINT,
when it stops gracefully (deliveries in flight finish and are acked).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

import orjson

from shopfleet.devtools.sidecar_double.access import AccessControl
from shopfleet.devtools.sidecar_double.config import SidecarConfig
from shopfleet.devtools.sidecar_double.double import SidecarDouble
from shopfleet.devtools.sidecar_double.errors import ComponentLoadError
from shopfleet.devtools.sidecar_double.resources import (
    ResourceError,
    load_resources,
    secret_policies,
)
from shopfleet.devtools.sidecar_double.secret_stores import SERVICEACCOUNT_DIR
from shopfleet.kit.telemetry import configure_logging


def parse_args(argv: list[str] | None = None) -> SidecarConfig:
    p = argparse.ArgumentParser(
        prog="python -m shopfleet.devtools.sidecar_double",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--app-id", required=True)
    p.add_argument("--app-port", type=int, default=None, help="the app's HTTP port")
    p.add_argument("--app-host", default="127.0.0.1")
    p.add_argument("--host", default="127.0.0.1", help="where the double listens")
    p.add_argument("--grpc-port", type=int, default=50001, help="0 = any free port")
    p.add_argument("--http-port", type=int, default=3500, help="0 = any free port")
    p.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="state + name registry")
    p.add_argument("--amqp", default="amqp://guest:guest@127.0.0.1:5672/", help="pub/sub")
    p.add_argument(
        "--prefix",
        default="dapr-double.",
        help="namespace of Redis keys, exchanges, queues and the registry",
    )
    p.add_argument("--state-store", action="append", default=None, help="component name(s)")
    p.add_argument("--pubsub", action="append", default=None, help="component name(s)")
    p.add_argument("--secret-store", action="append", default=None, help="component name(s)")
    p.add_argument(
        "--secrets-file",
        type=Path,
        default=None,
        help='JSON {"<secret name>": {"<key>": "<value>"}}, re-read per call',
    )
    p.add_argument(
        "--max-attempts",
        type=int,
        default=5,
        help="deliveries before dead-lettering, unless the subscription says",
    )
    p.add_argument("--retry-base-s", type=float, default=0.5)
    p.add_argument("--retry-max-s", type=float, default=10.0)
    p.add_argument(
        "--app-ready-timeout-s",
        type=float,
        default=60.0,
        help="how long to wait for the app's port before giving up on its subscriptions",
    )
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        help="a Dapr Configuration (YAML) whose accessControl guards invocations",
    )
    p.add_argument(
        "--namespace",
        default="default",
        help="this app's namespace, as access-control policies name callers",
    )
    p.add_argument(
        "--record-invocations",
        action="store_true",
        help="log every call delivered to the app in Redis (<prefix>invocations)",
    )
    p.add_argument(
        "--resources-path",
        type=Path,
        action="append",
        default=None,
        help="a folder of Dapr resources (Components, Configuration, Resiliency, "
        "Subscriptions), as daprd's flag: the components come from there, not from "
        "--redis/--amqp/--state-store/--pubsub/--secret-store/--secrets-file",
    )
    p.add_argument(
        "--mode",
        choices=["standalone", "kubernetes"],
        default="standalone",
        help="kubernetes: Dapr's built-in `kubernetes` secret store is added",
    )
    p.add_argument("--disable-builtin-k8s-secret-store", action="store_true")
    p.add_argument(
        "--name-resolution",
        choices=["registry", "kubernetes"],
        default="registry",
        help="registry: the Redis hash under --prefix (dev, multi-process tier); "
        "kubernetes: <app-id>[.<ns>] -> <app-id>-dapr.<ns>.svc.cluster.local by DNS",
    )
    p.add_argument(
        "--dapr-internal-grpc-port",
        type=int,
        default=None,
        help="where peers call this sidecar (kubernetes name resolution: 50002)",
    )
    p.add_argument(
        "--serviceaccount-dir",
        type=Path,
        default=SERVICEACCOUNT_DIR,
        help="double only: where the pod's token and ca.crt are",
    )
    p.add_argument(
        "--peer-secret-file",
        type=Path,
        default=None,
        help="double only: the cluster's stand-in for mTLS (else made in Redis)",
    )
    p.add_argument(
        "--app-protocol",
        default="http",
        choices=["http"],
        help="the double speaks HTTP to its app only",
    )
    p.add_argument("--app-max-concurrency", type=int, default=None, help="accepted, not enforced")
    p.add_argument("--enable-metrics", default="false", choices=["true", "false"])
    p.add_argument("--metrics-port", type=int, default=9090)
    p.add_argument(
        "--dapr-graceful-shutdown-seconds",
        type=float,
        default=5.0,
        help="on SIGTERM: how long deliveries in flight may take before the double exits",
    )
    p.add_argument(
        "--dapr-block-shutdown-duration",
        default=None,
        help="on SIGTERM: keep serving the app this long first (a Go duration), as daprd",
    )
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    configure_logging(args.log_level, "json")
    resources = None
    configuration = None
    if args.resources_path:
        from shopfleet.devtools.sidecar_double.resources import Resources

        resources = Resources()
        for folder in args.resources_path:
            part = load_resources(folder)
            resources.components += part.components
            resources.configurations.update(part.configurations)
            resources.resiliencies += part.resiliencies
            resources.subscriptions += part.subscriptions
        if args.config is not None and not args.config.exists():
            configuration = resources.configurations.get(str(args.config))
            if configuration is None:
                raise ResourceError(f"configuration {args.config} not found")
    if args.config is not None and args.config.exists():
        import yaml

        configuration = yaml.safe_load(args.config.read_text())
    return SidecarConfig(
        app_id=args.app_id,
        app_port=args.app_port,
        app_host=args.app_host,
        host=args.host,
        grpc_port=args.grpc_port,
        http_port=args.http_port,
        redis_url=args.redis,
        amqp_url=args.amqp,
        prefix=args.prefix,
        state_stores=tuple(args.state_store or ["statestore"]),
        pubsubs=tuple(args.pubsub or ["pubsub"]),
        secret_stores=tuple(args.secret_store or ["secretstore"]),
        secrets_file=args.secrets_file,
        default_max_attempts=args.max_attempts,
        retry_base_s=args.retry_base_s,
        retry_max_s=args.retry_max_s,
        app_ready_timeout_s=args.app_ready_timeout_s,
        app_token=os.environ.get("APP_API_TOKEN") or None,
        record_invocations=args.record_invocations,
        namespace=args.namespace,
        access_control=(
            AccessControl.from_document(configuration)
            if configuration
            else AccessControl.allow_all()
        ),
        resources=resources,
        kubernetes_mode=args.mode == "kubernetes",
        builtin_k8s_store=not args.disable_builtin_k8s_secret_store,
        serviceaccount_dir=args.serviceaccount_dir,
        secret_policies=secret_policies(configuration),
        name_resolution=args.name_resolution,
        internal_port=args.dapr_internal_grpc_port,
        peer_secret=(args.peer_secret_file.read_text().strip() if args.peer_secret_file else None),
        log_lines=_plain_line,
        metrics_port=args.metrics_port if args.enable_metrics == "true" else None,
        graceful_shutdown_s=args.dapr_graceful_shutdown_seconds,
        block_shutdown_s=(
            _duration(args.dapr_block_shutdown_duration)
            if args.dapr_block_shutdown_duration
            else 0.0
        ),
    )


def _duration(text: str) -> float:
    from shopfleet.devtools.sidecar_double.metadata_values import seconds

    return seconds(text, 0.0)


def _plain_line(level: str, line: str) -> None:
    """Component loading, as plain lines on stderr (the tests grep them)."""
    sys.stderr.write(f"{level.upper()} {line}\n")
    sys.stderr.flush()


async def run(config: SidecarConfig) -> None:
    double = SidecarDouble(config)
    try:
        await double.start()
    except ComponentLoadError as exc:
        _plain_line("fatal", f"sidecar stopped: {exc}")
        await double.stop(graceful=False)
        sys.exit(1)
    ready = {"app_id": config.app_id, "grpc_port": double.grpc_port, "http_port": double.http_port}
    sys.stdout.write("READY " + orjson.dumps(ready).decode() + "\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    if config.block_shutdown_s:  # daprd --dapr-block-shutdown-duration: the app still
        await asyncio.sleep(config.block_shutdown_s)  # has its sidecar while it drains
    try:
        await asyncio.wait_for(double.stop(), config.graceful_shutdown_s + 5)
    except TimeoutError:
        await double.crash()


def main(argv: list[str] | None = None) -> None:
    try:
        config = parse_args(argv)
    except ResourceError as exc:
        _plain_line("fatal", f"sidecar stopped: {exc}")
        sys.exit(1)
    asyncio.run(run(config))


if __name__ == "__main__":
    main()
