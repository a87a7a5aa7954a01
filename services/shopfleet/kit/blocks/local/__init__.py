"""The local adapters: in-process, SQLite-backed (the embedded platform and fast tests)."""

from shopfleet.kit.blocks.local.pubsub import DeadLetter, LocalPubSub
from shopfleet.kit.blocks.local.secrets import LocalSecrets
from shopfleet.kit.blocks.local.state import LocalStateStore

__all__ = ["DeadLetter", "LocalPubSub", "LocalSecrets", "LocalStateStore"]
