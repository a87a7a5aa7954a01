"""What every client of another service does the same way.

A call goes through the service-invocation block with the client's timeout. A service
that cannot be reached (down, unknown, timed out) becomes an `UnavailableRefusal`: 503,
slug `<service>-unavailable`, Retry-After; the caller's request changed nothing. An answer
the contract does not foresee (another status, a body its model rejects) becomes an
`UpstreamRefusal` (502), or the same 503 for callers whose answers always said so
(`Wording.bad_answer`). A status with a meaning (a 404, a 409) is each client's to turn
into a typed outcome; what that outcome means to the caller's client is the caller's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal, TypeVar

import orjson
import structlog
from pydantic import BaseModel, ValidationError

from shopfleet.kit.blocks import Invoker, InvokeResponse, ServiceUnavailable
from shopfleet.kit.refusals import Refusal, UnavailableRefusal, UpstreamRefusal

log = structlog.get_logger("shopfleet.clients")

RETRY_AFTER_S = 5
JSON_CONTENT = (b"content-type", b"application/json")
Model = TypeVar("Model", bound=BaseModel)


def plainly_unavailable(service: str, operation: str) -> str:
    return f"The {service} service is unavailable; retry shortly."


@dataclass(frozen=True)
class Wording:
    """How a caller words a called service's failure to its own client: each caller keeps
    the answers it gave before the calls moved here."""

    # (service, operation) -> the 503's detail.
    unavailable: Callable[[str, str], str] = plainly_unavailable
    slug: str | None = None  # the 503's slug; None: "<service>-unavailable"
    # An answer the contract does not foresee: a 502 ("upstream") or the same 503.
    bad_answer: Literal["upstream", "unavailable"] = "upstream"


class ServiceClient:
    """One called service; a subclass names it and has one method per contract call,
    each naming its `operation` (what the caller's `Wording` words)."""

    service: ClassVar[str]

    def __init__(
        self,
        invoker: Invoker,
        *,
        timeout_s: float,
        app_id: str | None = None,
        wording: Wording | None = None,
    ) -> None:
        self.invoker = invoker
        self.timeout_s = timeout_s
        self.app_id = app_id or self.service
        self.wording = wording or Wording()

    async def call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        body: BaseModel | None = None,
        headers: Sequence[tuple[bytes, bytes]] = (),
        query: str = "",
    ) -> InvokeResponse:
        """The service's answer, whatever its status; a refusal when it gave none."""
        sent = [JSON_CONTENT, *headers] if body is not None else list(headers)
        raw = body.model_dump_json().encode() if body is not None else b""
        try:
            return await self.invoker.invoke(
                self.app_id,
                method,
                path,
                body=raw,
                headers=sent,
                query=query,
                timeout_s=self.timeout_s,
            )
        except ServiceUnavailable as exc:
            log.warning(
                "service unavailable",
                service=self.app_id,
                path=path,
                reason=exc.reason,
                timed_out=exc.timed_out,
            )
            raise self.unavailable(operation) from None

    def parse(self, model: type[Model], response: InvokeResponse, operation: str) -> Model:
        """A 200's body as the contract's `model`; any other answer is a bad answer."""
        if response.status != 200:
            log.warning(
                "service answered an error",
                service=self.app_id,
                status=response.status,
                body=response.body[:300].decode("utf-8", "replace"),
            )
            answered = f"The {self.service} service answered {response.status}; retry shortly."
            raise self.bad_answer(operation, answered)
        try:
            return model.model_validate_json(response.body)
        except ValidationError as exc:
            log.warning("service answered nonsense", service=self.app_id, error=str(exc)[:300])
            answered = f"The {self.service} service answered something unexpected."
            raise self.bad_answer(operation, answered) from None

    def unavailable(self, operation: str) -> UnavailableRefusal:
        return UnavailableRefusal(
            self.wording.unavailable(self.service, operation),
            slug=self.wording.slug or f"{self.service}-unavailable",
            retry_after_s=RETRY_AFTER_S,
        )

    def bad_answer(self, operation: str, answered: str) -> Refusal:
        if self.wording.bad_answer == "unavailable":
            return self.unavailable(operation)
        return UpstreamRefusal(answered)


def problem_slug(response: InvokeResponse) -> str:
    """The slug of a problem+json answer (the last segment of its `type`); "" if none."""
    try:
        body = response.json()
    except orjson.JSONDecodeError:
        return ""
    kind = body.get("type", "") if isinstance(body, dict) else ""
    return str(kind).rsplit("/", 1)[-1]


def problem_detail(response: InvokeResponse) -> str:
    """The detail of a problem+json answer; "" if none."""
    try:
        body = response.json()
    except orjson.JSONDecodeError:
        return ""
    return str(body.get("detail", "")) if isinstance(body, dict) else ""
