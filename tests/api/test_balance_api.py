"""GET /api/finances/balance/: the caller's hours, packages with expiry, what expires soon."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from tests.factories import PricingPlanFactory, UserFactory
from tests.support.balance_lot_helpers import lot_consume, lot_paid_at
from tests.support.webhook_pipeline_helpers import assert_error_envelope

pytestmark = pytest.mark.django_db
URL = "/api/finances/balance/"
NOW = datetime(2024, 10, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def student():
    return UserFactory()


@pytest.fixture
def lots(student):
    plan = PricingPlanFactory(name="Pack 10h")
    made = {
        "soon": lot_paid_at(NOW - 42 * DAY, student=student, plan=plan),  # expires in 3 days
        "later": lot_paid_at(NOW - 5 * DAY, student=student, plan=plan),  # expires in 40 days
        "expired": lot_paid_at(NOW - 60 * DAY, student=student, plan=plan),
    }
    lot_consume(made["later"], 50, "lesson-50")
    return made


@pytest.fixture
def client(api_client, student, lots):
    api_client.force_authenticate(student)
    with time_machine.travel(NOW, tick=False):
        yield api_client


def test_an_anonymous_caller_is_not_authenticated(api_client):
    response = api_client.get(URL)

    assert_error_envelope(response, 401, "not_authenticated")
    assert response.headers["WWW-Authenticate"]  # a 401 says how to authenticate


def test_the_balance_shows_hours_as_decimal_strings(client, student, lots):
    body = client.get(URL).json()

    assert body["student_id"] == student.pk
    assert body["hours_available"] == "19.17"  # 600 + 550 minutes of unexpired packages
    assert body["minutes_available"] == 1150
    assert body["totals"] == {
        "hours_purchased": "30.00",
        "hours_consumed": "0.83",
        "hours_refunded": "0.00",
        "hours_expired": "0.00",
        "hours_on_hold": "0.00",
        "hours_remaining": "29.17",
    }


def test_active_packages_come_with_their_expiry_soonest_first(client, lots):
    body = client.get(URL).json()

    packages = body["active_packages"]
    assert [package["transaction_id"] for package in packages] == [
        str(lots["soon"].pk),
        str(lots["later"].pk),
    ]
    soon, later = packages
    assert soon["plan_name"] == "Pack 10h"
    assert soon["plan_type"] == "PACKAGE"
    assert (soon["hours_purchased"], soon["hours_remaining"]) == ("10.00", "10.00")
    assert (later["hours_purchased"], later["hours_remaining"]) == ("10.00", "9.17")
    assert when(soon["paid_at"]) == NOW - 42 * DAY
    assert when(soon["expires_at"]) == NOW + 3 * DAY
    assert when(later["expires_at"]) == NOW + 40 * DAY


def test_upcoming_expirations_default_to_seven_days(client, lots):
    body = client.get(URL).json()

    assert body["expiring_within_days"] == 7
    assert [lot["transaction_id"] for lot in body["upcoming_expirations"]] == [str(lots["soon"].pk)]


@pytest.mark.parametrize(
    ("days", "expected"), [("0", []), ("2", []), ("3", ["soon"]), ("40", ["soon", "later"])]
)
def test_upcoming_expirations_follow_the_query(client, lots, days, expected):
    body = client.get(URL, {"expiring_within_days": days}).json()

    assert body["expiring_within_days"] == int(days)
    assert [lot["transaction_id"] for lot in body["upcoming_expirations"]] == [
        str(lots[name].pk) for name in expected
    ]


@pytest.mark.parametrize("days", ["-1", "367", "soon", "1.5"])
def test_an_invalid_horizon_is_a_validation_error(client, days):
    response = client.get(URL, {"expiring_within_days": days})

    error = assert_error_envelope(response, 400, "validation_error")
    assert "expiring_within_days" in error["fields"]


def test_a_caller_without_purchases_has_an_empty_balance(api_client):
    api_client.force_authenticate(UserFactory())

    body = api_client.get(URL).json()

    assert body["hours_available"] == "0.00"
    assert body["active_packages"] == []
    assert body["upcoming_expirations"] == []
    assert body["totals"]["hours_remaining"] == "0.00"


def test_the_balance_is_the_callers_own(api_client, lots):
    api_client.force_authenticate(UserFactory())

    body = api_client.get(URL).json()

    assert body["minutes_available"] == 0
    assert body["active_packages"] == []
