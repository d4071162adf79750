"""Rate limits of POST /api/finances/purchase/initiate/ (10/hour per IP, 5/hour per email)."""

from datetime import UTC, datetime

import pytest
import time_machine
from rest_framework.authtoken.models import Token

from finances.models import PurchaseTransaction
from tests.factories import PricingPlanFactory, UserFactory
from tests.support.purchase_initiation_helpers import INITIATE_URL

pytestmark = pytest.mark.django_db

# Five seconds into an hourly window, so a test never straddles two windows.
WINDOW_START = datetime(2025, 3, 4, 10, 0, 5, tzinfo=UTC)


@pytest.fixture
def limits(settings):
    settings.RATE_LIMITING_ENABLED = True
    settings.RATE_LIMITS = {
        "purchase_initiate_ip": "10/hour",
        "purchase_initiate_email": "5/hour",
    }
    settings.TRUSTED_PROXIES = []
    with time_machine.travel(WINDOW_START, tick=True):
        yield settings


@pytest.fixture
def plan(db):
    return PricingPlanFactory()


def initiate(client, plan, *, email: str, **meta):
    body = {"plan_id": plan.pk, "student_info": {"name": "Ana Silva", "email": email}}
    return client.post(INITIATE_URL, body, format="json", **meta)


def assert_rate_limited(response) -> None:
    assert response.status_code == 429, response.json()
    assert response.json()["error"]["code"] == "rate_limited"
    assert 3500 < int(response["Retry-After"]) <= 3595


def test_the_eleventh_attempt_from_one_ip_is_refused(api_client, localstripe, limits, plan):
    for number in range(10):
        response = initiate(api_client, plan, email=f"s{number}@example.com")
        assert response.status_code == 201, response.json()

    refused = initiate(api_client, plan, email="s10@example.com")

    assert_rate_limited(refused)
    assert PurchaseTransaction.objects.count() == 10
    other_ip = initiate(api_client, plan, email="s11@example.com", REMOTE_ADDR="198.51.100.2")
    assert other_ip.status_code == 201


def test_invalid_attempts_count_against_the_ip_too(api_client, limits, plan):
    for _ in range(10):
        assert api_client.post(INITIATE_URL, {"plan_id": "x"}, format="json").status_code == 400

    assert_rate_limited(initiate(api_client, plan, email="ana@example.com"))
    assert not PurchaseTransaction.objects.exists()


def test_the_sixth_attempt_for_one_email_is_refused_from_any_ip(
    api_client, localstripe, limits, plan
):
    for number in range(5):
        response = initiate(
            api_client, plan, email="ana@example.com", REMOTE_ADDR=f"198.51.100.{number + 1}"
        )
        assert response.status_code == 201, response.json()

    # Another spelling of the same address is the same address.
    refused = initiate(api_client, plan, email=" ANA@Example.com", REMOTE_ADDR="203.0.113.50")

    assert_rate_limited(refused)
    assert PurchaseTransaction.objects.count() == 5


def test_an_authenticated_buyers_own_email_is_limited_too(api_client, localstripe, limits, plan):
    buyer = UserFactory()
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=buyer).key}")
    for number in range(5):
        response = api_client.post(
            INITIATE_URL, {"plan_id": plan.pk}, format="json", REMOTE_ADDR=f"198.51.100.{number}"
        )
        assert response.status_code == 201

    refused = api_client.post(
        INITIATE_URL, {"plan_id": plan.pk}, format="json", REMOTE_ADDR="203.0.113.50"
    )

    assert_rate_limited(refused)


def test_forwarded_for_does_not_evade_the_ip_limit_without_trusted_proxies(
    api_client, localstripe, limits, plan
):
    for number in range(10):
        response = initiate(
            api_client,
            plan,
            email=f"s{number}@example.com",
            HTTP_X_FORWARDED_FOR=f"203.0.113.{number}",
        )
        assert response.status_code == 201

    refused = initiate(
        api_client, plan, email="s10@example.com", HTTP_X_FORWARDED_FOR="203.0.113.99"
    )

    assert_rate_limited(refused)


def test_forwarded_for_from_a_trusted_proxy_identifies_each_client(
    api_client, localstripe, limits, plan
):
    limits.TRUSTED_PROXIES = ["10.0.0.0/8"]
    via_proxy = {"REMOTE_ADDR": "10.0.0.1"}

    # Twelve clients behind one proxy: more than ten, each within its own limit.
    for number in range(12):
        response = initiate(
            api_client,
            plan,
            email=f"c{number}@example.com",
            HTTP_X_FORWARDED_FOR=f"203.0.113.{number}",
            **via_proxy,
        )
        assert response.status_code == 201, response.json()

    # One client behind the proxy is still limited, whatever it writes in front.
    for number in range(10):
        response = initiate(
            api_client,
            plan,
            email=f"d{number}@example.com",
            HTTP_X_FORWARDED_FOR=f"1.2.3.{number}, 198.51.100.77",
            **via_proxy,
        )
        assert response.status_code == 201
    refused = initiate(
        api_client,
        plan,
        email="d10@example.com",
        HTTP_X_FORWARDED_FOR="9.9.9.9, 198.51.100.77",
        **via_proxy,
    )

    assert_rate_limited(refused)


def test_nothing_is_limited_when_rate_limiting_is_disabled(api_client, localstripe, limits, plan):
    limits.RATE_LIMITING_ENABLED = False

    statuses = {initiate(api_client, plan, email="ana@example.com").status_code for _ in range(12)}

    assert statuses == {201}
    assert PurchaseTransaction.objects.count() == 12
