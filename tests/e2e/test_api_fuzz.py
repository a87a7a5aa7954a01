"""No input makes the shop API answer 5xx, and every 4xx is an RFC 9457 problem.

A property-based test of every operation in the aggregated OpenAPI document that the
gateway serves at `/openapi.json`: operations are discovered from the document, so each
new service is fuzzed as soon as the gateway publishes its routes.

How: Schemathesis (on Hypothesis) turns each operation into requests that fit its schema
(positive) and requests that break it (negative: wrong types, missing and unknown fields,
bad path and query parameters). On top of those the test applies its own corruptions:
malformed JSON bytes, huge strings and numbers, deep nesting, unknown fields, wrong
content types, oversized bodies, garbage path and query values. Each request goes as one
of several callers: anonymous, with a token Schemathesis made up, with a broken token
(bad signature, forged claims, `alg: none`), as the seeded User, and as the demo Admin;
the `{shop}` parameter is mostly `demo` (so requests reach the services) and sometimes
garbage; real ids, emails, passwords and refresh tokens sometimes stand in for generated
ones, so that requests also get past "not found". Generation runs first, with fixed
seeds (every run sends the same requests); then the requests go through the embedded
platform's gateway in this event loop, each from another client address so that the
per-address rate limits and login throttling (429, a fine answer) do not mute the rest.

Every answer must be below 500, and every 4xx must be `application/problem+json` with
`type`, `title`, `status` (the answer's) and `detail`. All failures are collected and
reported at the end, each with the request that caused it and, for 500s, the
traceback the service logged.
"""

from __future__ import annotations

import base64
import json
import re
import time
import traceback
import zlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import requests
import schemathesis
import structlog
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from structlog.testing import capture_logs

from shopfleet.platform import EmbeddedPlatform

BASE_URL = "http://shopfleet.test"
SHOP = "demo"
EXAMPLES_PER_OPERATION = 80
PROBLEM_MEMBERS = ("type", "title", "status", "detail")
# Headers every request carries that say nothing about the failure.
BORING_HEADERS = {"user-agent", "accept", "accept-encoding", "connection", "content-length"}
SHOWN_PER_GROUP = 5
TEST_NETS = ("198.51.100", "203.0.113")  # client addresses (RFC 5737)
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}

FUZZ_SETTINGS = settings(
    derandomize=False,  # deterministic all the same: each run has a fixed @seed
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


# ----------------------------------------------------------------------------- requests


@dataclass
class Attempt:
    """One request to send, and how it was made."""

    operation: str  # "POST /shops/{shop}/api/v1/auth/login"
    mode: str  # positive / negative (Schemathesis)
    caller: str  # anonymous / generated / user / admin / bad token: ...
    mutation: str  # none / what the test changed on top
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)

    def set_header(self, name: str, value: str | None) -> None:
        """Replace the header (any spelling of its name); None removes it."""
        for key in [k for k in self.headers if k.lower() == name.lower()]:
            del self.headers[key]
        if value is not None:
            self.headers[name] = value

    def to_httpx(self) -> httpx.Request:
        raw = [
            (k.encode("utf-8", "surrogateescape"), v.encode("utf-8", "surrogateescape"))
            for k, v in self.headers.items()
            if k.lower() != "content-length"
        ]
        return httpx.Request(self.method, self.url, headers=raw, content=self.body)

    def describe(self) -> str:
        def shown(name: str, value: str) -> str:
            if name.lower() == "authorization" and self.caller in ("user", "admin"):
                return f"<{self.caller}'s access token>"
            return value if len(value) <= 120 else f"{value[:120]}...({len(value)} chars)"

        headers = {
            k: shown(k, v)
            for k, v in self.headers.items()
            if k.lower() not in BORING_HEADERS and not k.lower().startswith("x-schemathesis")
        }
        body = (
            self.body
            if len(self.body) <= 300
            else self.body[:300] + b"...(%d bytes)" % len(self.body)
        )
        return (
            f"{self.method} {self.url}\n"
            f"      [{self.mode}; caller {self.caller}; mutation {self.mutation}]\n"
            f"      headers {headers}\n"
            f"      body {body!r}"
        )


