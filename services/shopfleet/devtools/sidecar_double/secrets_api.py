"""The secrets building block's gRPC API: GetSecret, under the Configuration's secret
scopes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
from dapr.proto import api_v1

if TYPE_CHECKING:
    from shopfleet.devtools.sidecar_double.double import SidecarDouble


class SecretsApi:
    """The secrets RPC of `DaprApi` (grpc_api.py)."""

    d: SidecarDouble

    async def GetSecret(self, request, context):
        if request.store_name not in self.d.secret_stores:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"failed finding secret store with key {request.store_name}",
            )
        if not self.d.secret_allowed(request.store_name, request.key):
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f'access denied by policy to get "{request.key}" from "{request.store_name}"',
            )
        try:
            data = await self.d.secret(request.store_name, request.key)
        except Exception as exc:  # the API refused (403) or could not be reached
            await context.abort(
                grpc.StatusCode.INTERNAL,
                f"failed getting secret with key {request.key} from secret store "
                f"{request.store_name}: {exc}",
            )
        if data is None:
            await context.abort(
                grpc.StatusCode.INTERNAL,
                f"failed getting secret with key {request.key} from secret store "
                f'{request.store_name}: secrets "{request.key}" not found',
            )
        return api_v1.GetSecretResponse(data=data)
