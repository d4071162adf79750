from io import StringIO

import pytest
from django.core.management import call_command

from finances.models import PricingPlan
from tests.factories import PricingPlanFactory

pytestmark = pytest.mark.django_db

# (name, type, hours, price, validity days, billing period, featured) from the spec.
SPEC_PLANS = [
    ("5 hours", "PACKAGE", "5.00", "75.00", 30, None, False),
    ("10 hours", "PACKAGE", "10.00", "140.00", 45, None, True),
    ("20 hours", "PACKAGE", "20.00", "260.00", 60, None, False),
    ("40 hours", "PACKAGE", "40.00", "480.00", 90, None, False),
    ("15 hours per month", "SUBSCRIPTION", "15.00", "119.00", None, "MONTH", False),
    ("30 hours per month", "SUBSCRIPTION", "30.00", "199.00", None, "MONTH", False),
]


def seed(*args) -> str:
    output = StringIO()
    call_command("seed_pricing_plans", *args, stdout=output)
    return output.getvalue()


def plan_terms() -> list[tuple]:
    return [
        (
            plan.name,
            plan.plan_type,
            plan.hours,
            plan.price,
            plan.validity_days,
            plan.billing_period,
            plan.is_featured,
        )
        for plan in PricingPlan.objects.order_by("display_order")
    ]


def test_seeding_creates_the_six_default_plans_of_the_spec():
    output = seed()

    assert plan_terms() == SPEC_PLANS
    assert set(PricingPlan.objects.values_list("currency", flat=True)) == {"EUR"}
    assert all(PricingPlan.objects.values_list("is_active", flat=True))
    assert "6 created, 0 reset, 0 unchanged" in output
    for plan in PricingPlan.objects.all():
        plan.full_clean()


def test_seeding_twice_changes_nothing():
    seed()
    before = list(PricingPlan.objects.order_by("pk").values())

    output = seed()

    assert list(PricingPlan.objects.order_by("pk").values()) == before
    assert "0 created, 0 reset, 6 unchanged" in output


def test_an_operators_edit_survives_a_plain_reseed():
    seed()
    PricingPlan.objects.filter(slug="package-10h").update(price_cents=15000, is_featured=False)
    PricingPlan.objects.filter(slug="package-5h").update(is_active=False)

    seed()

    edited = PricingPlan.objects.get(slug="package-10h")
    assert (edited.price, edited.is_featured) == ("150.00", False)
    assert not PricingPlan.objects.get(slug="package-5h").is_active


def test_reset_existing_restores_an_edited_default_plan():
    seed()
    original = PricingPlan.objects.get(slug="package-10h")
    PricingPlan.objects.filter(pk=original.pk).update(
        price_cents=99, minutes=1, name="Cheap", is_active=False, validity_days=1
    )

    output = seed("--reset-existing")

    restored = PricingPlan.objects.get(slug="package-10h")
    assert restored.pk == original.pk
    assert (restored.name, restored.price, restored.hours, restored.validity_days) == (
        "10 hours",
        "140.00",
        "10.00",
        45,
    )
    assert restored.is_active
    assert plan_terms() == SPEC_PLANS
    assert "0 created, 1 reset, 5 unchanged" in output


def test_a_deleted_default_plan_is_created_again():
    seed()
    PricingPlan.objects.filter(slug="package-40h").delete()

    output = seed()

    assert plan_terms() == SPEC_PLANS
    assert "1 created, 0 reset, 5 unchanged" in output


def test_plans_of_the_operator_are_left_alone_even_by_a_reset():
    own = PricingPlanFactory(slug="summer-special", name="Summer", price_cents=9900)

    seed("--reset-existing")

    own.refresh_from_db()
    assert (own.name, own.price_cents, own.is_active) == ("Summer", 9900, True)
    assert PricingPlan.objects.count() == 7
