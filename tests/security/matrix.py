"""The authorization matrix's parts: who calls, what shopper A owns, the request made for
each operation of the aggregated OpenAPI, and what each caller must get.

Nothing here names a route: operations come from the gateway's `/openapi.json`, what each
allows from its `x-shopfleet-access` (published by the kit from the route's dependencies),
path ids from A's world by parameter name, request bodies from the operation's schema.
A new route is covered as soon as the gateway publishes it; one whose access or path
parameter the matrix cannot tell fails with a message saying what to declare.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx

HTTP_METHODS = ("get", "put", "post", "delete", "patch")
ACCESS_EXTENSION = "x-shopfleet-access"


class Access(StrEnum):
    """Who may call an operation, as the API document says (read, not imported: the matrix
    checks what the platform publishes)."""

    PUBLIC = "public"
    USER = "user"  # a signed-in user, on their own objects
    OWNER_OR_ADMIN = "owner-or-admin"  # ... and an Admin on anyone's
    ADMIN = "admin"
    PLATFORM = "platform"


PASSWORD = "a long matrix password"
# A 1×1 PNG: the smallest image catalog accepts.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)

# Shopper A's objects: path parameters and body/query fields that name one of them.
PRIVATE_IDS = {
    "user_id": "user",
    "user": "user",
    "address_id": "address",
    "shipping_address_id": "address",
    "order_id": "order",
    "payment_id": "payment",
    "shipment_id": "shipment",
    "notification_id": "notification",
}
# The shop's objects (made by its admin for the matrix): anyone may name them.
SHOP_IDS = {
    "product_id": "product",
    "image_id": "image",
    "category_id": "category",
    "method_id": "method",
    "shipping_method": "method",
}


@dataclass(frozen=True)
class Caller:
    name: str
    headers: dict[str, str]
    other_shop: bool = False


@dataclass
class World:
    """What the matrix acts on: A's objects, the shop's, and every caller's credentials."""

    ids: dict[str, str]  # object kind (user, order, product, ...) -> its id
    secrets: dict[str, str]  # what of A's only A (and an Admin acting for A) may see
    credentials: dict[str, str]  # what of A's only A may see, not even an Admin
    callers: dict[str, Caller]
    login: dict[str, str]  # a throwaway account's credentials (login bodies)
    refresh_token: str  # the throwaway account's (refresh and logout bodies)


@dataclass
class Operation:
    method: str
    path: str  # /shops/{shop}/api/v1/...
    spec: dict[str, Any]

    @property
    def key(self) -> str:
        return f"{self.method.upper()} {self.path}"

    @property
    def access(self) -> Access | None:
        value = self.spec.get(ACCESS_EXTENSION)
        return Access(value) if value in set(Access) else None


def operations(document: dict[str, Any]) -> list[Operation]:
    return [
        Operation(method, path, spec)
        for path, item in document["paths"].items()
        for method, spec in item.items()
        if method in HTTP_METHODS
    ]


def run_order(operation: Operation) -> tuple[int, int]:
    """Reads first, then writes, then deletes (deepest first: an image before its product),
    and last what changes A's account (its roles may end A's sessions)."""
    rank = {"get": 0, "delete": 2}.get(operation.method, 1)
    if "{user_id}" in operation.path:
        rank = 3
    return rank, -operation.path.count("/") if rank == 2 else 0


# ----------------------------------------------------------------------------- requests


@dataclass
class Call:
    method: str
    url: str
    query: dict[str, str] = field(default_factory=dict)
    json: Any = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    named: set[str] = field(default_factory=set)  # A's objects the request names ...
    named_in: set[str] = field(default_factory=set)  # ... in its path, query and/or body

    def text(self) -> str:
        return f"{self.url} {self.query} {self.json}"


class Undeclared(Exception):
    """The matrix cannot make this operation's request: the message says what to add."""


