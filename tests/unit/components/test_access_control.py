"""The platform's accessControl as the sidecar double applies it (Dapr's documented rules):
what each caller was granted passes, everything else is denied."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from shopfleet.devtools.sidecar_double.access import AccessControl

CONFIGURATION = Path(__file__).resolve().parents[3] / "components" / "configuration.yaml"


@pytest.fixture(scope="module")
def acl() -> AccessControl:
    return AccessControl.from_configuration(CONFIGURATION)


@pytest.mark.parametrize(
    ("caller", "verb", "path"),
    [
        ("gateway", "GET", "/shops/demo/api/v1/products"),
        ("gateway", "POST", "/shops/demo/api/v1/orders/ord_1/cancel"),
        ("gateway", "GET", "/.well-known/jwks.json"),
        ("gateway", "POST", "/internal/tenants"),
        ("orders", "GET", "/internal/shops/demo/carts/u1"),
        ("orders", "PUT", "/internal/shops/demo/reservations/ord_1"),
        ("orders", "POST", "/internal/shops/demo/reservations/ord_1/commit"),
        ("payments", "GET", "/internal/shops/demo/orders/ord_1"),
        ("catalog", "GET", "/internal/shops/demo/settings"),
    ],
)
def test_granted_calls_pass(acl: AccessControl, caller: str, verb: str, path: str) -> None:
    assert acl.allows(caller, "default", verb, path)


@pytest.mark.parametrize(
    ("caller", "namespace", "verb", "path"),
    [
        ("gateway", "default", "GET", "/internal/shops/demo/carts/u1"),
        ("gateway", "default", "POST", "/dapr/events/orders/payment.succeeded"),
        ("gateway", "default", "GET", "/dapr/subscribe"),
        ("orders", "default", "GET", "/shops/demo/api/v1/products"),  # not a shopper
        ("orders", "default", "POST", "/internal/shops/demo/carts/u1"),  # wrong verb
        ("payments", "default", "GET", "/internal/shops/demo/carts/u1"),
        ("notifications", "default", "GET", "/internal/shops/demo/orders/ord_1"),
        ("stranger", "default", "GET", "/.well-known/jwks.json"),  # no policy: deny
        ("gateway", "shop-other", "GET", "/shops/demo/api/v1/products"),  # wrong namespace
        (
            "orders",
            "default",
            "GET",
            "/internal/shops/demo/carts/u1/extra",
        ),  # one '*' = one segment
    ],
)
def test_everything_else_is_denied(
    acl: AccessControl, caller: str, namespace: str, verb: str, path: str
) -> None:
    assert not acl.allows(caller, namespace, verb, path)


def test_the_doubles_of_shopfleet_dev_apply_the_platforms_configuration() -> None:
    """`shopfleet dev` makes the Configuration its doubles read (an installed package has no
    components/): what the double applies of it is components/configuration.yaml's."""
    from shopfleet.dev.plan import sidecar_configuration

    platform = yaml.safe_load(CONFIGURATION.read_text())["spec"]
    dev = sidecar_configuration()["spec"]
    assert dev["accessControl"] == platform["accessControl"]
    assert dev["secrets"] == platform["secrets"]
