from dataclasses import dataclass, field

from django.db import transaction

from finances.models import PricingPlan

PlanType = PricingPlan.PlanType

DEFAULT_PRICING_PLANS = [
    {
        "slug": "package-5h",
        "name": "5 hours",
        "plan_type": PlanType.PACKAGE,
        "minutes": 300,
        "price_cents": 7500,
        "validity_days": 30,
        "display_order": 10,
        "description": "5 hours of tutoring, valid for 30 days.",
    },
    {
        "slug": "package-10h",
        "name": "10 hours",
        "plan_type": PlanType.PACKAGE,
        "minutes": 600,
        "price_cents": 14000,
        "validity_days": 45,
        "display_order": 20,
        "is_featured": True,
        "description": "10 hours of tutoring, valid for 45 days.",
    },
    {
        "slug": "package-20h",
        "name": "20 hours",
        "plan_type": PlanType.PACKAGE,
        "minutes": 1200,
        "price_cents": 26000,
        "validity_days": 60,
        "display_order": 30,
        "description": "20 hours of tutoring, valid for 60 days.",
    },
    {
        "slug": "package-40h",
        "name": "40 hours",
        "plan_type": PlanType.PACKAGE,
        "minutes": 2400,
        "price_cents": 48000,
        "validity_days": 90,
        "display_order": 40,
        "description": "40 hours of tutoring, valid for 90 days.",
    },
    {
        "slug": "subscription-15h-monthly",
        "name": "15 hours per month",
        "plan_type": PlanType.SUBSCRIPTION,
        "minutes": 900,
        "price_cents": 11900,
        "billing_period": PricingPlan.BillingPeriod.MONTH,
        "display_order": 50,
        "description": "15 hours of tutoring every month.",
    },
    {
        "slug": "subscription-30h-monthly",
        "name": "30 hours per month",
        "plan_type": PlanType.SUBSCRIPTION,
        "minutes": 1800,
        "price_cents": 19900,
        "billing_period": PricingPlan.BillingPeriod.MONTH,
        "display_order": 60,
        "description": "30 hours of tutoring every month.",
    },
]


@dataclass
class SeedResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def pricing_plans_seed(*, reset_existing: bool = False) -> SeedResult:
    """Creates the default plans that are missing; with `reset_existing`, also puts the
    existing ones back to their defaults. Running it twice changes nothing more."""
    result = SeedResult()
    with transaction.atomic(durable=True):
        for definition in DEFAULT_PRICING_PLANS:
            values = {
                "currency": "EUR",
                "is_featured": False,
                "is_active": True,
                "validity_days": None,
                "billing_period": None,
                **definition,
            }
            slug = values.pop("slug")
            plan = PricingPlan.objects.filter(slug=slug).first()
            if plan is None:
                plan = PricingPlan(slug=slug, **values)
                plan.full_clean()
                plan.save()
                result.created.append(slug)
                continue
            differs = any(getattr(plan, key) != value for key, value in values.items())
            if reset_existing and differs:
                for key, value in values.items():
                    setattr(plan, key, value)
                plan.full_clean()
                plan.save()
                result.updated.append(slug)
            else:
                result.unchanged.append(slug)
    return result
