from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from finances.models import PurchaseTransaction, WebhookEventLog
from finances.selectors.disputes import disputes_open_summary
from finances.selectors.row_counts import status_counts
from finances.selectors.schedules import schedule_statuses
from finances.selectors.webhooks import webhook_metrics

Status = WebhookEventLog.Status
_UNFINISHED_EVENT_STATUSES = (Status.RECEIVED, Status.PROCESSING, Status.RETRYING, Status.FAILED)
PurchaseStatus = PurchaseTransaction.Status
_OPEN_PURCHASE_STATUSES = (PurchaseStatus.PENDING, PurchaseStatus.PROCESSING, PurchaseStatus.FAILED)
_CLOSED_PURCHASE_STATUSES = (
    PurchaseStatus.COMPLETED,
    PurchaseStatus.REFUNDED,
    PurchaseStatus.CANCELLED,
)


class _FinancesCollector:
    def collect(self):
        metrics = webhook_metrics(window_hours=24)
        by_status = GaugeMetricFamily(
            "aprende_webhook_events",
            "Webhook events in the log, by status (the finished ones estimated from the "
            "planner's statistics on a large table; see aprende_counts_estimated).",
            labels=["status"],
        )
        events, events_estimated = status_counts(
            queryset=WebhookEventLog.objects.exclude(purchase_transaction__is_test_data=True),
            exact_statuses=_UNFINISHED_EVENT_STATUSES,
            estimated_statuses=WebhookEventLog.FINAL_STATUSES,
        )
        for status, count in sorted(events.items()):
            by_status.add_metric([status], count)
        yield by_status

        recent = GaugeMetricFamily(
            "aprende_webhook_events_last_24h",
            "Webhook events received in the last 24 hours, by type and status.",
            labels=["event_type", "status"],
        )
        for event_type, statuses in metrics.counts_by_type.items():
            for status, count in statuses.items():
                recent.add_metric([event_type, status], count)
        yield recent

        latency = GaugeMetricFamily(
            "aprende_webhook_processing_seconds",
            "Webhook processing time over the last 24 hours.",
            labels=["quantile"],
        )
        for quantile, value in (
            ("0.5", metrics.processing_ms_p50),
            ("0.95", metrics.processing_ms_p95),
        ):
            if value is not None:
                latency.add_metric([quantile], value / 1000)
        yield latency

        if metrics.success_rate is not None:
            yield GaugeMetricFamily(
                "aprende_webhook_success_ratio",
                "Processed or ignored over finished webhook events, last 24 hours.",
                value=metrics.success_rate,
            )
        yield GaugeMetricFamily(
            "aprende_webhook_backlog", "Unfinished webhook events.", value=metrics.unfinished_count
        )
        oldest_age = (
            (timezone.now() - metrics.oldest_unfinished_received_at).total_seconds()
            if metrics.oldest_unfinished_received_at
            else 0.0
        )
        yield GaugeMetricFamily(
            "aprende_webhook_oldest_unfinished_age_seconds",
            "Age of the oldest unfinished webhook event.",
            value=oldest_age,
        )
        purchases = GaugeMetricFamily(
            "aprende_purchases",
            "Purchases by status (the closed ones estimated from the planner's statistics "
            "on a large table; see aprende_counts_estimated).",
            labels=["status"],
        )
        counts, purchases_estimated = status_counts(
            queryset=PurchaseTransaction.objects.exclude(is_test_data=True),
            exact_statuses=_OPEN_PURCHASE_STATUSES,
            estimated_statuses=_CLOSED_PURCHASE_STATUSES,
        )
        for status, count in sorted(counts.items()):
            purchases.add_metric([status], count)
        yield purchases
        estimated = GaugeMetricFamily(
            "aprende_counts_estimated",
            "1 when the table's large statuses are estimates (COUNT_ESTIMATE_MIN_ROWS).",
            labels=["table"],
        )
        estimated.add_metric(["webhook_events"], int(events_estimated))
        estimated.add_metric(["purchases"], int(purchases_estimated))
        yield estimated
        yield GaugeMetricFamily(
            "aprende_purchases_needing_review",
            "Purchases flagged for an operator.",
            value=PurchaseTransaction.objects.filter(needs_review=True)
            .exclude(is_test_data=True)
            .count(),
        )
        yield from _dispute_metrics()


def _dispute_metrics():
    disputes = disputes_open_summary()
    yield GaugeMetricFamily(
        "aprende_disputes_open", "Disputes Stripe has not decided yet.", value=disputes.count
    )
    disputed = GaugeMetricFamily(
        "aprende_disputed_amount_cents",
        "Money in open disputes, by currency.",
        labels=["currency"],
    )
    for currency, cents in disputes.amount_cents_by_currency.items():
        disputed.add_metric([currency], cents)
    yield disputed


class _SchedulesCollector:
    def collect(self):
        last_success = GaugeMetricFamily(
            "aprende_schedule_last_success_timestamp",
            "Unix time of each background schedule's last successful run (absent: none yet).",
            labels=["schedule"],
        )
        overdue = GaugeMetricFamily(
            "aprende_schedule_overdue",
            "1 when a schedule has not succeeded for more than two intervals.",
            labels=["schedule"],
        )
        for status in schedule_statuses():
            if status.last_success_at is not None:
                last_success.add_metric([status.name], status.last_success_at.timestamp())
            overdue.add_metric([status.name], 1 if status.overdue else 0)
        yield last_success
        yield overdue


def prometheus_exposition() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_FinancesCollector())
    registry.register(_SchedulesCollector())
    return generate_latest(registry)
