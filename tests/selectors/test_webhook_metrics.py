"""webhook_metrics: counts, success rate and timing percentiles over a window, plus backlog."""

import statistics
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from finances.models import WebhookEventLog
from finances.selectors.webhooks import webhook_metrics
from tests.factories import WebhookEventLogFactory

pytestmark = pytest.mark.django_db
Status = WebhookEventLog.Status
NOW = datetime(2024, 8, 15, 9, 0, tzinfo=UTC)
SUCCEEDED, REFUNDED, OTHER = "payment_intent.succeeded", "charge.refunded", "customer.created"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def row(event_type, status, *, hours_ago=1.0, duration_ms=None, **fields):
    return WebhookEventLogFactory(
        event_type=event_type,
        status=status,
        received_at=NOW - timedelta(hours=hours_ago),
        processing_duration_ms=duration_ms,
        **fields,
    )


def independent_percentile(values, percent):
    """Linear interpolation between closest ranks, computed by the standard library."""
    return statistics.quantiles(sorted(values), n=100, method="inclusive")[percent - 1]


@pytest.fixture
def events():
    """Rows in the window, and older ones that only count towards the backlog."""
    made = {
        "succeeded": [row(SUCCEEDED, Status.PROCESSED, duration_ms=ms) for ms in (40, 10, 30, 20)],
        "refunded": [row(REFUNDED, Status.PROCESSED, duration_ms=ms) for ms in (100, 50)],
        "ignored": row(OTHER, Status.IGNORED, duration_ms=5),
        "failed_due": row(
            SUCCEEDED, Status.FAILED, hours_ago=3, duration_ms=999,
            next_retry_at=NOW - timedelta(minutes=1), retry_count=1,
        ),
        "failed_flagged": row(SUCCEEDED, Status.FAILED, duration_ms=7, next_retry_at=None),
        "processing": row(
            REFUNDED, Status.PROCESSING, hours_ago=0.01,
            processing_started_at=NOW - timedelta(seconds=30),
        ),
        "old_processed": row(SUCCEEDED, Status.PROCESSED, hours_ago=25, duration_ms=100_000),
        "old_failed_due": row(
            REFUNDED, Status.FAILED, hours_ago=30, next_retry_at=NOW - timedelta(hours=1),
        ),
    }  # fmt: skip
    return made


def test_counts_by_status_cover_the_window_only(events):
    metrics = webhook_metrics()

    assert metrics.window_hours == 24
    assert metrics.counts_by_status == {
        Status.RECEIVED: 0,
        Status.PROCESSING: 1,
        Status.PROCESSED: 6,
        Status.FAILED: 2,
        Status.RETRYING: 0,
        Status.IGNORED: 1,
    }
    assert metrics.total == 10


def test_counts_by_type_split_each_type_by_status(events):
    metrics = webhook_metrics()

    assert metrics.counts_by_type == {
        SUCCEEDED: {Status.PROCESSED: 4, Status.FAILED: 2},
        REFUNDED: {Status.PROCESSED: 2, Status.PROCESSING: 1},
        OTHER: {Status.IGNORED: 1},
    }


def test_the_success_rate_is_finished_successes_over_finished_events(events):
    # 6 processed + 1 ignored succeeded; 2 failed; the one still processing is not finished.
    assert webhook_metrics().success_rate == pytest.approx(7 / 9)


def test_percentiles_are_over_successful_events_of_the_window(events):
    durations = [40, 10, 30, 20, 100, 50, 5]  # processed and ignored, in the window

    metrics = webhook_metrics()

    assert metrics.processing_ms_p50 == pytest.approx(independent_percentile(durations, 50))
    assert metrics.processing_ms_p95 == pytest.approx(independent_percentile(durations, 95))
    assert (metrics.processing_ms_p50, metrics.processing_ms_p95) == (
        pytest.approx(30),
        pytest.approx(85),
    )


def test_the_slowest_types_are_ranked_by_their_p95(events):
    slowest = webhook_metrics().slowest_types

    assert [event_type for event_type, _ in slowest] == [REFUNDED, SUCCEEDED, OTHER]
    assert [p95 for _, p95 in slowest] == [
        pytest.approx(independent_percentile([100, 50], 95)),
        pytest.approx(independent_percentile([40, 10, 30, 20], 95)),
        pytest.approx(5),
    ]


def test_the_backlog_is_counted_over_all_time(events):
    metrics = webhook_metrics()

    # Unfinished: the two failures due a retry (one outside the window) and the one in flight.
    assert metrics.unfinished_count == 3
    assert metrics.oldest_unfinished_event_id == events["old_failed_due"].stripe_event_id
    assert metrics.oldest_unfinished_received_at == NOW - timedelta(hours=30)
    assert metrics.retryable_count == 2
    assert metrics.failed_without_retry_count == 1


def test_a_narrower_window_leaves_out_older_rows(events):
    metrics = webhook_metrics(window_hours=2)

    assert metrics.counts_by_status[Status.FAILED] == 1  # the 3-hour-old failure is out
    assert metrics.total == 9
    assert metrics.success_rate == pytest.approx(7 / 8)
    assert metrics.retryable_count == 2  # the backlog does not depend on the window


def test_a_stale_processing_row_counts_as_retryable(events, frozen):
    frozen.shift(timedelta(minutes=10))

    assert webhook_metrics().retryable_count == 3


def test_with_no_events_there_is_nothing_to_rate():
    metrics = webhook_metrics()

    assert metrics.total == 0
    assert set(metrics.counts_by_status.values()) == {0}
    assert metrics.counts_by_type == {}
    assert metrics.success_rate is None
    assert (metrics.processing_ms_p50, metrics.processing_ms_p95) == (None, None)
    assert (metrics.unfinished_count, metrics.oldest_unfinished_event_id) == (0, None)
    assert metrics.retryable_count == 0


def test_a_single_duration_is_every_percentile():
    row(SUCCEEDED, Status.PROCESSED, duration_ms=12.5)

    metrics = webhook_metrics()

    assert (metrics.processing_ms_p50, metrics.processing_ms_p95) == (12.5, 12.5)
    assert metrics.success_rate == 1.0
