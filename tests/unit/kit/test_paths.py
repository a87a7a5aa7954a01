"""`kit.paths.path_problem`: which request paths are canonical (issue 12, hole 1)."""

from __future__ import annotations

import pytest

from shopfleet.kit.paths import path_problem

CANONICAL = [
    "/",
    "/shops/demo/api/v1/products",
    "/shops/demo/api/v1/products/",
    "/shops/demo/api/v1/products/prd_01HZX",
    "/shops/demo/api/v1/products/a%20b",  # an encoded space is data
    "/shops/demo/api/v1/products/caf%C3%A9",  # UTF-8, encoded once
    "/shops/demo/api/v1/products/v1.2",  # a dot inside a segment is data
    "/.well-known/jwks.json",
]

NOT_CANONICAL = [
    "shops/demo",  # relative
    "/shops/demo/api/v1/products/../../internal",
    "/shops/demo/api/v1/./products",
    "/shops/demo/api/v1/products/..",
    "/shops/demo/api/v1/products/...",
    "/shops/demo/api/v1/products/%2e%2e/internal",
    "/shops/demo/api/v1/products/%2E./internal",
    "/shops/demo/api/v1/products/..%2finternal",
    "/shops/demo/api/v1/products/x%2Finternal",
    "/shops/demo/api/v1/products/x%5cinternal",
    "/shops/demo/api/v1/products/x\\internal",
    "/shops/demo/api/v1/products/%252e%252e",  # double encoding
    "/shops/demo/api/v1/products/%c0%ae%c0%ae",  # overlong UTF-8
    "/shops/demo/api/v1/products/..;/internal",
    "/shops/demo/api/v1/products/x;jsessionid=1",
    "/shops/demo/api/v1/products/x%00",
    "/shops/demo/api/v1/products/x%0d%0aSet-Cookie:1",
    "/shops/demo/api/v1/products/x%3Fa=1",
    "/shops/demo/api/v1/products/x%23f",
    "/shops/demo//api/v1/products",
    "/shops/demo/api/v1/products/caf\xc3\xa9",  # raw non-ASCII bytes
    "/shops/demo/api/v1/products/a b",
]


@pytest.mark.parametrize("path", CANONICAL)
def test_canonical_paths_pass(path: str) -> None:
    assert path_problem(path.encode("latin-1")) is None


@pytest.mark.parametrize("path", NOT_CANONICAL)
def test_everything_that_could_mean_another_path_is_refused(path: str) -> None:
    problem = path_problem(path.encode("latin-1"))
    assert problem is not None and problem  # a reason a client can act on
