from django.db import models


class Notification(models.Model):
    """One message to one recipient about one object, sent at most once.

    The unique key (kind, object_key, recipient_email) makes enqueueing idempotent: the
    same reminder for the same lot and recipient is one row, whatever runs twice.
    """

    class Status(models.TextChoices):
        PENDING = "PENDING", "Pending"
        SENDING = "SENDING", "Sending"
        SENT = "SENT", "Sent"
        FAILED = "FAILED", "Failed (retried after its backoff)"
        ABANDONED = "ABANDONED", "Abandoned (no retries left)"

    kind = models.CharField(max_length=64)
    object_key = models.CharField(max_length=200, help_text="What it is about, e.g. purchase:<id>.")
    recipient_email = models.EmailField()
    language = models.CharField(max_length=8, default="pt-pt")
    context = models.JSONField(default=dict, blank=True, help_text="Ids and numbers only.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    attempt_started_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "object_key", "recipient_email"],
                name="notification_once_per_kind_object_recipient",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="SENT") | models.Q(sent_at__isnull=False),
                name="notification_sent_has_sent_at",
            ),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="notification_due_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_key} → {self.recipient_email}"
