from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

# Unfinished: not PROCESSED/IGNORED, and not FAILED with no retry left (a person's job).
# The one spelling of the predicate, shared by the queryset and its partial index.
UNFINISHED = ~Q(status__in=["PROCESSED", "IGNORED"]) & ~Q(
    status="FAILED", next_retry_at__isnull=True
)


class WebhookEventLogQuerySet(models.QuerySet):
    def failed(self):
        return self.filter(status=WebhookEventLog.Status.FAILED)

    def needing_attention(self):
        """Failed with no automatic retry left (exhausted, flagged, malformed): a person's job."""
        return self.filter(status=WebhookEventLog.Status.FAILED, next_retry_at__isnull=True)

    def unfinished(self):
        """Not yet PROCESSED/IGNORED and still in the machine's hands (not needing a person).

        Written with exactly the predicate of the partial index `webhook_unfinished_idx`, so
        that PostgreSQL proves the index applies: the backlog and its oldest event are read
        from the few unfinished rows, never by walking the finished ones."""
        return self.filter(UNFINISHED)

    def retryable(self, *, now=None):
        """Failed events whose backoff has elapsed, and rows abandoned by a dead worker."""
        now = now or timezone.now()
        stale_before = now - timedelta(seconds=settings.WEBHOOK_STALE_PROCESSING_SECONDS)
        Status = WebhookEventLog.Status
        return self.filter(
            Q(
                status=Status.FAILED,
                retry_count__lt=settings.WEBHOOK_MAX_RETRIES,
                next_retry_at__lte=now,
            )
            | Q(status=Status.RECEIVED, received_at__lte=stale_before)
            | Q(
                status__in=[Status.PROCESSING, Status.RETRYING],
                processing_started_at__lte=stale_before,
            )
        )

    def recent(self, *, hours: int = 24, now=None):
        now = now or timezone.now()
        return self.filter(received_at__gte=now - timedelta(hours=hours))


class WebhookEventLog(models.Model):
    """Every Stripe event we were given, what we did with it, and how long it took."""

    class Status(models.TextChoices):
        RECEIVED = "RECEIVED", "Received"
        PROCESSING = "PROCESSING", "Processing"
        PROCESSED = "PROCESSED", "Processed"
        FAILED = "FAILED", "Failed"
        RETRYING = "RETRYING", "Retrying"
        IGNORED = "IGNORED", "Ignored"

    FINAL_STATUSES = (Status.PROCESSED, Status.IGNORED)

    class Source(models.TextChoices):
        WEBHOOK = "WEBHOOK", "Webhook delivery"
        RECONCILIATION = "RECONCILIATION", "Fetched by reconciliation"

    stripe_event_id = models.CharField(max_length=255)  # unique: see Meta.constraints
    event_type = models.CharField(max_length=100)
    api_version = models.CharField(max_length=32, blank=True)
    livemode = models.BooleanField(default=False)
    stripe_created_at = models.DateTimeField(null=True, blank=True)
    stripe_object_id = models.CharField(max_length=255, blank=True)
    payload = models.JSONField()
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.WEBHOOK)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    error_message = models.TextField(blank=True)
    retry_count = models.PositiveIntegerField(default=0)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    delivery_count = models.PositiveIntegerField(default=1)
    purchase_transaction = models.ForeignKey(
        "finances.PurchaseTransaction",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="webhook_events",
    )
    received_at = models.DateTimeField(default=timezone.now)
    processing_started_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    processing_duration_ms = models.FloatField(null=True, blank=True)

    objects = WebhookEventLogQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at"]
        permissions = [("replay_webhookeventlog", "Can retry processing of webhook events")]
        indexes = [
            models.Index(fields=["status", "next_retry_at"], name="webhook_status_retry_idx"),
            # Serves the admin's ORDER BY received_at DESC, id DESC and the time windows.
            models.Index(fields=["received_at", "id"], name="webhook_received_id_idx"),
            # The backlog: tiny however long the log grows (health, metrics, retries).
            models.Index(
                fields=["received_at"], condition=UNFINISHED, name="webhook_unfinished_idx"
            ),
            models.Index(fields=["stripe_object_id"], name="webhook_object_idx"),
        ]
        constraints = [
            # A constraint rather than unique=True: no unused LIKE index on PostgreSQL.
            models.UniqueConstraint(fields=["stripe_event_id"], name="webhook_event_id_unique"),
            models.CheckConstraint(
                condition=Q(
                    status__in=[
                        "RECEIVED",
                        "PROCESSING",
                        "PROCESSED",
                        "FAILED",
                        "RETRYING",
                        "IGNORED",
                    ]
                ),
                name="webhook_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.stripe_event_id} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES
