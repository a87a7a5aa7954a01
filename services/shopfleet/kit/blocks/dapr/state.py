"""`DaprStateStore`: the StateStore port on a Dapr state store component, over gRPC.

Keys. The caller's key is sent as is (`cart:acme:u1`, exactly the local adapter's keys);
the sidecar namespaces it (`state.redis` with the default `keyPrefix: appid` stores
`<app-id>||cart:acme:u1`). Dapr rejects keys containing `||`, so we do too, early.

Values are orjson bytes (a value that is not JSON raises `TypeError` before any I/O).

Concurrency. A write with an ETag is sent with `StateOptions(concurrency=first_write,
consistency=strong)`: it succeeds only if the stored ETag still matches. A write without
one is `last_write` (unconditional). Transactions carry each op's ETag (the SDK sends no
options for transaction ops; Dapr then checks every ETag that is given).

Errors, mapped from what daprd answers (`pkg/api/grpc`, `stateErrorResponse`):

- SaveState/DeleteState with a stale or unknown ETag: gRPC `ABORTED` ("failed saving
  state in state store <name>: possible etag mismatch ...") -> `ETagMismatch`.
- An ETag the component cannot parse (`state.redis` versions are integers): gRPC
  `INVALID_ARGUMENT` naming the etag -> `ETagMismatch` too: it cannot match anything.
- ExecuteStateTransaction fails as a whole with `INTERNAL` ("error while executing state
  transaction: possible etag mismatch ...") -> `ETagMismatch` when the text says so.
- `UNAVAILABLE` / `DEADLINE_EXCEEDED` / no answer in `call_timeout_s` ->
  `StateStoreUnavailable` (a write that failed so may have been applied: re-read).

TTL: `ttl_s` is sent as the per-item metadata `ttlInSeconds`, which `state.redis` and
`state.postgresql` honour; an expired item reads as missing (empty data, empty ETag).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import grpc
import orjson
from dapr.clients.grpc._request import TransactionalStateOperation, TransactionOperationType
from dapr.clients.grpc._state import Concurrency, Consistency, StateOptions

from shopfleet.kit.blocks.dapr.sidecar import DaprSidecar, SidecarUnavailable
from shopfleet.kit.blocks.ports import (
    JSON,
    ETagMismatch,
    StateItem,
    StateOp,
    StateStore,
    StateStoreUnavailable,
)

T = TypeVar("T")

FIRST_WRITE = StateOptions(consistency=Consistency.strong, concurrency=Concurrency.first_write)
LAST_WRITE = StateOptions(consistency=Consistency.strong, concurrency=Concurrency.last_write)
STALE_ETAG = "stale:written-over"  # never a real ETag
_UNAVAILABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


class DaprStateStore(StateStore):
    """State through the sidecar's state store component `store_name`."""

    def __init__(self, sidecar: DaprSidecar, store_name: str = "statestore") -> None:
        self.sidecar = sidecar
        self.store_name = store_name
        self._closed = False
        sidecar.acquire()

    async def get(self, key: str) -> StateItem | None:
        if not _storable(key):
            return None  # no write can have made it
        response = await self._call(
            lambda client: client.get_state(self.store_name, key), write=False
        )
        if not response.data and not response.etag:
            return None
        return StateItem(key=key, value=orjson.loads(response.data), etag=response.etag)

    async def get_bulk(self, keys: Sequence[str]) -> dict[str, StateItem]:
        wanted = [key for key in dict.fromkeys(keys) if _storable(key)]
        if not wanted:
            return {}
        response = await self._call(
            lambda client: client.get_bulk_state(self.store_name, wanted, parallelism=8),
            write=False,
        )
        found: dict[str, StateItem] = {}
        for item in response.items:
            if item.error:
                raise StateStoreUnavailable(self._where, RuntimeError(item.error))
            if item.data or item.etag:
                found[item.key] = StateItem(item.key, orjson.loads(item.data), item.etag)
        return found

    async def save(
        self, key: str, value: JSON, *, etag: str | None = None, ttl_s: int | None = None
    ) -> str:
        _check_key(key)
        blob = orjson.dumps(value)  # TypeError for values that are not JSON
        metadata = _ttl_metadata(ttl_s)
        await self._call(
            lambda client: client.save_state(
                self.store_name,
                key,
                blob,
                etag=etag,
                options=FIRST_WRITE if etag is not None else LAST_WRITE,
                state_metadata=metadata,
            )
        )
        # SaveState answers no ETag, so read back the one our write produced. If another
        # writer got in between, the stored bytes differ from ours and we return an ETag
        # that matches nothing: the caller's next conditional write then fails and re-reads,
        # instead of overwriting a value it never saw.
        response = await self._call(
            lambda client: client.get_state(self.store_name, key), write=False
        )
        return response.etag if response.data == blob else STALE_ETAG

    async def delete(self, key: str, *, etag: str | None = None) -> None:
        _check_key(key)
        await self._call(
            lambda client: client.delete_state(
                self.store_name,
                key,
                etag=etag,
                options=FIRST_WRITE if etag is not None else LAST_WRITE,
            )
        )

    async def transact(self, ops: Sequence[StateOp]) -> None:
        if not ops:
            return
        operations = []
        for op in ops:
            _check_key(op.key)
            if op.delete:
                operations.append(
                    TransactionalStateOperation(
                        key=op.key, etag=op.etag, operation_type=TransactionOperationType.delete
                    )
                )
            else:
                operations.append(
                    TransactionalStateOperation(
                        key=op.key,
                        data=orjson.dumps(op.value),
                        etag=op.etag,
                        metadata=_ttl_metadata(op.ttl_s),
                    )
                )
        await self._call(
            lambda client: client.execute_state_transaction(self.store_name, operations)
        )

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self.sidecar.release()

    # ------------------------------------------------------------------------- helpers

    @property
    def _where(self) -> str:
        return f"dapr://{self.sidecar.grpc_address}/{self.store_name}"

    async def _call(self, call: Callable[..., Awaitable[T]], *, write: bool = True) -> T:
        try:
            client = await self.sidecar.client()
            async with asyncio.timeout(self.sidecar.call_timeout_s):
                return await call(client)
        except (TimeoutError, SidecarUnavailable) as exc:
            raise StateStoreUnavailable(self._where, exc) from exc
        except Exception as exc:
            code, details = _rpc_status(exc)
            if code is None:
                raise
            if code in _UNAVAILABLE:
                raise StateStoreUnavailable(self._where, exc) from exc
            if write and _is_etag_mismatch(code, details):
                raise ETagMismatch(details) from exc
            raise


