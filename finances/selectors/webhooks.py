import math
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count
from django.utils import timezone

from finances.models import WebhookEventLog

Status = WebhookEventLog.Status


@dataclass(frozen=True)
class WebhookMetrics:
    window_hours: int
    total: int
    counts_by_status: dict[str, int]
    counts_by_type: dict[str, dict[str, int]]
    success_rate: float | None
    processing_ms_p50: float | None
    processing_ms_p95: float | None
    unfinished_count: int
    oldest_unfinished_event_id: str | None
    oldest_unfinished_received_at: datetime | None
    retryable_count: int
    failed_without_retry_count: int
    slowest_types: list[tuple[str, float]] = field(default_factory=list)


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks (as PostgreSQL's percentile_cont)."""
    if not sorted_values:
        return None
    position = (len(sorted_values) - 1) * fraction
    lower, upper = math.floor(position), math.ceil(position)
    if lower == upper:
        return sorted_values[lower]
    weight = position - lower
    return sorted_values[lower] * (1 - weight) + sorted_values[upper] * weight


def webhook_metrics(*, window_hours: int = 24, now: datetime | None = None) -> WebhookMetrics:
    """Counts, success rate and processing-time percentiles of the events received in the
    window; the backlog (unfinished, retryable) is counted over all time."""
    now = now or timezone.now()
    recent = WebhookEventLog.objects.recent(hours=window_hours, now=now)

    counts_by_status = dict.fromkeys(Status.values, 0)
    counts_by_type: dict[str, dict[str, int]] = {}
    for row in recent.values("event_type", "status").annotate(count=Count("id")):
        counts_by_status[row["status"]] += row["count"]
        counts_by_type.setdefault(row["event_type"], {})[row["status"]] = row["count"]

    succeeded = counts_by_status[Status.PROCESSED] + counts_by_status[Status.IGNORED]
    finished = succeeded + counts_by_status[Status.FAILED]
    durations_by_type: dict[str, list[float]] = {}
    durations = []
    for event_type, duration in recent.filter(
        status__in=[Status.PROCESSED, Status.IGNORED], processing_duration_ms__isnull=False
    ).values_list("event_type", "processing_duration_ms"):
        durations.append(duration)
        durations_by_type.setdefault(event_type, []).append(duration)
    durations.sort()
    slowest = sorted(
        (
            (event_type, percentile(sorted(values), 0.95))
            for event_type, values in durations_by_type.items()
        ),
        key=lambda item: item[1],
        reverse=True,
    )[:5]

    unfinished = WebhookEventLog.objects.unfinished()
    oldest = unfinished.order_by("received_at").values("stripe_event_id", "received_at").first()
    return WebhookMetrics(
        window_hours=window_hours,
        total=sum(counts_by_status.values()),
        counts_by_status=counts_by_status,
        counts_by_type=counts_by_type,
        success_rate=(succeeded / finished) if finished else None,
        processing_ms_p50=percentile(durations, 0.50),
        processing_ms_p95=percentile(durations, 0.95),
        unfinished_count=unfinished.count(),
        oldest_unfinished_event_id=oldest["stripe_event_id"] if oldest else None,
        oldest_unfinished_received_at=oldest["received_at"] if oldest else None,
        retryable_count=WebhookEventLog.objects.retryable(now=now).count(),
        failed_without_retry_count=WebhookEventLog.objects.needing_attention().count(),
        slowest_types=slowest,
    )
