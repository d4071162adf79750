from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from finances.units import add_days, add_months, cents_to_amount_string, minutes_to_hours_string


class Currency(models.TextChoices):
    """Currencies with two decimal places (amounts are stored in cents)."""

    EUR = "EUR", "Euro"
    USD = "USD", "US dollar"
    GBP = "GBP", "Pound sterling"
    BRL = "BRL", "Brazilian real"


class BillingPeriod(models.TextChoices):
    MONTH = "MONTH", "Monthly"
    YEAR = "YEAR", "Yearly"


BILLING_PERIOD_MONTHS = {BillingPeriod.MONTH: 1, BillingPeriod.YEAR: 12}


def hours_expiry(*, plan_type: str, paid_at, validity_days: int | None, billing_period: str | None):
    """When hours bought at `paid_at` expire: packages after their validity, subscriptions
    at the end of the billing period they pay for."""
    if plan_type == PricingPlan.PlanType.PACKAGE:
        return add_days(paid_at, validity_days)
    return add_months(paid_at, BILLING_PERIOD_MONTHS[billing_period])


class PricingPlan(models.Model):
    class PlanType(models.TextChoices):
        PACKAGE = "PACKAGE", "Package"
        SUBSCRIPTION = "SUBSCRIPTION", "Subscription"

    BillingPeriod = BillingPeriod

    slug = models.SlugField(unique=True, help_text="Stable identifier used by seeding.")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    plan_type = models.CharField(max_length=16, choices=PlanType.choices)
    minutes = models.PositiveIntegerField(help_text="Hours sold, in minutes.")
    price_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.EUR)
    validity_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Packages: days the hours stay usable after payment."
    )
    billing_period = models.CharField(
        max_length=8,
        choices=BillingPeriod.choices,
        null=True,
        blank=True,
        help_text="Subscriptions: the period each payment covers.",
    )
    rollover_periods = models.PositiveSmallIntegerField(
        default=0,
        help_text="Subscriptions: further billing periods a period's hours stay usable.",
    )
    # Stripe Billing (subscriptions): created lazily, with deterministic ids.
    stripe_product_id = models.CharField(max_length=255, blank=True)
    stripe_plan_id = models.CharField(
        max_length=255, blank=True, help_text="The Stripe Plan (usable as a Price) billed."
    )
    display_order = models.PositiveIntegerField(default=0)
    is_featured = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["display_order", "id"]
        indexes = [
            models.Index(fields=["is_active", "display_order"], name="plan_active_order_idx")
        ]
        constraints = [
            models.CheckConstraint(condition=Q(minutes__gt=0), name="plan_minutes_positive"),
            models.CheckConstraint(condition=Q(price_cents__gt=0), name="plan_price_positive"),
            models.CheckConstraint(
                condition=Q(currency__in=Currency.values), name="plan_currency_supported"
            ),
            models.CheckConstraint(
                condition=(
                    # isnull=False: a comparison with NULL is NULL, which a CHECK accepts.
                    Q(
                        plan_type="PACKAGE",
                        validity_days__isnull=False,
                        validity_days__gt=0,
                        billing_period__isnull=True,
                    )
                    | Q(
                        plan_type="SUBSCRIPTION",
                        validity_days__isnull=True,
                        billing_period__isnull=False,
                        billing_period__in=BillingPeriod.values,
                    )
                ),
                name="plan_type_terms_consistent",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def hours(self) -> str:
        return minutes_to_hours_string(self.minutes)

    @property
    def price(self) -> str:
        return cents_to_amount_string(self.price_cents)

    def clean(self) -> None:
        super().clean()
        if self.plan_type == self.PlanType.PACKAGE:
            if not self.validity_days:
                raise ValidationError({"validity_days": "A package needs its validity in days."})
            if self.billing_period:
                raise ValidationError({"billing_period": "Packages have no billing period."})
        elif self.plan_type == self.PlanType.SUBSCRIPTION:
            if not self.billing_period:
                raise ValidationError({"billing_period": "A subscription needs a billing period."})
            if self.validity_days:
                raise ValidationError(
                    {"validity_days": "Subscription hours follow the billing period."}
                )
