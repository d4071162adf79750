"""A student's request that a guardian pay for a plan (docs/families.md).

What is asked for (plan, hours, price, currency, terms) is frozen when the student asks;
the guardian pays exactly that, or explicitly accepts the plan's new terms. Every state
change is a `PurchaseRequestEvent` naming who made it.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from finances.models.plans import BillingPeriod, Currency, PricingPlan
from finances.units import cents_to_amount_string, minutes_to_hours_string

FROZEN_FIELDS = (
    "plan_type",
    "plan_name",
    "minutes",
    "amount_cents",
    "currency",
    "validity_days",
    "billing_period",
)


class PurchaseRequest(models.Model):
    class Status(models.TextChoices):
        PENDING = "PENDING", "Pending"
        PAID = "PAID", "Paid"
        DECLINED = "DECLINED", "Declined"
        CANCELLED = "CANCELLED", "Cancelled"
        EXPIRED = "EXPIRED", "Expired"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    student = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="purchase_requests"
    )
    guardian = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="purchase_requests_received",
        help_text="The guardian asked to pay (the only one who may pay or decline).",
    )
    guardian_link = models.ForeignKey(
        "accounts.GuardianStudentLink", on_delete=models.PROTECT, related_name="purchase_requests"
    )
    plan = models.ForeignKey(PricingPlan, on_delete=models.PROTECT, related_name="+")
    plan_type = models.CharField(max_length=16, choices=PricingPlan.PlanType.choices)
    plan_name = models.CharField(max_length=100)
    minutes = models.PositiveIntegerField()
    amount_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, choices=Currency.choices)
    validity_days = models.PositiveIntegerField(null=True, blank=True)
    billing_period = models.CharField(
        max_length=8, choices=BillingPeriod.choices, null=True, blank=True
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    message = models.CharField(max_length=500, blank=True, help_text="From the student.")
    decline_message = models.CharField(max_length=500, blank=True, help_text="From the guardian.")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["student", "-created_at"], name="request_student_recent_idx"),
            models.Index(fields=["guardian", "-created_at"], name="request_guardian_recent_idx"),
            models.Index(
                fields=["expires_at"], condition=Q(status="PENDING"), name="request_pending_idx"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["PENDING", "PAID", "DECLINED", "CANCELLED", "EXPIRED"]),
                name="request_status_valid",
            ),
            models.CheckConstraint(condition=Q(amount_cents__gt=0), name="request_amount_positive"),
            models.CheckConstraint(condition=Q(minutes__gt=0), name="request_minutes_positive"),
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("created_at")),
                name="request_expires_after_creation",
            ),
            models.CheckConstraint(
                condition=Q(status="PENDING", closed_at__isnull=True)
                | (~Q(status="PENDING") & Q(closed_at__isnull=False)),
                name="request_closed_iff_not_pending",
            ),
            models.CheckConstraint(
                condition=~Q(student=models.F("guardian")), name="request_student_is_not_payer"
            ),
            # One open request per plan and link: asking again is a 409, not a second email.
            models.UniqueConstraint(
                fields=["guardian_link", "plan"],
                condition=Q(status="PENDING"),
                name="request_one_pending_per_link_plan",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plan_name} for {self.student_id} ({self.status})"

    @property
    def amount(self) -> str:
        return cents_to_amount_string(self.amount_cents)

    @property
    def hours(self) -> str:
        return minutes_to_hours_string(self.minutes)

    @property
    def is_past_expiry(self) -> bool:
        return self.expires_at <= timezone.now()

    def purchase_snapshot(self) -> dict:
        """The PurchaseTransaction fields of what was asked for (as plan_snapshot)."""
        return {"plan": self.plan, **{name: getattr(self, name) for name in FROZEN_FIELDS}}

    def differs_from_plan(self, plan: PricingPlan) -> bool:
        current = {
            "plan_type": plan.plan_type,
            "plan_name": plan.name,
            "minutes": plan.minutes,
            "amount_cents": plan.price_cents,
            "currency": plan.currency,
            "validity_days": plan.validity_days,
            "billing_period": plan.billing_period,
        }
        # A new name alone is not a new price: only what is sold and what it costs.
        return any(getattr(self, name) != current[name] for name in FROZEN_FIELDS[2:]) or (
            self.plan_type != current["plan_type"]
        )


class PurchaseRequestEvent(models.Model):
    """One state change of a request (or a repricing, or a payment started), and who."""

    class Kind(models.TextChoices):
        CREATED = "CREATED", "Created"
        REPRICED = "REPRICED", "Repriced (confirmed by the guardian)"
        PAYMENT_STARTED = "PAYMENT_STARTED", "Payment started"
        PAID = "PAID", "Paid"
        DECLINED = "DECLINED", "Declined"
        CANCELLED = "CANCELLED", "Cancelled"
        EXPIRED = "EXPIRED", "Expired"

    request = models.ForeignKey(PurchaseRequest, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who did it; empty for the system (expiry).",
    )
    purchase_transaction = models.ForeignKey(
        "finances.PurchaseTransaction",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.request_id}: {self.kind}"
