from django.conf import settings
from django.db import models
from django.utils import timezone


class OperatorAction(models.Model):
    """Who moved money or replayed events, when, on what, and why. Written by the services
    that act (never by hand), read in the admin; `actor` empty means the system (a command
    or a schedule, named in `details["via"]`)."""

    class Action(models.TextChoices):
        REFUND = "REFUND", "Refund at Stripe"
        RECONCILE = "RECONCILE", "Reconcile with Stripe"
        REPLAY = "REPLAY", "Retry webhook processing"
        EXPIRE = "EXPIRE", "Expire abandoned checkouts"

    # PROTECT: an operator who acted is deactivated, not deleted, so the record keeps its name.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="operator_actions",
        help_text="Empty: the system (a command or a schedule).",
    )
    action = models.CharField(max_length=16, choices=Action.choices)
    purchase = models.ForeignKey(
        "finances.PurchaseTransaction",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="operator_actions",
    )
    event = models.ForeignKey(
        "finances.WebhookEventLog",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="operator_actions",
    )
    reason = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True, help_text="What happened; no secrets.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["created_at"], name="operator_action_created_idx")]

    def __str__(self) -> str:
        who = self.actor_id or "system"
        return f"{self.get_action_display()} by {who} at {self.created_at:%Y-%m-%d %H:%M}"
