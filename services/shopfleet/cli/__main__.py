"""`python -m shopfleet.cli ...`: the same commands as the `shopfleet` script."""

from shopfleet.cli import app

app()
