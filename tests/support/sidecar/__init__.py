"""A Dapr sidecar double for tests: the runtime's gRPC/HTTP protocols on real Redis and
RabbitMQ. Test equipment only; see README.md."""

from tests.support.sidecar.broker import DeadLetterRecord, Route, delete_broker_objects
from tests.support.sidecar.double import SidecarConfig, SidecarDouble

__all__ = ["DeadLetterRecord", "Route", "SidecarConfig", "SidecarDouble", "delete_broker_objects"]
