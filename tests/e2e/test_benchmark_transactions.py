"""`benchmarks.transactions` for real: `shopfleet up` started through its tracing `serve`
subcommand, two complete checkouts, their write transactions counted by origin.

It once could not start the platform at all (it imported an entry point the cli package no
longer had) and nothing noticed: this runs it end to end. No figure is asserted but what
every checkout must do: place and open an order, take the payment's webhook in orders'
inbox, publish and deliver events.
"""

from __future__ import annotations

import argparse

from benchmarks.transactions import measure


async def test_two_checkouts_are_counted_by_origin() -> None:
    # Shipments move the orders along for minutes, so the counts never stop moving: a short
    # wait for them keeps the run short (the figures are not judged here).
    args = argparse.Namespace(checkouts=2, shoppers=1, poll_s=0.1, settle_limit_s=3.0)
    per_checkout = await measure(args)

    assert per_checkout["request orders+events"] >= 1  # the order opened with its events
    assert per_checkout["inbox orders+events"] >= 1  # payment succeeded → order paid
    pubsub = [origin for origin in per_checkout if origin.startswith("pubsub ")]
    # A publish may also claim rows for idle handlers and settle earlier answers.
    assert any("publish" in origin for origin in pubsub)
    assert any("claim" in origin for origin in pubsub)
    assert all(n > 0 for n in per_checkout.values())