class Builder:
    """Makes the request of an operation from its OpenAPI description and A's world."""

    def __init__(self, document: dict[str, Any], world: World, shop: str) -> None:
        self.schemas = document.get("components", {}).get("schemas", {})
        self.world = world
        self.shop = shop

    def call(self, operation: Operation) -> Call:
        call = Call(operation.method.upper(), operation.path.replace("{shop}", self.shop))
        for parameter in operation.spec.get("parameters", []):
            name, where = parameter["name"], parameter["in"]
            if where == "path" and name != "shop":
                value, private = self._id(name)
                if value is None:
                    raise Undeclared(
                        f"{operation.key}: the matrix has no object for path parameter "
                        f"'{name}'; add its kind to PRIVATE_IDS or SHOP_IDS in "
                        "tests/security/matrix.py and make one in the world"
                    )
                call.url = call.url.replace("{" + name + "}", value)
                if private:
                    call.named.add(value)
                    call.named_in.add("path")
            elif where == "query":
                value, private = self._id(name)
                if private and value is not None:  # e.g. ?user=<A>: what does B see?
                    call.query[name] = value
                    call.named.add(value)
                    call.named_in.add("query")
                elif parameter.get("required"):
                    call.query[name] = str(self.value(name, parameter.get("schema", {})))
            elif where == "header" and parameter.get("required"):
                raise Undeclared(f"{operation.key}: add a value for required header '{name}'")
        body = operation.spec.get("requestBody")
        if body is not None:
            content = body.get("content", {})
            if "application/json" in content:
                call.json = self.value("body", content["application/json"].get("schema", {}))
                if named := {v for v in self._private_values() if v in str(call.json)}:
                    call.named |= named
                    call.named_in.add("body")
            elif "multipart/form-data" in content:
                call.files = {"file": ("matrix.png", PNG, "image/png")}
            else:
                raise Undeclared(f"{operation.key}: the matrix cannot make a {list(content)} body")
        if operation.key in BODIES:
            call.json = BODIES[operation.key](self.world)
        return call

    def _private_values(self) -> set[str]:
        return {self.world.ids[kind] for kind in set(PRIVATE_IDS.values())}

    def _id(self, name: str) -> tuple[str | None, bool]:
        if name in PRIVATE_IDS:
            return self.world.ids.get(PRIVATE_IDS[name]), True
        if name in SHOP_IDS:
            return self.world.ids.get(SHOP_IDS[name]), False
        return None, False

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.schemas[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    def value(self, name: str, schema: dict[str, Any]) -> Any:
        """A valid value of `schema` for the field `name`: the least a request needs."""
        value, _ = self._id(name)
        if value is not None:
            return value
        if name in FIELD_VALUES:
            return FIELD_VALUES[name](self.world)
        schema = self._resolve(schema)
        for choice in ("anyOf", "oneOf"):
            if choice in schema:
                options = [o for o in schema[choice] if self._resolve(o).get("type") != "null"]
                return self.value(name, options[0])
        if "allOf" in schema:
            return self.value(name, schema["allOf"][0])
        if "examples" in schema:
            return schema["examples"][0]
        if "enum" in schema:
            return schema["enum"][0]
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            required = set(schema.get("required", []))
            return {
                key: self.value(key, sub)
                for key, sub in schema.get("properties", {}).items()
                if key in required or key in PRIVATE_IDS
            }
        if kind == "array":
            return [self.value(name, schema.get("items", {}))] * max(1, schema.get("minItems", 1))
        if kind in ("integer", "number"):
            return max(int(schema.get("minimum", 1)), 1)
        if kind == "boolean":
            return False
        if kind == "string":
            if schema.get("format") == "email":
                return f"matrix-{uuid.uuid4().hex[:10]}@example.com"
            if "pattern" in schema:
                raise Undeclared(
                    f"field '{name}' has a pattern ({schema['pattern']}) and no example: "
                    "give it `examples` in its model, or a value in FIELD_VALUES"
                )
            return "m" * max(schema.get("minLength", 1), 8)
        raise Undeclared(f"field '{name}': the matrix cannot make a value of {schema}")


# Fields whose valid value a schema cannot tell (or that must not change A's account).
FIELD_VALUES: dict[str, Callable[[World], Any]] = {
    "password": lambda _: PASSWORD,
    "refresh_token": lambda world: world.refresh_token,
    "roles": lambda _: ["User"],
    "payment_method": lambda _: "pm_card_visa",
    "country": lambda _: "DE",
    "quantity": lambda _: 1,
}


# Operations whose valid body a schema cannot tell.
BODIES: dict[str, Callable[[World], Any]] = {
    # A real account's: wrong passwords would pile up in the per-address login throttle.
    "POST /shops/{shop}/api/v1/auth/login": lambda world: dict(world.login),
}


# ----------------------------------------------------------------------------- expectations


def verdict(
    access: Access, caller: Caller, call: Call, answer: httpx.Response, world: World
) -> str | None:
    """What is wrong with `answer` for `caller`, or None."""
    status = answer.status_code
    if status >= 500:
        return f"a {status}"
    owner = caller.name == "shopper A"
    admin = caller.name == "shop admin"
    acts_for_a = owner or (admin and access in (Access.OWNER_OR_ADMIN, Access.ADMIN))
    hidden = {} if owner else world.credentials
    if not acts_for_a:
        hidden = world.secrets | hidden
    leaked = [
        label
        for label, secret in hidden.items()
        if secret not in call.text() and secret in answer.text
    ]
    if leaked:
        return f"A's {', '.join(leaked)} in the answer"
    if caller.other_shop:
        return None if status == 404 else f"{status}, not 404 (another shop's credential)"
    if access is Access.PUBLIC:
        if status == 403:
            return "403 on a public operation"
    elif caller.name == "anonymous":
        return None if status == 401 else f"{status}, not 401 (no credential)"
    elif access is Access.ADMIN and not admin:
        return None if status == 403 else f"{status}, not 403 (not an Admin)"
    if acts_for_a or not call.named:
        if access is not Access.PUBLIC and status in (401, 403, 404):
            return f"{status}: refused what it may do"
        return None
    # Someone else names A's objects: nothing of them exists for them.
    if "path" in call.named_in:
        return None if status == 404 else f"{status}, not 404 (A's object by someone else)"
    if "body" in call.named_in:
        return None if 400 <= status < 500 else f"{status}, not 4xx (A's object in the body)"
    return None  # A's ids in the query only filter: the leak check above is what counts


# ----------------------------------------------------------------------------- the world


async def eventually(probe: Callable[[], Awaitable[Any]], timeout_s: float = 60.0) -> Any:
    """Poll `probe` until it returns something (events cross services asynchronously)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while (value := await probe()) is None:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"nothing came in {timeout_s} s")
        await asyncio.sleep(0.1)
    return value


class Api:
    """A client of one shop that asserts each setup step worked."""

    def __init__(self, http: httpx.AsyncClient, shop: str) -> None:
        self.http, self.base = http, f"/shops/{shop}/api/v1"

    async def __call__(
        self,
        method: str,
        path: str,
        who: dict[str, str] | None = None,
        expect: int = 200,
        **kw: Any,
    ) -> Any:
        answer = await self.http.request(method, self.base + path, headers=who or {}, **kw)
        assert answer.status_code == expect, f"setup: {method} {path}: {answer.text}"
        return answer.json() if answer.content else None

    async def sign_up(self, email: str, name: str = "Matrix") -> tuple[dict[str, str], dict]:
        body = {"email": email, "password": PASSWORD, "display_name": name}
        await self("POST", "/auth/register", json=body, expect=201)
        return await self.sign_in(email, PASSWORD)

    async def sign_in(self, email: str, password: str) -> tuple[dict[str, str], dict]:
        tokens = await self("POST", "/auth/login", json={"email": email, "password": password})
        return {"authorization": f"Bearer {tokens['access_token']}"}, tokens


def _email(who: str) -> str:
    return f"{who}-{uuid.uuid4().hex[:10]}@example.com"


async def other_shop(
    http: httpx.AsyncClient, platform_token: str, slug: str
) -> tuple[Caller, Caller]:
    """A second shop with its admin and a shopper: credentials that must find nothing here."""
    platform = {"authorization": f"Bearer {platform_token}"}
    admin_email, admin_password = _email("other-admin"), "other admin password"
    created = await http.post(
        "/internal/tenants",
        headers=platform,
        json={
            "shop": slug,
            "display_name": "Other",
            "currency": "USD",
            "admin_email": admin_email,
            "admin_password": admin_password,
        },
    )
    assert created.status_code == 201, created.text
    routed = await http.put(f"/internal/routes/{slug}", headers=platform, json={"hosts": []})
    assert routed.status_code == 200, routed.text
    api = Api(http, slug)
    admin, _ = await api.sign_in(admin_email, admin_password)
    shopper, _ = await api.sign_up(_email("other-shopper"))
    return (
        Caller("admin of another shop", admin, other_shop=True),
        Caller("token of another shop", shopper, other_shop=True),
    )


async def build_world(
    http: httpx.AsyncClient, shop: str, admin_email: str, admin_password: str, platform_token: str
) -> World:
    """A's cart lines, address, paid order, payment, shipment and notification; the shop's
    product (with an image, in a category) and shipping method; B, the admin, another shop."""
    api = Api(http, shop)
    tag = uuid.uuid4().hex[:8]
    admin, _ = await api.sign_in(admin_email, admin_password)
    a_email, a_name = _email("shopper-a"), f"Ada Matrix {tag}"
    a, _ = await api.sign_up(a_email, a_name)
    b, _ = await api.sign_up(_email("shopper-b"), "Bob")
    c_email = _email("shopper-c")
    _, c_tokens = await api.sign_up(c_email, "Cy")
    a_id = (await api("GET", "/users/me", a))["id"]

    category = await api("POST", "/categories", admin, json={"name": f"Matrix {tag}"}, expect=201)
    product_body = {
        "name": f"Matrix mug {tag}",
        "sku": f"MX-{tag}",
        "price": {"amount": 1250},
        "category_ids": [category["id"]],
        "on_hand": 50,
        "weight_grams": 300,
    }

    async def create_product() -> Any:  # 422 until catalog has heard of the category
        answer = await http.post(f"{api.base}/products", headers=admin, json=product_body)
        assert answer.status_code in (201, 422), answer.text
        return answer.json() if answer.status_code == 201 else None

    product = await eventually(create_product)
    image = await api(
        "POST",
        f"/products/{product['id']}/images",
        admin,
        expect=201,
        files={"file": ("mug.png", PNG, "image/png")},
    )
    method = await api(
        "POST",
        "/shipping/methods",
        admin,
        expect=201,
        json={
            "id": f"matrix-{tag}",
            "name": "Matrix post",
            "carrier": "Matrix",
            "base_amount": 490,
        },
    )

    line1 = f"Matrixstrasse {tag}"
    address = await api(
        "POST",
        "/shipping/addresses",
        a,
        expect=201,
        json={
            "name": a_name,
            "line1": line1,
            "city": "Berlin",
            "postal_code": "10117",
            "country": "DE",
        },
    )
    await api("POST", "/cart/items", a, json={"product_id": product["id"], "quantity": 2})
    order = await api(
        "POST",
        "/orders",
        a,
        expect=201,
        json={
            "shipping_method": method["id"],
            "shipping_address_id": address["id"],
        },
    )
    pay = {"order_id": order["id"], "payment_method": "pm_card_visa"}
    payment = await api("POST", "/payments/intents", a, expect=201, json=pay)
    await api("POST", f"/payments/{payment['id']}/confirm", a)

    async def first(path: str) -> Any:
        items = (await api("GET", path, a))["items"]
        return items[0] if items else None

    shipment = await eventually(lambda: first("/shipments"))
    notification = await eventually(lambda: first("/notifications"))
    await api("POST", "/cart/items", a, json={"product_id": product["id"], "quantity": 1})

    other_admin, other_shopper = await other_shop(http, platform_token, f"matrix-{tag}")
    ids = {
        "user": a_id,
        "address": address["id"],
        "order": order["id"],
        "payment": payment["id"],
        "shipment": shipment["id"],
        "notification": notification["id"],
        "product": product["id"],
        "image": image["id"],
        "category": category["id"],
        "method": method["id"],
    }
    secrets = {
        "user id": a_id,
        "email": a_email,
        "name": a_name,
        "street": line1,
        "address id": address["id"],
        "order id": order["id"],
        "payment id": payment["id"],
        "shipment id": shipment["id"],
        "notification id": notification["id"],
    }
    # Stripe: the client secret completes the payment; "only to the customer".
    credentials = {"payment's client secret": payment["client_secret"]}
    callers = [
        Caller("anonymous", {}),
        other_admin,
        other_shopper,
        Caller("shopper B", b),
        Caller("shop admin", admin),
        Caller("shopper A", a),
    ]
    return World(
        ids=ids,
        secrets=secrets,
        credentials=credentials,
        callers={caller.name: caller for caller in callers},
        login={"email": c_email, "password": PASSWORD},
        refresh_token=c_tokens["refresh_token"],
    )
