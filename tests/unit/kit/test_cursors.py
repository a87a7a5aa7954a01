"""The newest-first listings' cursors (identity's users, orders, payments, shipments,
notifications): what a page hands out comes back as it went, and anything else is one
400 naming `query.cursor`, whichever listing it was sent to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shopfleet.kit.contracts.ids import USER_ID_PATTERN
from shopfleet.kit.contracts.orders import ORDER_ID_PATTERN
from shopfleet.kit.cursors import BadCursor, PageEnd, pack_cursor
from shopfleet.kit.errors import problem_for

NOW = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
USER = "0b5e8a53-4f1c-4d3e-9a51-2f6f0c1d9e77"


def test_a_page_end_comes_back_from_its_cursor() -> None:
    end = PageEnd(NOW, USER)
    cursor = end.cursor()
    assert "=" not in cursor and "/" not in cursor and "+" not in cursor  # URL-safe as is
    assert PageEnd.from_cursor(cursor, USER_ID_PATTERN) == end


def test_a_cursor_is_kept_in_utc_and_a_stored_naive_time_is_utc() -> None:
    local = datetime(2026, 3, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    back = PageEnd.from_cursor(PageEnd(local, "n1").cursor())
    assert back.at == local and back.at.utcoffset() == timedelta(0)
    naive = PageEnd.from_cursor(PageEnd(NOW.replace(tzinfo=None), "n1").cursor())
    assert naive.at == NOW


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        "bm90IGEgY3Vyc29y",  # not a cursor
        "W10",  # []
        pack_cursor(["2026-03-01T12:00:00+00:00"]),  # no id
        pack_cursor(["2026-03-01T12:00:00", "n1"]),  # no offset: not one of ours
        pack_cursor(["yesterday", "n1"]),
        pack_cursor([12, "n1"]),
        pack_cursor(["2026-03-01T12:00:00+00:00", 7]),  # the id is no string
        pack_cursor(["9999-12-31T23:59:59-12:00", "n1"]),  # beyond year 9999 in UTC
        pack_cursor(["0001-01-01T00:00:00+14:00", "n1"]),  # before year 1 in UTC
    ],
)
def test_anything_else_is_a_400_naming_the_cursor(cursor: str) -> None:
    with pytest.raises(BadCursor) as refused:
        PageEnd.from_cursor(cursor)
    problem = problem_for(refused.value)
    assert (problem.status, problem.slug) == (400, "bad-cursor")
    assert refused.value.field == "query.cursor"
    assert "next_cursor of the previous page" in refused.value.message


@pytest.mark.parametrize(
    ("last_id", "pattern"),
    [("../../etc", ORDER_ID_PATTERN), ("x\u0000", USER_ID_PATTERN), ("' OR 1=1", USER_ID_PATTERN)],
)
def test_an_id_the_listing_could_not_have_issued_is_refused(last_id: str, pattern: str) -> None:
    with pytest.raises(BadCursor):
        PageEnd.from_cursor(PageEnd(NOW, last_id).cursor(), pattern)
