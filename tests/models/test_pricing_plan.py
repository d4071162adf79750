import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from finances.models import PricingPlan
from tests.factories import PricingPlanFactory, SubscriptionPlanFactory

pytestmark = pytest.mark.django_db

Month = PricingPlan.BillingPeriod.MONTH


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"minutes": 0}, id="no-minutes"),
        pytest.param({"price_cents": 0}, id="free"),
        pytest.param({"currency": "XYZ"}, id="unsupported-currency"),
        pytest.param({"validity_days": None}, id="package-without-validity"),
        pytest.param({"validity_days": 0}, id="package-with-zero-validity"),
        pytest.param({"billing_period": Month}, id="package-with-billing-period"),
        pytest.param({"plan_type": "BUNDLE"}, id="unknown-type"),
    ],
)
def test_the_database_refuses_an_inconsistent_package(overrides):
    with pytest.raises(IntegrityError), transaction.atomic():
        PricingPlanFactory(**overrides)

    assert not PricingPlan.objects.exists()


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"billing_period": None}, id="without-billing-period"),
        pytest.param({"billing_period": "WEEK"}, id="unknown-billing-period"),
        pytest.param({"validity_days": 30}, id="with-validity-days"),
    ],
)
def test_the_database_refuses_an_inconsistent_subscription(overrides):
    with pytest.raises(IntegrityError), transaction.atomic():
        SubscriptionPlanFactory(**overrides)

    assert not PricingPlan.objects.exists()


def test_the_database_refuses_two_plans_with_one_slug():
    PricingPlanFactory(slug="package-10h")

    with pytest.raises(IntegrityError), transaction.atomic():
        PricingPlanFactory(slug="package-10h")


def test_consistent_packages_and_subscriptions_are_stored():
    package = PricingPlanFactory()
    subscription = SubscriptionPlanFactory()

    assert PricingPlan.objects.count() == 2
    package.full_clean()
    subscription.full_clean()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"validity_days": None}, "validity_days"),
        ({"billing_period": Month}, "billing_period"),
    ],
)
def test_clean_explains_what_a_package_is_missing(overrides, field):
    plan = PricingPlanFactory.build(**overrides)

    with pytest.raises(ValidationError) as raised:
        plan.clean()

    assert set(raised.value.message_dict) == {field}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"billing_period": None}, "billing_period"),
        ({"validity_days": 30}, "validity_days"),
    ],
)
def test_clean_explains_what_a_subscription_is_missing(overrides, field):
    plan = SubscriptionPlanFactory.build(**overrides)

    with pytest.raises(ValidationError) as raised:
        plan.clean()

    assert set(raised.value.message_dict) == {field}


@pytest.mark.parametrize(
    ("minutes", "price_cents", "hours", "price"),
    [
        (600, 14000, "10.00", "140.00"),
        (300, 7500, "5.00", "75.00"),
        (90, 1999, "1.50", "19.99"),
        (50, 1, "0.83", "0.01"),
        (1, 100, "0.02", "1.00"),
    ],
)
def test_hours_and_price_are_decimal_strings(minutes, price_cents, hours, price):
    plan = PricingPlanFactory.build(minutes=minutes, price_cents=price_cents)

    assert (plan.hours, plan.price) == (hours, price)


def test_plans_are_ordered_by_display_order_then_creation():
    third = PricingPlanFactory(display_order=20)
    first = PricingPlanFactory(display_order=10)
    second = PricingPlanFactory(display_order=10)

    assert list(PricingPlan.objects.all()) == [first, second, third]
