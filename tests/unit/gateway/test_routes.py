from __future__ import annotations

from pathlib import Path

import pytest

from shopfleet.gateway.routes import RouteFile, parse_route_table
from shopfleet.kit.contracts.routes import Route, RouteTableDoc


def test_lookup_by_slug_and_by_host_is_case_insensitive() -> None:
    table = parse_route_table(b'{"shops": {"acme": {"hosts": ["Shop.Acme.test"]}}}')
    assert table.shop("acme") is not None
    assert table.shop_for_host("shop.acme.test") == "acme"
    assert table.shop("nope") is None


@pytest.mark.parametrize(
    "raw",
    [
        b'{"shops": {"Bad_Slug": {}}}',
        b'{"shops": {"acme": {"hosts": ["not a host"]}}}',
        b'{"shops": {"acme": {"tier": "gold"}}}',
        b'{"shops": {"acme": {"unknown": 1}}}',
        b"not json",
    ],
)
def test_a_broken_table_is_rejected(raw: bytes) -> None:
    with pytest.raises(ValueError):
        parse_route_table(raw)


def test_dedicated_shops_address_services_in_their_namespace() -> None:
    assert Route(tier="dedicated", namespace="shop-acme").app_id("identity") == "identity.shop-acme"
    assert Route().app_id("identity") == "identity"


def test_file_reload_keeps_the_last_good_table(tmp_path: Path) -> None:
    routes = RouteFile(tmp_path / "routes.json")
    routes.put("acme", Route(hosts=["acme.test"]))
    assert routes.table.shop_for_host("acme.test") == "acme"
    (tmp_path / "routes.json").write_text("{broken")
    assert routes.load() is False
    assert routes.table.shop("acme") is not None  # still serving the previous table
    routes.save(RouteTableDoc(shops={"beta": Route()}))
    assert routes.table.shop("beta") is not None and routes.table.shop("acme") is None
    assert routes.remove("beta") is True and routes.remove("beta") is False
