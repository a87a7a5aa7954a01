"""RFC 9457 problem+json for every error a service or the gateway answers with.

Each error has a stable `type` URI (`https://shopfleet.io/problems/<slug>`); 4xx errors say
what the caller should change. Validation errors list the offending fields (the first
MAX_LISTED_ERRORS, and how many more there are).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from shopfleet.kit.refusals import (
    FieldNamed,
    InvalidRefusal,
    Refusal,
    headers_of,
    status_of,
)

PROBLEM_BASE = "https://shopfleet.io/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"

log = structlog.get_logger("shopfleet.errors")

_DEFAULT_SLUGS = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    412: "precondition-failed",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
    428: "precondition-required",
    429: "rate-limited",
    500: "internal-error",
    502: "bad-gateway",
    503: "service-unavailable",
    504: "gateway-timeout",
}


class Problem(Exception):
    """An error answered as problem+json. Raise it from service code or routes."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug or _DEFAULT_SLUGS.get(status, "error")
        self.title = title or HTTPStatus(status).phrase
        self.headers = headers or {}
        self.extra = extra


class NotFound(Problem):
    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(404, detail, **extra)


class Conflict(Problem):
    def __init__(self, detail: str, *, slug: str = "conflict", **extra: Any) -> None:
        super().__init__(409, detail, slug=slug, **extra)


def field_problem(
    status: int,
    field: str,
    message: str,
    *,
    slug: str | None = None,
    detail: str | None = None,
    **extra: Any,
) -> Problem:
    """A problem naming the one request field to fix, shaped like validation errors."""
    return Problem(
        status,
        detail or f"Fix this field: {field}: {message}.",
        slug=slug,
        title="Your request has invalid fields" if status == 422 else None,
        errors=[{"field": field, "message": message, "type": "value_error"}],
        **extra,
    )


def problem_body(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    title: str | None = None,
    instance: str | None = None,
    **extra: Any,
) -> bytes:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + (slug or _DEFAULT_SLUGS.get(status, "error")),
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    return orjson.dumps(body)


def problem_response(
    status: int, detail: str, *, headers: dict[str, str] | None = None, **kwargs: Any
) -> Response:
    return Response(
        problem_body(status, detail, **kwargs),
        status_code=status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc)


def _validation_message(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    if kind == "json_invalid":
        return "the body is not valid JSON: " + str(err.get("ctx", {}).get("error", "parse error"))
    if kind == "extra_forbidden":
        return "unknown field; remove it"
    if kind == "missing":
        return "field required"
    return str(err.get("msg", "invalid value"))


# A 422 lists this many errors and counts the rest: its size must not grow with the body.
MAX_LISTED_ERRORS = 20


def validation_problem(errors: list[dict[str, Any]], instance: str | None = None) -> Response:
    fields = [
        {
            "field": _field_path(e.get("loc", ())),
            "message": _validation_message(e),
            "type": e.get("type"),
        }
        for e in errors[:MAX_LISTED_ERRORS]
    ]
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5]) or "invalid request"
    if len(errors) > 5:
        summary += f"; and {len(errors) - 5} more"
    unlisted: dict[str, Any] = (
        {"errors_not_listed": len(errors) - len(fields)} if len(errors) > len(fields) else {}
    )
    return problem_response(
        422,
        f"Fix these fields: {summary}",
        slug="validation-error",
        title="Your request has invalid fields",
        instance=instance,
        errors=fields,
        **unlisted,
    )


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return problem_response(
        exc.status,
        exc.detail,
        slug=exc.slug,
        title=exc.title,
        headers=exc.headers,
        instance=request.url.path,
        **exc.extra,
    )


def problem_for(refusal: Refusal) -> Problem:
    """The problem a refusal is answered with (its kind's status, its slug and extras)."""
    extra = dict(refusal.extra)
    title = refusal.title
    if isinstance(refusal, FieldNamed):
        extra["errors"] = [
            {"field": refusal.field, "message": refusal.message, "type": refusal.error_type}
        ]
    if isinstance(refusal, InvalidRefusal):
        title = "Your request has invalid fields"
    return Problem(
        status_of(refusal),
        refusal.detail,
        slug=refusal.slug,
        title=title,
        headers=headers_of(refusal),
        **extra,
    )


async def _on_refusal(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refusal)
    return await _on_problem(request, problem_for(exc))


async def _on_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return validation_problem(list(exc.errors()), instance=request.url.path)


async def _on_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"No route {request.method} {request.url.path}. See /docs for the API."
    if exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}."
    return problem_response(
        exc.status_code, detail, headers=dict(exc.headers or {}), instance=request.url.path
    )


# SQLSTATEs of a server refusing work: connection (08), insufficient resources (53: too many
# clients, out of memory, disk full), shutting down or starting up (57P01-57P03).
_UNAVAILABLE_STATES = ("08", "53", "57P01", "57P02", "57P03")


def _database_unavailable(exc: Exception) -> bool:
    """The database could not serve us now (down, out of connections, locked, pool full):
    the request did not happen and may be retried."""
    import sqlalchemy.exc as sa_exc  # here: errors.py stays importable without a database

    if isinstance(exc, sa_exc.TimeoutError | sa_exc.OperationalError | sa_exc.InterfaceError):
        return True
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    # asyncpg's refusals come wrapped in a plain DBAPIError (or bare, from the fast read
    # path): "too many clients already", "the database system is starting up", … Their
    # SQLSTATE says so.
    seen: Exception | BaseException | None = exc
    for _ in range(4):
        if seen is None:
            break
        state = getattr(seen, "sqlstate", None) or getattr(seen, "pgcode", None)
        if isinstance(state, str) and state.startswith(_UNAVAILABLE_STATES):
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    if _database_unavailable(exc):
        log.warning("database unavailable", path=request.url.path, error=str(exc)[:300])
        return problem_response(
            503,
            "The service cannot reach its database right now. Retry in a few seconds.",
            instance=request.url.path,
            headers={"Retry-After": "2"},
        )
    log.exception("unhandled error", path=request.url.path)
    return problem_response(
        500,
        "Something went wrong on our side; the request id in X-Request-ID helps us find it.",
        instance=request.url.path,
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error of `app` a problem+json response."""
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(Refusal, _on_refusal)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(Exception, _on_unexpected)
