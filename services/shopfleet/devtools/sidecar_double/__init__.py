"""A Dapr sidecar double: the runtime's gRPC/HTTP protocols on real Redis, PostgreSQL and
RabbitMQ, for `shopfleet dev` and the tests. A development tool that no deployment runs;
README.md says where it differs from daprd."""

from shopfleet.devtools.sidecar_double.broker import DeadLetterRecord, Route, delete_broker_objects
from shopfleet.devtools.sidecar_double.config import SidecarConfig
from shopfleet.devtools.sidecar_double.double import SidecarDouble

__all__ = ["DeadLetterRecord", "Route", "SidecarConfig", "SidecarDouble", "delete_broker_objects"]
