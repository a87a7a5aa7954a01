"""What domain and use-case code raises when a rule refuses: no HTTP in it.

A refusal names its kind (the class), a stable slug and a detail that says what to do.
The kit answers each kind with one status (`STATUS`), in one place
(`errors.install_problem_handlers`), so `domain.py` and `service.py` never choose a status
code or a header. `Problem` stays for the HTTP edge (routes, the gateway, auth).
"""

from __future__ import annotations

from typing import Any, ClassVar

# Members every problem body has; a refusal's extras cannot replace them.
RESERVED_MEMBERS = frozenset({"type", "title", "status", "detail", "instance", "errors"})


class Refusal(Exception):
    """A request a rule refused; `extra` members go into the problem body as they are."""

    default_slug: ClassVar[str] = "refused"
    title: ClassVar[str | None] = None  # the problem's title; None: its status's phrase

    def __init__(self, detail: str, *, slug: str | None = None, **extra: Any) -> None:
        if clash := RESERVED_MEMBERS & extra.keys():
            raise ValueError(f"a problem's own members cannot be extras: {sorted(clash)}")
        super().__init__(detail)
        self.detail = detail
        self.slug = slug or self.default_slug
        self.extra = extra


class NotFoundRefusal(Refusal):
    """The thing named does not exist (for this caller)."""

    default_slug = "not-found"


class ForbiddenRefusal(Refusal):
    """The caller may not do this."""

    default_slug = "forbidden"


class StateRefusal(Refusal):
    """The thing is not in a state that allows this (a conflict with what is stored)."""

    default_slug = "conflict"


class FieldNamed:
    """Mixed into a refusal that names the request field to change: it is answered with an
    `errors` entry (`field`, `message`, `error_type`), as a validation error is."""

    field: str
    message: str
    error_type = "value_error"


class FieldConflict(StateRefusal, FieldNamed):
    """A value that conflicts with what is stored (a slug or SKU another has, on hand below
    what is reserved): a 409 whose `errors` entry names the field to change. `detail`
    defaults to the validation wording; `error_type` is that entry's type (shipping's and
    categories' answers say `value_error`, catalog's `conflict`: kept as they were)."""

    def __init__(
        self, field: str, message: str, *, detail: str | None = None, **extra: Any
    ) -> None:
        super().__init__(detail or f"Fix this field: {field}: {message}.", **extra)
        self.field = field
        self.message = message


class InvalidRefusal(Refusal, FieldNamed):
    """A value the schema accepted but a rule does not; `field` names what to fix."""

    default_slug = "validation-error"

    def __init__(self, field: str, message: str, **extra: Any) -> None:
        super().__init__(f"Fix this field: {field}: {message}.", **extra)
        self.field = field
        self.message = message


class WrongFieldRefusal(Refusal, FieldNamed):
    """A well-formed field that only the stored state shows to be wrong (a current password
    that is not, a cursor this API did not make): a 400 naming the field to fix."""

    default_slug = "bad-request"

    def __init__(self, field: str, message: str, **extra: Any) -> None:
        super().__init__(f"Fix this field: {field}: {message}.", **extra)
        self.field = field
        self.message = message


class UnauthenticatedRefusal(Refusal):
    """The credentials (a password, a refresh token) do not prove who the caller is."""

    default_slug = "unauthenticated"


class LimitRefusal(Refusal):
    """A limit of the shop or the shopper is reached; retry after `retry_after_s`."""

    default_slug = "limit-reached"

    def __init__(self, detail: str, *, retry_after_s: int, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.retry_after_s = retry_after_s


class UnavailableRefusal(Refusal):
    """A service we depend on cannot answer now; nothing changed, retry after a while
    (`retry_after_s` None: no Retry-After, when waiting alone will not help)."""

    default_slug = "service-unavailable"

    def __init__(self, detail: str, *, retry_after_s: int | None = 5, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.retry_after_s = retry_after_s


class UpstreamRefusal(Refusal):
    """A service we depend on answered something we cannot use."""

    default_slug = "bad-gateway"


class PreconditionRefusal(Refusal):
    """A condition the request set (If-Match) no longer holds: nothing changed; read again."""

    default_slug = "precondition-failed"


class DeclinedRefusal(Refusal):
    """A payment was declined (e.g. by the card's bank): nothing was charged; pay another way."""

    default_slug = "payment-declined"


# The one place a refusal becomes an HTTP status (the kinds do not derive from each other).
STATUS: dict[type[Refusal], int] = {
    WrongFieldRefusal: 400,
    UnauthenticatedRefusal: 401,
    NotFoundRefusal: 404,
    DeclinedRefusal: 402,
    ForbiddenRefusal: 403,
    StateRefusal: 409,
    PreconditionRefusal: 412,
    InvalidRefusal: 422,
    LimitRefusal: 429,
    UnavailableRefusal: 503,
    UpstreamRefusal: 502,
}


def status_of(refusal: Refusal) -> int:
    for kind, status in STATUS.items():
        if isinstance(refusal, kind):
            return status
    return 409


def headers_of(refusal: Refusal) -> dict[str, str]:
    if isinstance(refusal, UnauthenticatedRefusal):
        return {"WWW-Authenticate": 'Bearer realm="shopfleet"'}
    retry = getattr(refusal, "retry_after_s", None)
    return {"Retry-After": str(retry)} if retry is not None else {}
