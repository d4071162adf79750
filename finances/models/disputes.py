from django.db import models
from django.db.models import Q
from django.utils import timezone

from finances.units import cents_to_amount_string, minutes_to_hours_string


class Dispute(models.Model):
    """A chargeback of a purchase's payment, as Stripe last reported it.

    Written only by `finances/services/disputes.py`, under the purchase's row lock. The
    hours it holds or took are ledger entries; `held_minutes` and `lost_minutes` say which
    of them belong to this dispute.
    """

    class Outcome(models.TextChoices):
        OPEN = "OPEN", "Open"
        WON = "WON", "Won (hold released)"
        LOST = "LOST", "Lost (hold final)"

    stripe_dispute_id = models.CharField(max_length=255)  # unique: see Meta.constraints
    purchase = models.ForeignKey(
        "finances.PurchaseTransaction", on_delete=models.PROTECT, related_name="disputes"
    )
    stripe_charge_id = models.CharField(max_length=255, blank=True)
    amount_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    stripe_status = models.CharField(max_length=40, help_text="Stripe's dispute status.")
    outcome = models.CharField(max_length=8, choices=Outcome.choices, default=Outcome.OPEN)
    reason = models.CharField(max_length=100, blank=True)
    evidence_due_by = models.DateTimeField(null=True, blank=True)
    held_minutes = models.PositiveIntegerField(
        default=0, help_text="Minutes of the lot this dispute holds now."
    )
    lost_minutes = models.PositiveIntegerField(
        default=0, help_text="Minutes taken for good when the dispute was lost."
    )
    funds_withdrawn = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["stripe_dispute_id"], name="dispute_stripe_id_unique"),
            models.CheckConstraint(
                condition=Q(outcome__in=["OPEN", "WON", "LOST"]), name="dispute_outcome_valid"
            ),
            models.CheckConstraint(
                condition=Q(outcome="OPEN") | Q(held_minutes=0),
                name="dispute_holds_only_while_open",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stripe_dispute_id} ({self.outcome})"

    @property
    def amount(self) -> str:
        return cents_to_amount_string(self.amount_cents)

    @property
    def held_hours(self) -> str:
        return minutes_to_hours_string(self.held_minutes)
