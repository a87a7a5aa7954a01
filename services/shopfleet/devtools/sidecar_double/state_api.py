"""The state building block's gRPC API: GetState, GetBulkState, SaveState, DeleteState,
ExecuteStateTransaction, with daprd's ETag, TTL and key rules and its error texts."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import grpc
import orjson
from dapr.proto import api_v1, common_v1
from google.protobuf.empty_pb2 import Empty

from shopfleet.kit.blocks.ports import ETagMismatch, StateOp

if TYPE_CHECKING:
    from shopfleet.devtools.sidecar_double.double import SidecarDouble

LAST_WRITE = common_v1.StateOptions.CONCURRENCY_LAST_WRITE


def _encode(raw: bytes) -> dict[str, str]:
    """State bytes as a JSON value for RedisStateStore: text when it is UTF-8, else base64."""
    try:
        return {"s": raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {"b": base64.b64encode(raw).decode()}


def _decode(value: Any) -> bytes:
    if isinstance(value, dict) and "s" in value:
        return str(value["s"]).encode("utf-8")
    if isinstance(value, dict) and "b" in value:
        return base64.b64decode(value["b"])
    return orjson.dumps(value)


def _ttl(metadata: Any) -> int | None:
    raw = dict(metadata).get("ttlInSeconds")
    if raw is None or raw == "":
        return None
    ttl = int(raw)  # ValueError -> INVALID_ARGUMENT
    return None if ttl <= 0 else ttl


class StateApi:
    """The state RPCs of `DaprApi` (grpc_api.py)."""

    d: SidecarDouble

    async def _store(self, name: str, context: grpc.aio.ServicerContext) -> Any:
        store = self.d.stores.get(name)
        if store is None:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"state store {name} is not found"
            )
        return store

    async def _check_key(self, key: str, context: grpc.aio.ServicerContext) -> None:
        if "||" in key:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"input key/keyPrefix '{key}' can't contain '||'"
            )

    async def GetState(self, request, context):
        store = await self._store(request.store_name, context)
        await self._check_key(request.key, context)
        item = await store.get(request.key)
        if item is None:
            return api_v1.GetStateResponse()
        return api_v1.GetStateResponse(data=_decode(item.value), etag=item.etag)

    async def GetBulkState(self, request, context):
        store = await self._store(request.store_name, context)
        for key in request.keys:
            await self._check_key(key, context)
        found = await store.get_bulk(list(request.keys))
        items = []
        for key in request.keys:
            item = found.get(key)
            if item is None:
                items.append(api_v1.BulkStateItem(key=key))
            else:
                items.append(
                    api_v1.BulkStateItem(key=key, data=_decode(item.value), etag=item.etag)
                )
        return api_v1.GetBulkStateResponse(items=items)

    async def SaveState(self, request, context):
        store = await self._store(request.store_name, context)
        for state in request.states:  # one by one, like daprd's bulk save
            await self._check_key(state.key, context)
            etag = state.etag.value if state.HasField("etag") else None
            if state.HasField("options") and state.options.concurrency == LAST_WRITE:
                etag = None  # last-write-wins ignores the ETag
            try:
                ttl = _ttl(state.metadata)
                await store.save(state.key, _encode(state.value), etag=etag, ttl_s=ttl)
            except ValueError as exc:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            except ETagMismatch as exc:
                await context.abort(
                    grpc.StatusCode.ABORTED,
                    f"failed saving state in state store {request.store_name}: "
                    f"possible etag mismatch. error from state store: {exc}",
                )
        return Empty()

    async def DeleteState(self, request, context):
        store = await self._store(request.store_name, context)
        await self._check_key(request.key, context)
        etag = request.etag.value if request.HasField("etag") else None
        if request.HasField("options") and request.options.concurrency == LAST_WRITE:
            etag = None
        try:
            await store.delete(request.key, etag=etag)
        except ETagMismatch as exc:
            await context.abort(
                grpc.StatusCode.ABORTED,
                f"failed deleting state with key {request.key}: "
                f"possible etag mismatch. error from state store: {exc}",
            )
        return Empty()

    async def ExecuteStateTransaction(self, request, context):
        store = await self._store(request.storeName, context)
        ops = []
        for op in request.operations:
            item = op.request
            await self._check_key(item.key, context)
            etag = item.etag.value if item.HasField("etag") else None
            if op.operationType == "upsert":
                try:
                    ttl = _ttl(item.metadata)
                except ValueError as exc:
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
                ops.append(StateOp.upsert(item.key, _encode(item.value), etag=etag, ttl_s=ttl))
            elif op.operationType == "delete":
                ops.append(StateOp.remove(item.key, etag=etag))
            else:
                await context.abort(
                    grpc.StatusCode.UNIMPLEMENTED,
                    f"operation type {op.operationType} not supported",
                )
        try:
            await store.transact(ops)
        except ETagMismatch as exc:
            await context.abort(  # daprd reports a failed transaction as INTERNAL
                grpc.StatusCode.INTERNAL,
                "error while executing state transaction: "
                f"possible etag mismatch. error from state store: {exc}",
            )
        return Empty()
