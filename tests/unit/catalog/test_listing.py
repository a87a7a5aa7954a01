"""Listing cursors and the SQL the list path sends, on both dialects."""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, datetime

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from shopfleet.catalog.cursors import ListQuery, decode_cursor, encode_cursor
from shopfleet.catalog.listing import build_statement, params, shape_of
from shopfleet.catalog.schemas import Sort
from shopfleet.kit.errors import Problem

PID = "0b5e8a53-4f1c-4d3e-9a51-2f6f0c1d9e77"


@pytest.mark.parametrize(
    ("sort", "key"),
    [
        (Sort.PRICE, 1299),
        (Sort.PRICE_DESC, 0),
        (Sort.NAME, "blue mug ☕"),
        (Sort.NEWEST, datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)),
    ],
)
def test_a_cursor_round_trips(sort: Sort, key: object) -> None:
    query = ListQuery(sort=sort, q="Tea", min_price=100)
    cursor = encode_cursor(query, key, PID)
    assert "=" not in cursor and "/" not in cursor and "+" not in cursor
    assert decode_cursor(query, cursor) == (key, PID)
    # The same filters spelled differently (case, spaces in q) accept the cursor.
    assert decode_cursor(ListQuery(sort=sort, q=" tea ", min_price=100), cursor) == (key, PID)


def test_a_cursor_only_fits_its_sort_and_filters() -> None:
    query = ListQuery(sort=Sort.PRICE, category="mugs")
    cursor = encode_cursor(query, 5, PID)
    for other in (
        ListQuery(sort=Sort.PRICE_DESC, category="mugs"),
        ListQuery(sort=Sort.PRICE, category="cups"),
        ListQuery(sort=Sort.PRICE, category="mugs", in_stock=True),
        ListQuery(sort=Sort.PRICE, category="mugs", include_inactive=True),
    ):
        with pytest.raises(Problem) as caught:
            decode_cursor(other, cursor)
        assert caught.value.status == 400 and "another sort or filter" in caught.value.detail


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "x",
        "!!!",
        "bnVsbA",  # null
        encode_cursor(ListQuery(sort=Sort.PRICE), "cheap", PID),  # a price that is a string
        encode_cursor(ListQuery(sort=Sort.NEWEST), "yesterday", PID),
        encode_cursor(ListQuery(sort=Sort.NEWEST), "2025-01-01T00:00:00", PID),  # naive
        encode_cursor(ListQuery(sort=Sort.NAME), 5, PID),
        encode_cursor(ListQuery(sort=Sort.PRICE), 5, "' OR 1=1"),
        encode_cursor(ListQuery(sort=Sort.PRICE), 10**14, PID),  # beyond any price
        base64.urlsafe_b64encode(f'[1,"price","x",{10**20},"{PID}"]'.encode()).decode(),
        encode_cursor(ListQuery(sort=Sort.NAME), "n" * 201, PID),
    ],
)
def test_malformed_cursors_are_400(cursor: str) -> None:
    sort = Sort.NEWEST if "eWVzd" in cursor else Sort.PRICE
    for query in (ListQuery(sort=sort), ListQuery(sort=Sort.NEWEST), ListQuery(sort=Sort.NAME)):
        try:
            decode_cursor(query, cursor)
        except Problem as problem:
            assert problem.status == 400
        else:
            pytest.fail(f"{cursor!r} accepted for {query.sort}")


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.asyncpg.dialect()])
def test_the_list_query_binds_values_escapes_wildcards_and_walks_an_index(dialect: object) -> None:
    query = ListQuery(q=" 100%_OFF/ ", sort=Sort.PRICE, min_price=500, limit=20)
    query = dataclasses.replace(query, cursor=encode_cursor(query, 700, PID))
    sql = str(build_statement(shape_of(query)).compile(dialect=dialect))  # type: ignore[arg-type]
    assert "LIKE" in sql and "ESCAPE '/'" in sql and "100" not in sql  # values are parameters
    assert "ORDER BY products.price_amount, products.id" in sql
    assert "products.category_ids" in sql and "products.description" not in sql
    assert params("acme", query) == {
        "shop": "acme",
        "limit": 21,
        "q": "%100/%/_off//%",
        "min_price": 500,
        "after": 700,
        "after_id": PID,
    }


def test_one_statement_per_shape() -> None:
    one = shape_of(ListQuery(sort=Sort.NAME, min_price=5, category="mugs"))
    other = shape_of(ListQuery(sort=Sort.NAME, min_price=99_999, category="cups"))
    assert one == other and hash(one) == hash(other)
    assert shape_of(ListQuery(sort=Sort.NAME)) != one
    assert "WITH RECURSIVE" in str(build_statement(one).compile(dialect=postgresql.dialect()))