def _attempt_of(case: Any, operation: str, mode: str) -> Attempt:
    """The request Schemathesis would send for `case`, as plain method, URL, headers, bytes."""
    kwargs = case.as_transport_kwargs(base_url=BASE_URL)
    headers = {str(k): str(v) for k, v in kwargs.pop("headers", {}).items()}
    body = b""
    if "json" in kwargs:  # NaN and friends are fuzz input too: serialize without objection
        data = kwargs.pop("json")
        body = json.dumps(data, ensure_ascii=False, allow_nan=True).encode("utf-8", "surrogatepass")
    kwargs.pop("auth", None)
    # requests builds the URL (query included) and encodes form or multipart bodies.
    prepared = requests.Request(**kwargs).prepare()
    for key, value in prepared.headers.items():
        if key.lower() != "content-length":
            headers.setdefault(key, value)
    if prepared.body is not None:
        body = prepared.body if isinstance(prepared.body, bytes) else prepared.body.encode()
    return Attempt(
        operation, mode, "generated", "none", case.method.upper(), prepared.url, headers, body
    )


# ----------------------------------------------------------------------------- corruptions

JUNK_TEXT = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "..",
            "%00",
            "DEMO",
            "demo-",
            "-demo",
            "x" * 300,
            "\x00",
            "\u202e",
            "🛒",
            "null",
            "0",
            "-1",
            "1e999",
            "' OR 1=1 --",
            "<script>",
            "../../etc/passwd",
        ]
    ),
    st.text(max_size=40),
)
RAW_BODIES = st.one_of(
    st.sampled_from(
        [
            b"",
            b"{",
            b'{"a":',
            b"null",
            b"[]",
            b"{}",
            b"0",
            b"NaN",
            b"\xff\xfe\x00",
            b'{"email": "\xff\xfe"}',
            b'"\\ud800"',
            b"\x00" * 16,
            b"{" * 50,
        ]
    ),
    st.binary(max_size=64),
)
# Raw JSON values to put in a field: huge, overflowing, deep, odd escapes.
RAW_VALUES = [
    b'"' + b"x" * 100_000 + b'"',
    ('"' + "\u00e9" * 50_000 + '"').encode(),
    b"9" * 5_000,
    b"-" + b"9" * 400,
    b"1e999",
    b"-1e999",
    b"1.7976931348623157e309",
    b"[" * 5_000 + b"]" * 5_000,
    b"[" + b"1," * 10_000 + b"1]",
    b'"\\u0000"',
    b'"\\ud800"',
    b'"\\udfff\\ud800"',
    b"true",
    b"null",
    b"{}",
    b"-0",
]
DEEP_BODIES = [
    b"[" * 1_000 + b"]" * 1_000,
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
]
CONTENT_TYPES = [
    None,
    "",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "multipart/form-data; boundary=x",
    "application/json; charset=latin-1",
    "application/json; charset=utf-16",
    "application/jsonx",
    "application/problem+json",
    "application/xml",
    "*/*",
]
QUERY_JUNK = [
    "%",
    "%zz",
    "%ff%fe",
    "=",
    "&&&",
    "a=%00",
    "limit=1&limit=2",
    "limit=" + "9" * 5_000,
    "limit=-1",
    "limit=1.5",
    "role=Admin&role=User",
    "role=PlatformAdmin",
    "email=%E2%80",
    "email=%00",
    "cursor=" + "A" * 600,
    "cursor=%ff",
    "cursor=eyJ9",
]


def _body_json(attempt: Attempt) -> Any:
    try:
        return json.loads(attempt.body)
    except ValueError:
        return None


def _raw_body(data: st.DataObject, attempt: Attempt) -> None:
    attempt.body = data.draw(RAW_BODIES, label="raw body")
    if attempt.header("content-type") is None:
        attempt.set_header("Content-Type", "application/json")


