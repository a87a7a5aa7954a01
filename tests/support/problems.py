"""Checks of problem+json error answers."""

from __future__ import annotations

from typing import Any

import httpx


def assert_problem(response: httpx.Response, status: int, *fields: str) -> dict[str, Any]:
    """A problem+json answer of `status` whose `errors` name each of `fields`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["detail"], body
    named = {error["field"] for error in body.get("errors", [])}
    for field in fields:
        assert field in named, f"{field} not named in {body}"
    return body
