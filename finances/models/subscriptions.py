"""Stripe Billing subscriptions (issue 12): the payer's Stripe Customer, the subscription,
one row per paid invoice (its period and its grant), and the status history."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class StripeCustomer(models.Model):
    """The Stripe Customer of one payer (a student, or the guardian who pays)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="stripe_customer"
    )
    stripe_customer_id = models.CharField(max_length=255)
    livemode = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_customer_id"], name="stripe_customer_id_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stripe_customer_id} ({self.user_id})"


class Subscription(models.Model):
    """A plan that renews through Stripe Billing; kept in step with Stripe by the
    `customer.subscription.*` and `invoice.*` webhooks and by reconciliation."""

    class Status(models.TextChoices):
        INCOMPLETE = "INCOMPLETE", "Incomplete"
        ACTIVE = "ACTIVE", "Active"
        PAST_DUE = "PAST_DUE", "Past due"
        UNPAID = "UNPAID", "Unpaid"
        CANCELED = "CANCELED", "Canceled"
        INCOMPLETE_EXPIRED = "INCOMPLETE_EXPIRED", "Incomplete, expired"

    FINAL_STATUSES = (Status.CANCELED, Status.INCOMPLETE_EXPIRED)
    # Statuses in which a paid invoice still grants its period (UNPAID and CANCELED stop).
    GRANTING_STATUSES = (Status.INCOMPLETE, Status.ACTIVE, Status.PAST_DUE)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    student = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="subscriptions"
    )
    payer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="subscriptions_paid",
        help_text="Whose Stripe Customer pays: the student, or a guardian.",
    )
    guardian_link = models.ForeignKey(
        "accounts.GuardianStudentLink",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="subscriptions",
    )
    plan = models.ForeignKey(
        "finances.PricingPlan",
        on_delete=models.PROTECT,
        related_name="subscriptions",
        help_text="The plan Stripe bills at the next renewal.",
    )
    scheduled_plan = models.ForeignKey(
        "finances.PricingPlan",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="A plan change waiting for the next paid period.",
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.INCOMPLETE)
    stripe_subscription_id = models.CharField(max_length=255, null=True, blank=True)
    stripe_customer_id = models.CharField(max_length=255, blank=True)
    latest_invoice_id = models.CharField(max_length=255, blank=True)
    livemode = models.BooleanField(default=False)
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    canceled_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # When the Stripe state stored here was true (its event's `created`, or the time it was
    # read): an older event never overwrites a newer state.
    stripe_state_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.TextField(blank=True)
    needs_review = models.BooleanField(default=False)
    review_reason = models.TextField(blank=True)
    last_reconciled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("cancel_subscription", "Can cancel and resume subscriptions at Stripe"),
        ]
        indexes = [
            models.Index(fields=["student", "-created_at"], name="subscription_student_idx"),
            models.Index(fields=["payer", "-created_at"], name="subscription_payer_idx"),
            models.Index(
                fields=["last_reconciled_at"],
                condition=~Q(status__in=["CANCELED", "INCOMPLETE_EXPIRED"]),
                name="subscription_open_idx",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_subscription_id"], name="subscription_stripe_id_unique"
            ),
            # One open subscription per student: two concurrent "subscribe" requests (a
            # double click, two tabs, a guardian and the student) can never both reach
            # Stripe and charge twice. Statuses only move forward, so a row enters this
            # set only when it is inserted (INCOMPLETE), never by a later webhook.
            models.UniqueConstraint(
                fields=["student"],
                condition=~Q(status__in=["CANCELED", "INCOMPLETE_EXPIRED"]),
                name="subscription_one_open_per_student",
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=[
                        "INCOMPLETE",
                        "ACTIVE",
                        "PAST_DUE",
                        "UNPAID",
                        "CANCELED",
                        "INCOMPLETE_EXPIRED",
                    ]
                ),
                name="subscription_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(current_period_end__isnull=True)
                | Q(
                    current_period_start__isnull=False,
                    current_period_end__gt=F("current_period_start"),
                ),
                name="subscription_period_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plan} for {self.student_id} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES


class SubscriptionPeriod(models.Model):
    """One paid invoice of a subscription: its period and the purchase that granted it.

    The invoice id is unique, so an invoice grants once whichever event (invoice.paid,
    invoice.payment_succeeded, reconciliation) reports it first. A paid invoice that does
    not match its plan is recorded without a purchase, flagged, and credits nothing."""

    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="periods")
    stripe_invoice_id = models.CharField(max_length=255)
    purchase = models.OneToOneField(
        "finances.PurchaseTransaction",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="subscription_period",
    )
    plan = models.ForeignKey("finances.PricingPlan", on_delete=models.PROTECT, related_name="+")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    period_advanced_locally = models.BooleanField(
        default=False,
        help_text="Stripe reported a period that did not advance (localstripe): this one "
        "was advanced by one plan interval from the last grant.",
    )
    amount_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True)
    stripe_charge_id = models.CharField(max_length=255, blank=True)
    billing_reason = models.CharField(max_length=64, blank=True)
    needs_review = models.BooleanField(default=False)
    review_reason = models.TextField(blank=True)
    source_event_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-period_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_invoice_id"], name="subscription_period_invoice_unique"
            ),
            models.CheckConstraint(
                condition=Q(period_end__gt=F("period_start")),
                name="subscription_period_end_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stripe_invoice_id}: {self.period_start:%Y-%m-%d}"


class SubscriptionStatusChange(models.Model):
    """The status history: what changed, because of which event, or who did it."""

    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="status_changes"
    )
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    cancel_at_period_end = models.BooleanField(default=False)
    source = models.CharField(
        max_length=32, help_text="webhook, api, admin, reconciliation or refresh."
    )
    stripe_event_id = models.CharField(max_length=255, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.from_status or '∅'} → {self.to_status} ({self.source})"