def _odd_field(data: st.DataObject, attempt: Attempt) -> None:
    current = _body_json(attempt)
    fields = current if isinstance(current, dict) else {}
    name = data.draw(st.sampled_from(sorted(fields) or ["x"]), label="field")
    raw = data.draw(st.sampled_from(RAW_VALUES), label="value")
    placeholder = "\u0001fuzz-placeholder\u0001"
    document = json.dumps({**fields, name: placeholder}, ensure_ascii=False).encode()
    attempt.body = document.replace(json.dumps(placeholder).encode(), raw)
    attempt.set_header("Content-Type", "application/json")


def _unknown_field(data: st.DataObject, attempt: Attempt) -> None:
    current = _body_json(attempt)
    fields = current if isinstance(current, dict) else {}
    name = data.draw(
        st.sampled_from(["admin", "roles", "id", "__proto__", ""]) | st.text(max_size=8)
    )
    value = data.draw(st.sampled_from([True, ["Admin"], None, {"$gt": ""}, "x"]))
    attempt.body = json.dumps({**fields, name: value}).encode()
    attempt.set_header("Content-Type", "application/json")


def _deep_body(data: st.DataObject, attempt: Attempt) -> None:
    attempt.body = data.draw(st.sampled_from(DEEP_BODIES), label="deep body")
    attempt.set_header("Content-Type", "application/json")


def _content_type(data: st.DataObject, attempt: Attempt) -> None:
    attempt.set_header("Content-Type", data.draw(st.sampled_from(CONTENT_TYPES)))


def _query_junk(data: st.DataObject, attempt: Attempt) -> None:
    junk = data.draw(
        st.sampled_from(QUERY_JUNK) | JUNK_TEXT.map(lambda t: f"{quote(t)}={quote(t)}"),
        label="query",
    )
    attempt.url += ("&" if "?" in attempt.url else "?") + junk


def _other_method(declared: set[str]) -> Callable[[st.DataObject, Attempt], None]:
    """A method the path does not declare: 405 (a problem too). HEAD answers have no body."""
    others = sorted({"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"} - declared)

    def mutate(data: st.DataObject, attempt: Attempt) -> None:
        attempt.method = data.draw(st.sampled_from(others), label="method")

    return mutate


JUNK_HEADERS = {
    "traceparent": ["00-" + "0" * 32 + "-" + "0" * 16 + "-01", "ff-x-y-z", "00-" + "a" * 500],
    "x-request-id": ["", "a" * 500, "\u00e9", "a b", "../"],
    "x-forwarded-for": ["", "not-an-ip", "1.1.1.1, 2.2.2.2", "::1", "," * 100],
    "host": ["", "demo.localhost", "a" * 300, "[::1]:99999", "h\u00e9st"],
    "origin": ["null", "https://evil.example", "\u00e9"],
    "accept": ["application/xml", "*/*;q=x", ""],
    "cookie": ["a=" + "b" * 5_000, "=;=;", "session=\u00e9"],
}


def _header_junk(data: st.DataObject, attempt: Attempt) -> None:
    name = data.draw(st.sampled_from(sorted(JUNK_HEADERS)), label="header")
    value = data.draw(st.sampled_from(JUNK_HEADERS[name]) | JUNK_TEXT, label="value")
    attempt.set_header(name, value)


