"""Notifications' pure decisions: a delivery after an attempt, whose list a reader may see,
and the list's cursors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shopfleet.kit.refusals import status_of
from shopfleet.notifications.domain.listing import (
    NotificationNotFound,
    OthersNotificationsForbidden,
    whose,
)
from shopfleet.notifications.domain.retries import (
    MAX_ERROR,
    DeliveryStatus,
    Failure,
    RetryPolicy,
    after_attempt,
)

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=3, backoff_s=30, max_backoff_s=3600)


def test_a_sent_delivery_is_delivered_and_keeps_its_last_error() -> None:
    done = after_attempt(1, None, POLICY, now=NOW)
    assert done.status is DeliveryStatus.DELIVERED and done.attempts == 2
    assert done.delivered_at == done.last_attempt_at == NOW
    assert done.next_attempt_at is None and done.retry_in_s is None
    assert done.last_error is None  # None: the store keeps the earlier failure's


def test_a_temporary_failure_is_retried_after_a_doubling_back_off() -> None:
    first = after_attempt(0, Failure("421 busy"), POLICY, now=NOW)
    assert first.status is DeliveryStatus.PENDING and first.attempts == 1
    assert first.next_attempt_at == NOW + timedelta(seconds=30) and first.retry_in_s == 30
    assert first.last_error == "421 busy" and first.delivered_at is None
    second = after_attempt(1, Failure("421 busy"), POLICY, now=NOW)
    assert second.retry_in_s == 60


def test_the_last_attempt_or_a_permanent_failure_gives_up() -> None:
    last = after_attempt(2, Failure("timeout"), POLICY, now=NOW)
    assert last.status is DeliveryStatus.FAILED and last.attempts == 3
    assert last.next_attempt_at is None and last.last_error == "timeout"
    refused = after_attempt(0, Failure("550 no such user", permanent=True), POLICY, now=NOW)
    assert refused.status is DeliveryStatus.FAILED and refused.attempts == 1


def test_a_long_error_is_cut_to_what_the_row_keeps() -> None:
    attempted = after_attempt(0, Failure("x" * (MAX_ERROR + 50)), POLICY, now=NOW)
    assert attempted.last_error is not None and len(attempted.last_error) == MAX_ERROR


def test_a_reader_lists_their_own_and_only_an_admin_another_users() -> None:
    assert whose("u1", is_admin=False, asked=None) == "u1"
    assert whose("u1", is_admin=False, asked="u1") == "u1"
    assert whose("admin", is_admin=True, asked="u2") == "u2"
    with pytest.raises(OthersNotificationsForbidden) as refused:
        whose("u1", is_admin=False, asked="u2")
    assert status_of(refused.value) == 403


def test_someone_elses_notification_is_not_found() -> None:
    refusal = NotificationNotFound("s1", "n1")
    assert status_of(refusal) == 404 and "'n1' of yours in shop 's1'" in refusal.detail