def _storable(key: object) -> bool:
    return isinstance(key, str) and bool(key) and "||" not in key


def _check_key(key: object) -> None:
    if not isinstance(key, str) or not key:
        raise ValueError("state key must be a non-empty string")
    if "||" in key:
        raise ValueError(f"state key must not contain '||' (Dapr's key separator): {key!r}")


def _ttl_metadata(ttl_s: float | None) -> dict[str, str]:
    if ttl_s is None:
        return {}
    if not ttl_s > 0:
        raise ValueError(f"ttl_s must be a positive number of seconds, got {ttl_s}")
    return {"ttlInSeconds": str(max(1, int(-(-ttl_s // 1))))}  # whole seconds, rounded up


def _rpc_status(exc: BaseException) -> tuple[grpc.StatusCode | None, str]:
    """The gRPC status behind `exc` (the SDK wraps AioRpcError in its own errors)."""
    current: BaseException | None = exc
    while current is not None:
        if isinstance(current, grpc.aio.AioRpcError):
            return current.code(), current.details() or ""
        current = current.__cause__
    return None, ""


def _is_etag_mismatch(code: grpc.StatusCode, details: str) -> bool:
    if code is grpc.StatusCode.ABORTED:
        return True
    if code is grpc.StatusCode.INVALID_ARGUMENT:  # an ETag the store cannot parse (Redis
        return "etag" in details.lower()  # wants integers): it cannot match, so mismatch
    return code is grpc.StatusCode.INTERNAL and "etag mismatch" in details.lower()