def _oversized(max_body: int) -> Callable[[st.DataObject, Attempt], None]:
    def mutate(data: st.DataObject, attempt: Attempt) -> None:
        attempt.body = b"[" + b"0," * (max_body // 2) + b"0]"
        attempt.set_header("Content-Type", "application/json")

    return mutate


# ----------------------------------------------------------------------------- callers


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def bad_tokens(admin_token: str) -> list[str]:
    """Authorization values that must all be refused with a 401 (or another 4xx)."""
    head, payload, signature = admin_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = _b64(json.dumps({**claims, "roles": ["PlatformAdmin"], "shop": None}).encode())
    flipped = signature[:-4] + ("AAAA" if not signature.endswith("AAAA") else "BBBB")
    none_alg = _b64(b'{"alg":"none","typ":"JWT"}')
    return [
        f"Bearer {head}.{payload}.{flipped}",
        f"Bearer {head}.{forged}.{signature}",
        f"Bearer {none_alg}.{payload}.",
        f"Bearer {head}.{payload}",
        f"Bearer {admin_token}.{admin_token}",
        "Bearer a.b.c",
        "Bearer " + "A" * 10_000,
        "Bearer",
        "Bearer  ",
        "bearer \u00e9\u00e9",
        f"Basic {_b64(b'admin:admin')}",
        f"Token {admin_token}",
        admin_token,
    ]


# ----------------------------------------------------------------------------- plan


@dataclass
class Context:
    """What the plan needs from the running platform."""

    callers: dict[str, str | None]  # caller name -> Authorization header (None: send none)
    bad_tokens: list[str]
    known: dict[str, list[Any]]  # body field or path parameter name -> real values
    max_body: int


def _use_known_values(data: st.DataObject, case: Any, known: dict[str, list[Any]]) -> None:
    """Put real values (ids, emails, passwords, tokens) where a generated one has the same
    name, so that requests also get past "not found" to the code behind it."""
    for name in case.path_parameters or {}:
        if name in known and data.draw(st.booleans(), label=f"known {name}"):
            value = data.draw(st.sampled_from(known[name]), label=name)
            case.path_parameters = {**case.path_parameters, name: value}
    if isinstance(case.body, dict):
        for name in list(case.body):
            if name in known and data.draw(st.booleans(), label=f"known {name}"):
                case.body = {**case.body, name: data.draw(st.sampled_from(known[name]))}


def _collect(
    op: Any, declared: set[str], context: Context, skipped: list[str], broken: list[str]
) -> list[Attempt]:
    """The requests for one operation: Hypothesis draws them, nothing is sent yet.

    Half are what Schemathesis made; the other half share the corruptions out. Each
    corruption is its own Hypothesis run (with its own fixed seed): within a run, every
    draw depends only on earlier draws, as Hypothesis requires.
    """
    path_names = [p.name for p in op.path_parameters]
    strategies = {
        (mode, in_demo): op.as_strategy(
            generation_mode=mode,
            path_parameters={"shop": SHOP} if in_demo and "shop" in path_names else None,
        )
        for mode in GenerationMode
        for in_demo in (True, False)
    }
    mutations: dict[str, Callable[[st.DataObject, Attempt], None]] = {
        "query": _query_junk,
        "header": _header_junk,
        "other method": _other_method(declared),
    }
    if op.body:
        mutations |= {
            "raw body": _raw_body,
            "odd field value": _odd_field,
            "unknown field": _unknown_field,
            "deep nesting": _deep_body,
            "content type": _content_type,
        }
    names = sorted(mutations) + (["path parameter"] if path_names else [])
    runs = {"none": EXAMPLES_PER_OPERATION // 2}
    runs |= {name: max(2, EXAMPLES_PER_OPERATION // 2 // len(names)) for name in names}
    if op.body:
        mutations["oversized body"] = _oversized(context.max_body)
        runs["oversized body"] = 1  # 10 MiB each
    caller_names = [*context.callers, "generated", "bad token"]
    attempts: list[Attempt] = []

    def run(mutation: str, examples: int) -> None:
        @seed(zlib.crc32(f"{op.label} {mutation}".encode()))
        @settings(FUZZ_SETTINGS, max_examples=examples)
        @given(data=st.data())
        def collect(data: st.DataObject) -> None:
            mode = data.draw(st.sampled_from(list(GenerationMode)), label="mode")
            # The shop is mostly demo, sometimes one made up by the schema or garbage.
            in_demo = data.draw(st.integers(0, 4), label="shop") != 4
            case = data.draw(strategies[(mode, in_demo)], label="case")
            if mode is GenerationMode.POSITIVE:
                _use_known_values(data, case, context.known)
            if mutation == "path parameter":
                name = data.draw(st.sampled_from(path_names), label="path parameter")
                case.path_parameters = {**case.path_parameters, name: data.draw(JUNK_TEXT)}
            bad_token = data.draw(st.sampled_from(context.bad_tokens), label="bad token")
            try:
                attempt = _attempt_of(case, op.label, mode.value)
            except Exception as exc:  # a request no client could send: not the API's fault
                skipped.append(f"{op.label}: {exc!r}")
                return
            if mutation in mutations:
                mutations[mutation](data, attempt)
            attempt.mutation = mutation
            # Callers take turns, so that each gets its share (no draw depends on the turn).
            attempt.caller = caller_names[len(attempts) % len(caller_names)]
            if attempt.caller == "bad token":
                attempt.set_header("Authorization", bad_token)
            elif attempt.caller != "generated":
                attempt.set_header("Authorization", context.callers[attempt.caller])
            attempts.append(attempt)

        try:
            collect()
        except Unsatisfiable as exc:  # keep what was drawn; say so in the summary
            skipped.append(f"{op.label} ({mutation}): {exc!r}")
        except Exception as exc:  # e.g. a schema Schemathesis cannot generate from
            broken.append(f"{op.label} ({mutation}): {exc!r}")

    for mutation, examples in runs.items():
        run(mutation, examples)
    return attempts


@dataclass
class Plan:
    attempts: list[Attempt]
    broken: list[str]  # operations Schemathesis could not read or generate from: failures
    skipped: list[str]  # drawn requests no HTTP client could send: a note


def plan(document: dict[str, Any], context: Context) -> Plan:
    """Every request of the run, generated deterministically from the OpenAPI document."""
    schema = schemathesis.openapi.from_dict(document, config=schemathesis.Config())
    result = Plan([], [], [])
    for loaded in schema.get_all_operations():
        if not hasattr(loaded, "ok"):
            result.broken.append(repr(loaded.err()))
            continue
        op = loaded.ok()
        declared = {m.upper() for m in document["paths"][op.path] if m in HTTP_METHODS}
        result.attempts += _collect(op, declared, context, result.skipped, result.broken)
    return result


# ----------------------------------------------------------------------------- checks


def violations(response: httpx.Response) -> list[str]:
    status = response.status_code
    if status >= 500:
        return [f"answered {status}"]
    if status < 400:
        return []
    found = []
    ctype = response.headers.get("content-type", "")
    if ctype.split(";")[0].strip().lower() != "application/problem+json":
        found.append(f"{status} with content-type {ctype!r} instead of application/problem+json")
    try:
        body = json.loads(response.content)
    except ValueError:
        return [*found, f"{status} whose body is not JSON"]
    if not isinstance(body, dict):
        return [*found, f"{status} whose body is not a JSON object"]
    missing = [m for m in PROBLEM_MEMBERS if m not in body]
    if missing:
        found.append(f"{status} problem without {', '.join(missing)}")
    elif body["status"] != status:
        found.append(f"{status} problem whose status member is {body['status']!r}")
    return found


@dataclass
class Failure:
    attempt: Attempt
    problem: str
    answer: str
    log: str = ""


def _tail(trace: str, lines: int = 24) -> str:
    """The end of a traceback: the frames nearest the error, and the error."""
    kept = trace.rstrip().splitlines()
    return "\n".join((["(...)"] if len(kept) > lines else []) + kept[-lines:])


def report(failures: list[Failure], sent: int, seconds: float) -> str:
    groups: dict[tuple[str, str], list[Failure]] = defaultdict(list)
    for failure in failures:
        kind = (
            re.sub(r"^\d{3}", "4xx", failure.problem)
            if failure.problem[0] == "4"
            else failure.problem
        )
        groups[(failure.attempt.operation, kind)].append(failure)
    lines = [f"{len(failures)} failures in {sent} requests ({seconds:.1f} s), {len(groups)} kinds:"]
    for (operation, kind), members in sorted(groups.items()):
        lines.append(f"\n== {operation}: {kind} ({len(members)}x)")
        for failure in members[:SHOWN_PER_GROUP]:
            lines.append(f"  - {failure.attempt.describe()}")
            lines.append(f"      -> {failure.answer}")
            if failure.log and failure is members[0]:
                lines.append("      " + failure.log.replace("\n", "\n      "))
        if len(members) > SHOWN_PER_GROUP:
            lines.append(f"  ... and {len(members) - SHOWN_PER_GROUP} more")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- the test


async def _send(app: Any, attempt: Attempt, address: str) -> httpx.Response:
    transport = httpx.ASGITransport(app, client=(address, 4000))
    response = await transport.handle_async_request(attempt.to_httpx())
    await response.aread()
    return response


async def _context(platform: EmbeddedPlatform, client: httpx.AsyncClient) -> Context:
    """Log the seeded User and the demo Admin in; gather real values for the generator."""
    assert platform.demo is not None
    api = f"/shops/{SHOP}/api/v1"
    accounts = {
        "user": (platform.demo.shopper_email, platform.demo.shopper_password),
        "admin": (platform.demo.admin_email, platform.demo.admin_password),
    }
    callers: dict[str, str | None] = {"anonymous": None}
    known: dict[str, list[Any]] = defaultdict(list)
    for who, (email, password) in accounts.items():
        pairs = []
        for _ in range(3):  # one pair to act with, two whose refresh tokens are fuzz input
            login = await client.post(
                f"{api}/auth/login", json={"email": email, "password": password}
            )
            assert login.status_code == 200, login.text
            pairs.append(login.json())
        callers[who] = f"Bearer {pairs[0]['access_token']}"
        me = await client.get(f"{api}/users/me", headers={"authorization": callers[who]})
        assert me.status_code == 200, me.text
        known["user_id"].append(me.json()["id"])
        known["email"].append(email)
        known["password"].append(password)
        known["current_password"].append(password)
        known["refresh_token"] += [pair["refresh_token"] for pair in pairs[1:]]
    known["roles"] = [["User"], ["Admin"], ["Admin", "User"], []]
    admin_token = str(callers["admin"]).removeprefix("Bearer ")
    return Context(
        callers, bad_tokens(admin_token), dict(known), platform.gateway_settings.max_body_bytes
    )


async def test_no_input_makes_the_api_answer_5xx_and_every_4xx_is_a_problem(
    platform: EmbeddedPlatform, client: httpx.AsyncClient
) -> None:
    assert platform.gateway is not None
    document = (await client.get("/openapi.json")).json()
    context = await _context(platform, client)
    labels = {
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }
    assert labels, "the gateway's OpenAPI document lists no operation"

    started = time.monotonic()
    planned = plan(document, context)
    failures = [
        Failure(
            Attempt("(document)", "-", "-", "-", "-", "-"), "no requests from Schemathesis", error
        )
        for error in planned.broken
    ]
    failures += [
        Failure(Attempt(label, "-", "-", "-", "-", "-"), "no request could be generated", "-")
        for label in sorted(labels - {a.operation for a in planned.attempts})
    ]
    # The services' logs, captured: the traceback of a 500 goes into the report (and the
    # console renderer, which takes seconds per traceback, stays out of the way).
    with capture_logs(processors=[structlog.processors.format_exc_info]) as logs:
        for index, attempt in enumerate(planned.attempts):
            logs.clear()
            address = f"{TEST_NETS[index // 250 % 2]}.{index % 250 + 1}"
            try:
                response = await _send(platform.gateway, attempt, address)
            except Exception as exc:
                trace = "".join(traceback.format_exception(exc))
                failures.append(Failure(attempt, "the gateway raised", repr(exc), _tail(trace)))
                continue
            found = violations(response)
            if found:
                answer = f"{response.status_code} {response.headers.get('content-type')!r} "
                answer += repr(response.content[:300])
                logged = [entry["exception"] for entry in logs if "exception" in entry]
                log = _tail(logged[-1]) if response.status_code >= 500 and logged else ""
                failures.extend(Failure(attempt, problem, answer, log) for problem in found)
    seconds = time.monotonic() - started
    print(
        f"api fuzz: {len(planned.attempts)} requests to {len(labels)} operations "
        f"in {seconds:.1f} s; {len(planned.skipped)} drawn requests could not be sent"
    )
    assert not failures, report(failures, len(planned.attempts), seconds)
