from __future__ import annotations

from shopfleet.gateway.openapi import merge


def _doc(path: str, schema_name: str, schema: dict) -> dict:
    return {
        "paths": {
            path: {
                "get": {
                    "responses": {
                        "200": {
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": f"#/components/schemas/{schema_name}"}
                                }
                            }
                        }
                    }
                }
            }
        },
        "components": {"schemas": {schema_name: schema}},
    }


def test_merges_shop_paths_and_renames_clashing_schemas() -> None:
    merged = merge(
        {
            "identity": _doc(
                "/shops/{shop}/api/v1/users/me", "Item", {"type": "object", "title": "A"}
            ),
            "catalog": _doc(
                "/shops/{shop}/api/v1/products", "Item", {"type": "object", "title": "B"}
            ),
        }
    )
    assert set(merged["paths"]) == {
        "/shops/{shop}/api/v1/users/me",
        "/shops/{shop}/api/v1/products",
    }
    schemas = merged["components"]["schemas"]
    # services merge in name order: catalog keeps "Item", identity's differing one is renamed
    assert schemas["Item"]["title"] == "B"
    assert schemas["identity__Item"]["title"] == "A"
    me = merged["paths"]["/shops/{shop}/api/v1/users/me"]["get"]["responses"]["200"]
    assert (
        me["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/identity__Item"
    )
    assert merged["paths"]["/shops/{shop}/api/v1/products"]["get"]["tags"] == ["catalog"]


def test_platform_paths_are_left_out() -> None:
    merged = merge({"identity": _doc("/internal/tenants", "T", {"type": "object"})})
    assert merged["paths"] == {}


def test_each_operations_access_is_kept() -> None:
    doc = _doc("/shops/{shop}/api/v1/orders", "O", {"type": "object"})
    doc["paths"]["/shops/{shop}/api/v1/orders"]["get"]["x-shopfleet-access"] = "owner-or-admin"
    merged = merge({"orders": doc})
    operation = merged["paths"]["/shops/{shop}/api/v1/orders"]["get"]
    assert operation["x-shopfleet-access"] == "owner-or-admin"
