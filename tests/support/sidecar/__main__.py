"""Run one sidecar double as its own process (see README.md).

    python -m tests.support.sidecar --app-id cart --app-port 8001 \
        --grpc-port 50011 --http-port 3511 --prefix dev.

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

from shopfleet.kit.telemetry import configure_logging
from tests.support.sidecar.access import AccessControl
from tests.support.sidecar.double import SidecarConfig, SidecarDouble


def parse_args(argv: list[str] | None = None) -> SidecarConfig:
    p = argparse.ArgumentParser(prog="python -m tests.support.sidecar", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--app-id", required=True)
    p.add_argument("--app-port", type=int, default=None, help="the app's HTTP port")
    p.add_argument("--app-host", default="127.0.0.1")
    p.add_argument("--host", default="127.0.0.1", help="where the double listens")
    p.add_argument("--grpc-port", type=int, default=50001, help="0 = any free port")
    p.add_argument("--http-port", type=int, default=3500, help="0 = any free port")
    p.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="state + name registry")
    p.add_argument("--amqp", default="amqp://guest:guest@127.0.0.1:5672/", help="pub/sub")
    p.add_argument("--prefix", default="dapr-double.",
                   help="namespace of Redis keys, exchanges, queues and the registry")  # fmt: skip
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
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    configure_logging(args.log_level, "json")
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
            AccessControl.from_configuration(args.config)
            if args.config
            else AccessControl.allow_all()
        ),
    )


async def run(config: SidecarConfig) -> None:
    double = SidecarDouble(config)
    await double.start()
    ready = {"app_id": config.app_id, "grpc_port": double.grpc_port,
             "http_port": double.http_port}  # fmt: skip
    sys.stdout.write("READY " + orjson.dumps(ready).decode() + "\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await double.stop()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    main()
