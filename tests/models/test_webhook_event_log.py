"""WebhookEventLog querysets (failed, retryable, recent) and the retry backoff."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import IntegrityError, transaction

from finances.models import WebhookEventLog
from finances.services.webhooks import webhook_retry_delay
from tests.factories import WebhookEventLogFactory

pytestmark = pytest.mark.django_db
Status = WebhookEventLog.Status
NOW = datetime(2024, 7, 1, 12, 0, tzinfo=UTC)
STALE = 300  # settings.WEBHOOK_STALE_PROCESSING_SECONDS default


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def failed(**fields):
    return WebhookEventLogFactory(status=Status.FAILED, error_message="boom", **fields)


def ids(queryset) -> set[str]:
    return set(queryset.values_list("stripe_event_id", flat=True))


def test_failed_lists_only_failed_rows():
    first, second = failed(next_retry_at=None), failed(next_retry_at=ago(10))
    for status in (Status.PROCESSED, Status.IGNORED, Status.RECEIVED, Status.PROCESSING):
        WebhookEventLogFactory(status=status)

    assert ids(WebhookEventLog.objects.failed()) == {
        first.stripe_event_id,
        second.stripe_event_id,
    }


class TestRetryable:
    def test_a_failed_row_whose_backoff_has_elapsed_is_retryable(self):
        due = failed(retry_count=0, next_retry_at=ago(1))
        exactly_due = failed(retry_count=4, next_retry_at=NOW)

        assert ids(WebhookEventLog.objects.retryable()) == {
            due.stripe_event_id,
            exactly_due.stripe_event_id,
        }

    def test_a_failed_row_still_backing_off_is_not_retryable_until_its_time(self, frozen):
        row = failed(next_retry_at=NOW + timedelta(minutes=4))

        assert not WebhookEventLog.objects.retryable().exists()
        frozen.shift(timedelta(minutes=4))
        assert ids(WebhookEventLog.objects.retryable()) == {row.stripe_event_id}

    def test_an_explicit_now_is_honoured(self):
        row = failed(next_retry_at=NOW + timedelta(hours=1))

        assert ids(WebhookEventLog.objects.retryable(now=NOW + timedelta(hours=1))) == {
            row.stripe_event_id
        }

    def test_a_row_that_used_up_its_retries_is_not_retryable(self, settings):
        assert settings.WEBHOOK_MAX_RETRIES == 5
        failed(retry_count=5, next_retry_at=ago(3600))
        failed(retry_count=9, next_retry_at=ago(3600))

        assert not WebhookEventLog.objects.retryable().exists()

    def test_a_failed_row_without_a_retry_time_needs_a_person_not_a_retry(self):
        failed(retry_count=0, next_retry_at=None)

        assert not WebhookEventLog.objects.retryable(now=NOW + timedelta(days=365)).exists()

    @pytest.mark.parametrize("status", [Status.PROCESSING, Status.RETRYING])
    def test_a_row_abandoned_while_processing_is_retryable_once_stale(self, status):
        stale = WebhookEventLogFactory(status=status, processing_started_at=ago(STALE + 1))
        at_limit = WebhookEventLogFactory(status=status, processing_started_at=ago(STALE))
        WebhookEventLogFactory(status=status, processing_started_at=ago(STALE - 1))

        assert ids(WebhookEventLog.objects.retryable()) == {
            stale.stripe_event_id,
            at_limit.stripe_event_id,
        }

    def test_a_recorded_row_never_picked_up_is_retryable_once_stale(self):
        stale = WebhookEventLogFactory(status=Status.RECEIVED, received_at=ago(STALE + 1))
        WebhookEventLogFactory(status=Status.RECEIVED, received_at=ago(30))

        assert ids(WebhookEventLog.objects.retryable()) == {stale.stripe_event_id}

    def test_the_stale_threshold_follows_the_setting(self, settings):
        settings.WEBHOOK_STALE_PROCESSING_SECONDS = 30
        row = WebhookEventLogFactory(status=Status.PROCESSING, processing_started_at=ago(31))

        assert ids(WebhookEventLog.objects.retryable()) == {row.stripe_event_id}

    def test_finished_rows_are_never_retryable(self):
        for status in (Status.PROCESSED, Status.IGNORED):
            WebhookEventLogFactory(
                status=status,
                received_at=ago(86400),
                processing_started_at=ago(86400),
                next_retry_at=ago(86400),
            )

        assert not WebhookEventLog.objects.retryable().exists()


class TestRecent:
    def test_recent_covers_the_last_24_hours_by_default(self):
        inside = WebhookEventLogFactory(received_at=ago(86400 - 1))
        boundary = WebhookEventLogFactory(received_at=ago(86400))
        WebhookEventLogFactory(received_at=ago(86400 + 1))

        assert ids(WebhookEventLog.objects.recent()) == {
            inside.stripe_event_id,
            boundary.stripe_event_id,
        }

    def test_recent_takes_a_window_in_hours(self):
        within = WebhookEventLogFactory(received_at=ago(2 * 3600 - 60))
        WebhookEventLogFactory(received_at=ago(2 * 3600 + 60))

        assert ids(WebhookEventLog.objects.recent(hours=2)) == {within.stripe_event_id}

    def test_recent_counts_from_the_current_time(self, frozen):
        row = WebhookEventLogFactory(received_at=NOW)
        frozen.shift(timedelta(hours=3))

        assert ids(WebhookEventLog.objects.recent(hours=3)) == {row.stripe_event_id}
        assert not WebhookEventLog.objects.recent(hours=2).exists()


def test_the_retry_delay_doubles_from_one_minute(settings):
    assert settings.WEBHOOK_RETRY_BACKOFF_SECONDS == 60

    delays = [webhook_retry_delay(count) for count in range(5)]

    assert delays == [timedelta(minutes=minutes) for minutes in (1, 2, 4, 8, 16)]


def test_the_retry_delay_follows_the_configured_base(settings):
    settings.WEBHOOK_RETRY_BACKOFF_SECONDS = 10

    assert webhook_retry_delay(3) == timedelta(seconds=80)


def test_an_event_id_is_recorded_once():
    WebhookEventLogFactory(stripe_event_id="evt_once")

    with pytest.raises(IntegrityError), transaction.atomic():
        WebhookEventLogFactory(stripe_event_id="evt_once")

    assert WebhookEventLog.objects.filter(stripe_event_id="evt_once").count() == 1
