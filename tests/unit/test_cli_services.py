"""The CLI's list of what it serves follows the service registry."""

from __future__ import annotations

from typer.testing import CliRunner

from shopfleet.cli import app
from shopfleet.cli.serve import Served
from shopfleet.services import SERVICES


def test_the_cli_serves_the_gateway_and_every_registered_service_in_order() -> None:
    assert [name.value for name in Served] == ["gateway", *SERVICES]


def test_a_name_that_is_no_service_is_a_usage_error_listing_them() -> None:
    result = CliRunner().invoke(app, ["migrate", "nope"], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    for name in ["gateway", *SERVICES]:
        assert f"'{name}'" in result.output
