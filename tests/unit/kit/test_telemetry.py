from __future__ import annotations

from shopfleet.kit.telemetry import trace_ids


def test_a_valid_traceparent_is_continued() -> None:
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert trace_ids(parent) == ("0af7651916cd43dd8448eb211c80319c", parent)


def test_a_missing_or_malformed_traceparent_starts_a_trace() -> None:
    for given in (None, "garbage", "00-XYZ-b7ad6b7169203331-01"):
        trace_id, parent = trace_ids(given)
        assert len(trace_id) == 32
        assert parent.startswith(f"00-{trace_id}-") and parent.endswith("-01")
