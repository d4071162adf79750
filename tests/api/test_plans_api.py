import pytest

from tests.factories import PricingPlanFactory, SubscriptionPlanFactory, UserFactory

pytestmark = pytest.mark.django_db

PLANS_URL = "/api/finances/plans/"


def test_anyone_can_list_the_active_plans(api_client):
    plan = PricingPlanFactory()

    response = api_client.get(PLANS_URL)

    assert response.status_code == 200
    assert [item["id"] for item in response.json()] == [plan.pk]


def test_a_logged_in_user_sees_the_same_list(api_client):
    PricingPlanFactory()
    anonymous = api_client.get(PLANS_URL).json()
    api_client.force_authenticate(UserFactory())

    assert api_client.get(PLANS_URL).json() == anonymous


def test_inactive_plans_are_not_listed(api_client):
    active = PricingPlanFactory()
    PricingPlanFactory(is_active=False)

    response = api_client.get(PLANS_URL)

    assert [item["slug"] for item in response.json()] == [active.slug]


def test_plans_are_listed_by_display_order_then_age(api_client):
    last = PricingPlanFactory(display_order=30)
    first = SubscriptionPlanFactory(display_order=10)
    second = PricingPlanFactory(display_order=10)

    response = api_client.get(PLANS_URL)

    assert [item["id"] for item in response.json()] == [first.pk, second.pk, last.pk]


def test_a_package_is_described_with_hours_and_price_as_decimal_strings(api_client):
    plan = PricingPlanFactory(
        slug="package-10h",
        name="10 hours",
        description="Ten hours.",
        minutes=600,
        price_cents=14000,
        validity_days=45,
        is_featured=True,
        display_order=20,
    )

    (item,) = api_client.get(PLANS_URL).json()

    assert item == {
        "id": plan.pk,
        "slug": "package-10h",
        "name": "10 hours",
        "description": "Ten hours.",
        "plan_type": "PACKAGE",
        "hours": "10.00",
        "price": "140.00",
        "currency": "EUR",
        "validity_days": 45,
        "billing_period": None,
        "is_featured": True,
        "display_order": 20,
    }


def test_a_subscription_has_a_billing_period_and_no_validity(api_client):
    SubscriptionPlanFactory(minutes=90, price_cents=11950)

    (item,) = api_client.get(PLANS_URL).json()

    assert (item["plan_type"], item["billing_period"], item["validity_days"]) == (
        "SUBSCRIPTION",
        "MONTH",
        None,
    )
    assert (item["hours"], item["price"]) == ("1.50", "119.50")


def test_no_plans_is_an_empty_list(api_client):
    response = api_client.get(PLANS_URL)

    assert response.status_code == 200
    assert response.json() == []
